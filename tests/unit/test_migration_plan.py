"""The migration plan: computed from a snapshot of a (fake) source cluster and the target's facts."""

from __future__ import annotations

from tests.fakes import FakeClusterPort, FakeGroup
from topicdesk.domain.acls import bindings_for
from topicdesk.domain.migration_plan import (
    SourceSnapshot,
    TargetFacts,
    plan_migration,
    refuse_topic,
    select_topics,
)
from topicdesk.domain.model import Access, AccessGrant, DesiredTopic, PatternType
from topicdesk.services.cluster_port import ScramCredential

WRITER, READER, BILLING = "User:payments.writer", "User:payments.reader", "User:billing.reader"


def legacy() -> FakeClusterPort:
    """A 3-broker monolith with two payments topics, one billing topic, grants and consumer groups."""
    port = FakeClusterPort(brokers=3)
    port.create_topics([
        DesiredTopic("payments.invoices.v1", 6, 3, {"retention.ms": "604800000", "min.insync.replicas": "2"}),
        DesiredTopic("payments.refunds.v1", 2, 1, {"cleanup.policy": "compact"}),
        DesiredTopic("billing.statements.v1", 3, 3, {}),
    ])
    grants = [AccessGrant(WRITER, "payments.invoices.v1", Access.PRODUCE),
              AccessGrant(READER, "payments.invoices.v1", Access.CONSUME, group="payments.invoice-readers"),
              AccessGrant(BILLING, "payments.invoices.v1", Access.CONSUME, group="billing.invoice-readers"),
              AccessGrant(BILLING, "billing.statements.v1", Access.CONSUME, group="billing.statement-readers")]
    port.create_acls([b for g in grants for b in bindings_for(g)])
    port.end_offsets.update({("payments.invoices.v1", p): 100 for p in range(6)})
    port.groups["payments.invoice-readers"] = FakeGroup({("payments.invoices.v1", p): 90 for p in range(6)}, members=2)
    port.groups["billing.invoice-readers"] = FakeGroup({("payments.invoices.v1", 0): 100})
    port.groups["billing.statement-readers"] = FakeGroup({("billing.statements.v1", 0): 5}, members=1)
    return port


def snapshot(port: FakeClusterPort, names: list[str] | None = None) -> SourceSnapshot:
    observed = port.describe(names)
    return SourceSnapshot("legacy-monolith", "legacy:9092", observed.topics, observed.acls,
                          port.usage_evidence(observed.topics))


TARGET = TargetFacts("payments-dev", "payments", "payments-dev:9092", broker_count=1, partition_budget=1000,
                     partitions_used=10, scram_users=frozenset({WRITER}))


def test_target_topics_keep_partitions_and_configs_and_adjust_to_the_target_brokers() -> None:
    plan = plan_migration(snapshot(legacy()), TARGET, topics=["payments.invoices.v1", "payments.refunds.v1"])
    invoices, refunds = plan.topics
    assert (invoices.name, invoices.partitions, invoices.replication_factor) == ("payments.invoices.v1", 6, 1)
    assert invoices.config == {"retention.ms": "604800000", "min.insync.replicas": "1"}
    assert [(a.field, a.source, a.target) for a in invoices.adjustments] == [
        ("replication_factor", 3, 1), ("config.min.insync.replicas", "2", "1")]
    assert "1 broker(s)" in invoices.adjustments[0].reason
    assert (refunds.partitions, refunds.replication_factor, dict(refunds.config), refunds.adjustments) == (
        2, 1, {"cleanup.policy": "compact"}, ())
    assert plan.refused_topics == ()
    assert plan.missing_topics == ()
    assert plan.conflicting_topics == ()


def test_grants_service_accounts_groups_and_team_changes_come_from_the_source() -> None:
    plan = plan_migration(snapshot(legacy()), TARGET, topics=["payments.invoices.v1"])
    assert set(plan.grants) == {
        AccessGrant(WRITER, "payments.invoices.v1", Access.PRODUCE),
        AccessGrant(READER, "payments.invoices.v1", Access.CONSUME, group="payments.invoice-readers"),
        AccessGrant(BILLING, "payments.invoices.v1", Access.CONSUME, group="billing.invoice-readers")}
    # billing.reader's group on another topic is not dragged along.
    assert all(g.group != "billing.statement-readers" for g in plan.grants)
    assert [(s.principal, s.exists_on_target) for s in plan.service_accounts] == [
        (BILLING, False), (READER, False), (WRITER, True)]
    groups = {g.group: g for g in plan.consumer_groups}
    assert set(groups) == {"payments.invoice-readers", "billing.invoice-readers"}
    assert (groups["payments.invoice-readers"].members, groups["payments.invoice-readers"].lag) == (2, 60)
    assert groups["billing.invoice-readers"].team == "billing"
    changes = {c["team"]: c for c in plan.team_changes}
    assert set(changes) == {"billing", "payments"}
    assert changes["billing"]["consumer_groups"] == ["billing.invoice-readers"]
    assert changes["billing"]["change"][0] == "bootstrap servers: legacy:9092 -> payments-dev:9092"
    assert "User:billing.reader" in changes["billing"]["change"][1]
    as_dict = plan.to_dict()
    assert as_dict["grants"][0] == {"topic": "payments.invoices.v1", "principal": BILLING, "access": "consume",
                                    "group": "billing.invoice-readers"}


def test_a_prefixed_group_acl_stays_prefixed_in_the_plan() -> None:
    """A reader allowed every group under a prefix on the source gets the same prefix on the target, not
    a literal group of the prefix's name (which no consumer uses)."""
    port = legacy()
    analytics = AccessGrant("User:analytics.reader", "payments.refunds.v1", Access.CONSUME, group="analytics.",
                            group_pattern=PatternType.PREFIXED)
    port.create_acls(sorted(bindings_for(analytics)))
    port.groups["analytics.refunds-job"] = FakeGroup({("payments.refunds.v1", 0): 1})
    plan = plan_migration(snapshot(port), TARGET, topics=["payments.refunds.v1"])
    assert plan.grants == (analytics,)
    assert plan.to_dict()["grants"] == [{"topic": "payments.refunds.v1", "principal": "User:analytics.reader",
                                         "access": "consume", "group": "analytics.", "group_pattern": "prefixed"}]


def test_a_prefix_selects_topics_and_named_groups_without_commits_are_added() -> None:
    plan = plan_migration(snapshot(legacy()), TARGET, prefix="payments.", consumer_groups=["payments.new-readers"])
    assert [t.name for t in plan.topics] == ["payments.invoices.v1", "payments.refunds.v1"]
    added = [g for g in plan.consumer_groups if not g.discovered]
    assert [(g.group, g.topics) for g in added] == [("payments.new-readers", ())]
    assert "auto.offset.reset" in plan.notes[0]


def test_missing_conflicting_and_over_budget_topics_are_named() -> None:
    target = TargetFacts("payments-dev", "payments", "t:9092", broker_count=1, partition_budget=15, partitions_used=10,
                         existing_topics=frozenset({"payments.refunds.v1"}))
    plan = plan_migration(snapshot(legacy()), target,
                          topics=["payments.invoices.v1", "payments.refunds.v1", "payments.nope"])
    assert plan.missing_topics == ("payments.nope",)
    assert plan.conflicting_topics == ("payments.refunds.v1",)
    assert plan.refused_topics == ("payments.invoices.v1", "payments.refunds.v1")
    invoices = plan.topics[0]
    assert invoices.refusals == ("6 partitions would take payments-dev to 16 of its budget of 15",)
    assert "already has a topic named payments.refunds.v1" in plan.topics[1].refusals[0]


def test_refuse_topic_adds_the_target_policy_reasons() -> None:
    plan = plan_migration(snapshot(legacy()), TARGET, topics=["payments.refunds.v1"])
    refused = refuse_topic(plan, "payments.refunds.v1", ["cleanup.policy compact is not allowed here"])
    assert refused.refused_topics == ("payments.refunds.v1",)
    assert refused.to_dict()["topics"][0]["refusals"] == ["cleanup.policy compact is not allowed here"]
    assert plan.refused_topics == ()  # the original plan is unchanged


def test_select_topics() -> None:
    assert select_topics({"a.x", "a.y", "b.z"}, None, "a.") == (["a.x", "a.y"], [])
    assert select_topics({"a.x"}, ["a.x", "a.q"], None) == (["a.x"], ["a.q"])


def test_the_fake_answers_the_snapshot_in_bulk() -> None:
    port = legacy()
    port.scram_users[WRITER] = ScramCredential(WRITER, "pw")
    snap = snapshot(port, ["payments.invoices.v1"])
    assert set(snap.topics) == {"payments.invoices.v1"}
    assert snap.evidence["payments.invoices.v1"].partitions == 6
