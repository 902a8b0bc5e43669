"""The planner, read-back check, drift and unmanaged listing: pure functions on plain values."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from topicdesk.domain.acls import AclBinding, AclOperation, ResourceType, bindings_for, grant_key
from topicdesk.domain.drift import DriftKind, drift, unmanaged
from topicdesk.domain.model import Access, AccessGrant, ClientQuota, DesiredTopic, PatternType, ServiceAccount
from topicdesk.domain.plan import (
    Change,
    ChangeKind,
    Deletions,
    DesiredState,
    InconsistentDesiredState,
    ObservedState,
    ObservedTopic,
    RefusalReason,
    plan,
)
from topicdesk.domain.readback import mismatch

WRITER, READER, OTHER = "User:pay.writer", "User:pay.reader", "User:ops.tool"
ORDERS = DesiredTopic("pay.orders", 3, 1, {"retention.ms": "86400000"})
PRODUCE = AccessGrant(WRITER, "pay.orders", Access.PRODUCE)
CONSUME = AccessGrant(READER, "pay.orders", Access.CONSUME, group="billing")


def observed_topic(t: DesiredTopic) -> ObservedTopic:
    return ObservedTopic(t.name, t.partitions, t.replication_factor, dict(t.config))


def matching(desired: DesiredState) -> ObservedState:
    """The cluster exactly as desired."""
    return ObservedState(
        topics={t.name: observed_topic(t) for t in desired.topics},
        acls=desired.desired_bindings(),
        quotas={q.principal: q for q in desired.quotas},
        scram_users=frozenset(s.principal for s in desired.service_accounts),
    )


def kinds(changes: tuple[Change, ...] | list[Change]) -> list[ChangeKind]:
    return [c.kind for c in changes]


# -- plan -------------------------------------------------------------------------------------


def test_nothing_desired_nothing_there_is_an_empty_plan() -> None:
    assert plan(DesiredState(), ObservedState()).is_empty


def test_new_topic_with_grants_creates_topic_then_minimal_acls() -> None:
    desired = DesiredState(topics=[ORDERS], grants=[PRODUCE, CONSUME])
    p = plan(desired, ObservedState())
    assert p.changes[0] == Change(ChangeKind.CREATE_TOPIC, "topic:pay.orders", None, ORDERS)
    acls = p.of_kind(ChangeKind.CREATE_ACL)
    assert {c.after for c in acls} == bindings_for(PRODUCE) | bindings_for(CONSUME)
    assert len(acls) == 5
    assert kinds(p.changes) == [ChangeKind.CREATE_TOPIC] + [ChangeKind.CREATE_ACL] * 5


def test_matching_cluster_gives_an_empty_plan() -> None:
    desired = DesiredState(
        topics=[ORDERS],
        grants=[PRODUCE, CONSUME],
        quotas=[ClientQuota(WRITER, producer_byte_rate=1_048_576)],
        service_accounts=[ServiceAccount(WRITER)],
    )
    assert plan(desired, matching(desired)).is_empty


def test_quota_values_compare_as_numbers() -> None:
    desired = DesiredState(quotas=[ClientQuota(WRITER, producer_byte_rate=1_048_576, request_percentage=50)])
    seen = ObservedState(quotas={WRITER: ClientQuota(WRITER, producer_byte_rate=1_048_576, request_percentage=50.0)})
    assert plan(desired, seen).is_empty


def test_partition_increase_adds_partitions() -> None:
    desired = DesiredState(topics=[DesiredTopic("pay.orders", 6, 1, dict(ORDERS.config))])
    p = plan(desired, ObservedState(topics={"pay.orders": observed_topic(ORDERS)}))
    assert p.changes == (Change(ChangeKind.ADD_PARTITIONS, "topic:pay.orders", 3, 6),)


def test_partition_decrease_is_refused_with_its_reason_and_other_changes_still_planned() -> None:
    desired = DesiredState(topics=[DesiredTopic("pay.orders", 2, 1, {"retention.ms": "1000"})])
    p = plan(desired, ObservedState(topics={"pay.orders": observed_topic(ORDERS)}))
    assert kinds(p.changes) == [ChangeKind.REFUSED, ChangeKind.ALTER_TOPIC_CONFIG]
    refused = p.refused[0]
    assert (refused.before, refused.after, refused.reason) == (3, 2, RefusalReason.PARTITION_DECREASE)
    assert "cannot remove partitions" in refused.message
    assert p.mutating == (p.changes[1],)


def test_replication_factor_change_is_refused() -> None:
    desired = DesiredState(topics=[DesiredTopic("pay.orders", 3, 3, dict(ORDERS.config))])
    p = plan(desired, ObservedState(topics={"pay.orders": observed_topic(ORDERS)}))
    assert [(c.kind, c.reason, c.before, c.after) for c in p.changes] == [
        (ChangeKind.REFUSED, RefusalReason.REPLICATION_FACTOR_CHANGE, 1, 3)
    ]


def test_config_change_sets_differing_keys_with_before_and_after() -> None:
    desired = DesiredState(topics=[DesiredTopic("t", 1, 1, {"retention.ms": "1000", "cleanup.policy": "compact"})])
    seen = ObservedState(topics={"t": ObservedTopic("t", 1, 1, {"retention.ms": "5000"})})
    (change,) = plan(desired, seen).changes
    assert change.kind is ChangeKind.ALTER_TOPIC_CONFIG
    assert change.before == {"cleanup.policy": None, "retention.ms": "5000"}
    assert change.after == {"cleanup.policy": "compact", "retention.ms": "1000"}


def test_override_not_set_by_topicdesk_is_left_alone_but_a_removed_managed_key_is_deleted() -> None:
    seen = ObservedState(
        topics={
            "t": ObservedTopic("t", 1, 1, {"retention.ms": "1000", "segment.ms": "60000", "max.message.bytes": "2"})
        }
    )
    desired = DesiredState(
        topics=[DesiredTopic("t", 1, 1, {"retention.ms": "1000"})],
        # The owner once set max.message.bytes and has removed it; segment.ms came from elsewhere.
        managed_config_keys={"t": frozenset({"retention.ms", "max.message.bytes"})},
    )
    (change,) = plan(desired, seen).changes
    assert change.before == {"max.message.bytes": "2"}
    assert change.after == {"max.message.bytes": None}
    assert [i.kind for i in drift(desired, seen)] == [DriftKind.CONFIG_DIFFERS, DriftKind.CONFIG_UNMANAGED]


def test_deleted_topic_is_deleted_while_it_exists_and_forgotten_once_gone() -> None:
    gone = DesiredState(deletions=Deletions(topics=frozenset({"pay.old"})))
    there = ObservedState(topics={"pay.old": ObservedTopic("pay.old", 1, 1)})
    assert plan(gone, there).changes == (
        Change(ChangeKind.DELETE_TOPIC, "topic:pay.old", there.topics["pay.old"], None),
    )
    assert plan(gone, ObservedState()).is_empty


def test_revoked_grant_deletes_only_bindings_no_live_grant_needs() -> None:
    produce = AccessGrant(READER, "pay.orders", Access.PRODUCE)  # the same principal also produces
    desired = DesiredState(grants=[produce], deletions=Deletions(grants=frozenset({CONSUME})))
    seen = ObservedState(acls=bindings_for(produce) | bindings_for(CONSUME))
    p = plan(desired, seen)
    deleted = {c.before for c in p.changes}
    assert kinds(p.changes) == [ChangeKind.DELETE_ACL, ChangeKind.DELETE_ACL]
    assert deleted == {
        AclBinding(ResourceType.TOPIC, "pay.orders", PatternType.LITERAL, READER, AclOperation.READ),
        AclBinding(ResourceType.GROUP, "billing", PatternType.LITERAL, READER, AclOperation.READ),
    }  # Topic DESCRIBE stays: the produce grant needs it too


def test_acls_nobody_asked_for_are_never_deleted_by_the_planner() -> None:
    stray = AclBinding(ResourceType.TOPIC, "pay.orders", PatternType.LITERAL, OTHER, AclOperation.ALL)
    mine_extra = AclBinding(ResourceType.TOPIC, "x", PatternType.LITERAL, WRITER, AclOperation.ALTER)
    desired = DesiredState(topics=[ORDERS], grants=[PRODUCE])
    seen = matching(desired)
    seen = ObservedState(topics=seen.topics, acls=seen.acls | {stray, mine_extra})
    assert plan(desired, seen).is_empty


def test_quota_set_changed_removed_and_deleted() -> None:
    seen = ObservedState(
        quotas={
            WRITER: ClientQuota(WRITER, producer_byte_rate=100),
            READER: ClientQuota(READER, consumer_byte_rate=100),
            OTHER: ClientQuota(OTHER, request_percentage=10),
        }
    )
    new = ClientQuota("User:new", consumer_byte_rate=5)
    changed = ClientQuota(WRITER, producer_byte_rate=200)
    desired = DesiredState(
        quotas=[new, changed, ClientQuota(READER)],  # READER: all values None -> no quota
        deletions=Deletions(quotas=frozenset({OTHER, "User:never-had-one"})),
    )
    p = plan(desired, seen)
    assert [(c.kind, c.key, c.before, c.after) for c in p.changes] == [
        (ChangeKind.SET_QUOTA, "quota:User:new", None, new),
        (ChangeKind.REMOVE_QUOTA, "quota:User:pay.reader", seen.quotas[READER], None),
        (ChangeKind.SET_QUOTA, "quota:User:pay.writer", seen.quotas[WRITER], changed),
        (ChangeKind.REMOVE_QUOTA, "quota:User:ops.tool", seen.quotas[OTHER], None),
    ]


def test_service_accounts_missing_are_upserted_and_deleted_ones_removed() -> None:
    desired = DesiredState(
        service_accounts=[ServiceAccount(WRITER), ServiceAccount(READER)],
        deletions=Deletions(service_accounts=frozenset({OTHER, "User:gone"})),
    )
    seen = ObservedState(scram_users=frozenset({READER, OTHER}))
    p = plan(desired, seen)
    assert [(c.kind, c.key) for c in p.changes] == [
        (ChangeKind.UPSERT_SCRAM_USER, f"service_account:{WRITER}"),
        (ChangeKind.DELETE_SCRAM_USER, f"service_account:{OTHER}"),
    ]


@pytest.mark.parametrize(
    "desired",
    [
        DesiredState(topics=[ORDERS, ORDERS]),
        DesiredState(topics=[ORDERS], deletions=Deletions(topics=frozenset({ORDERS.name}))),
        DesiredState(grants=[PRODUCE], deletions=Deletions(grants=frozenset({PRODUCE}))),
        DesiredState(quotas=[ClientQuota(WRITER, 1)], deletions=Deletions(quotas=frozenset({WRITER}))),
    ],
)
def test_inconsistent_desired_state_is_an_error(desired: DesiredState) -> None:
    with pytest.raises(InconsistentDesiredState):
        plan(desired, ObservedState())


def test_plan_is_json_ready() -> None:
    desired = DesiredState(
        topics=[ORDERS], grants=[PRODUCE], quotas=[ClientQuota(WRITER, 5)], service_accounts=[ServiceAccount(WRITER)]
    )
    text = json.dumps(plan(desired, ObservedState()).as_dicts())
    assert '"kind": "create_topic"' in text
    assert '"producer_byte_rate": 5.0' in text


# -- read-back --------------------------------------------------------------------------------


def test_mismatch_confirms_each_kind_of_change() -> None:
    desired = DesiredState(
        topics=[ORDERS], grants=[PRODUCE], quotas=[ClientQuota(WRITER, 5)], service_accounts=[ServiceAccount(WRITER)]
    )
    p = plan(desired, ObservedState())
    done = matching(desired)
    assert [mismatch(c, done) for c in p.changes] == [None] * len(p.changes)
    assert [mismatch(c, ObservedState()) is not None for c in p.changes] == [True] * len(p.changes)


def test_mismatch_reports_an_existing_topic_that_differs() -> None:
    create = Change(ChangeKind.CREATE_TOPIC, "topic:pay.orders", None, ORDERS)
    seen = ObservedState(topics={"pay.orders": ObservedTopic("pay.orders", 6, 1, {})})
    problem = mismatch(create, seen)
    assert problem is not None
    assert "partitions 6 != 3" in problem
    assert "retention.ms=None, expected '86400000'" in problem


def test_mismatch_of_deletes() -> None:
    delete = Change(ChangeKind.DELETE_TOPIC, "topic:t", ObservedTopic("t", 1, 1), None)
    assert mismatch(delete, ObservedState()) is None
    assert mismatch(delete, ObservedState(topics={"t": ObservedTopic("t", 1, 1)})) == "topic t still exists"
    config = Change(ChangeKind.ALTER_TOPIC_CONFIG, "topic:t", {"a": "1"}, {"a": None})
    assert mismatch(config, ObservedState(topics={"t": ObservedTopic("t", 1, 1, {})})) is None
    assert mismatch(config, ObservedState(topics={"t": ObservedTopic("t", 1, 1, {"a": "1"})})) == "a still set to '1'"


# -- drift and unmanaged ----------------------------------------------------------------------


def test_drift_reports_config_change_and_deleted_acl_exactly() -> None:
    desired = DesiredState(topics=[ORDERS], grants=[PRODUCE, CONSUME])
    seen = matching(desired)
    group_read = AclBinding(ResourceType.GROUP, "billing", PatternType.LITERAL, READER, AclOperation.READ)
    seen = ObservedState(
        topics={"pay.orders": replace(observed_topic(ORDERS), config={"retention.ms": "1"})},
        acls=seen.acls - {group_read},
    )
    items = drift(desired, seen)
    assert [(i.kind, i.key, i.expected, i.actual) for i in items] == [
        (DriftKind.CONFIG_DIFFERS, "topic:pay.orders", {"retention.ms": "86400000"}, {"retention.ms": "1"}),
        (DriftKind.ACL_MISSING, group_read.key, group_read.as_dict(), None),
    ]
    assert items[1].grants == (grant_key(CONSUME),)
    json.dumps([i.as_dict() for i in items])


def test_drift_of_missing_topic_partitions_rf_quota_and_service_account() -> None:
    other = DesiredTopic("pay.other", 1, 1)
    desired = DesiredState(
        topics=[ORDERS, other],
        quotas=[ClientQuota(WRITER, producer_byte_rate=10), ClientQuota(READER, consumer_byte_rate=10)],
        service_accounts=[ServiceAccount(WRITER)],
    )
    seen = ObservedState(
        topics={"pay.orders": replace(observed_topic(ORDERS), partitions=4, replication_factor=3)},
        quotas={WRITER: ClientQuota(WRITER, producer_byte_rate=20)},
    )
    assert [(i.kind, i.key) for i in drift(desired, seen)] == [
        (DriftKind.PARTITIONS_DIFFER, "topic:pay.orders"),
        (DriftKind.REPLICATION_FACTOR_DIFFERS, "topic:pay.orders"),
        (DriftKind.TOPIC_MISSING, "topic:pay.other"),
        (DriftKind.QUOTA_MISSING, f"quota:{READER}"),
        (DriftKind.QUOTA_DIFFERS, f"quota:{WRITER}"),
        (DriftKind.SERVICE_ACCOUNT_MISSING, f"service_account:{WRITER}"),
    ]


def test_extra_acls_split_between_drift_and_unmanaged() -> None:
    desired = DesiredState(topics=[ORDERS], grants=[PRODUCE], quotas=[ClientQuota(WRITER, 1)])
    on_managed_topic = AclBinding(ResourceType.TOPIC, "pay.orders", PatternType.LITERAL, OTHER, AclOperation.READ)
    of_managed_principal = AclBinding(ResourceType.GROUP, "g", PatternType.PREFIXED, WRITER, AclOperation.READ)
    elsewhere = AclBinding(ResourceType.TOPIC, "ops.logs", PatternType.LITERAL, OTHER, AclOperation.WRITE)
    seen = matching(desired)
    seen = ObservedState(
        topics={**seen.topics, "ops.logs": ObservedTopic("ops.logs", 1, 1)},
        acls=seen.acls | {on_managed_topic, of_managed_principal, elsewhere},
        quotas={**seen.quotas, READER: ClientQuota(READER, 5)},
    )
    items = drift(desired, seen)
    assert {(i.kind, i.key) for i in items} == {
        (DriftKind.ACL_EXTRA, on_managed_topic.key),
        (DriftKind.ACL_EXTRA, of_managed_principal.key),
    }  # READER's quota: not a managed principal here, so not drift
    found = unmanaged(desired, seen)
    assert found.acls == (elsewhere,)
    assert [t.name for t in found.topics] == ["ops.logs"]


def test_topics_pending_deletion_are_not_unmanaged() -> None:
    desired = DesiredState(deletions=Deletions(topics=frozenset({"pay.old"})))
    seen = ObservedState(topics={"pay.old": ObservedTopic("pay.old", 1, 1), "x": ObservedTopic("x", 1, 1)})
    assert [t.name for t in unmanaged(desired, seen).topics] == ["x"]
    assert drift(desired, seen) == []


def test_quota_on_managed_principal_that_nobody_asked_for_is_drift() -> None:
    desired = DesiredState(grants=[PRODUCE])
    seen = ObservedState(acls=bindings_for(PRODUCE), quotas={WRITER: ClientQuota(WRITER, 7)})
    assert [(i.kind, i.actual) for i in drift(desired, seen)] == [
        (DriftKind.QUOTA_EXTRA, {"producer_byte_rate": 7.0})
    ]
