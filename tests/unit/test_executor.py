"""The executor against the in-memory fake cluster: batching, idempotency, retries, read-back."""

from __future__ import annotations

import confluent_kafka
import pytest

from tests.fakes import FakeClusterPort, RecordingClusterPort
from topicdesk.domain.acls import bindings_for
from topicdesk.domain.model import Access, AccessGrant, ClientQuota, DesiredTopic, ServiceAccount
from topicdesk.domain.plan import Change, ChangeKind, Deletions, DesiredState, ObservedTopic, plan
from topicdesk.services.cluster_port import (
    KAFKA_ERRORS,
    Outcome,
    OutcomeReason,
    kafka_error_code,
    outcome_for_kafka_error,
)
from topicdesk.services.executor import (
    ApplyReport,
    ApplySettings,
    ChangeResult,
    apply,
    chunk_by_weight,
    create_topic_chunks,
    topic_records,
)

WRITER, READER = "User:pay.writer", "User:pay.reader"


class FakeTime:
    """sleep() advances clock(); nothing really waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def topics_with_grants(n: int, partitions: int = 1) -> DesiredState:
    topics = [DesiredTopic(f"pay.t{i:04d}", partitions, 1, {"retention.ms": "3600000"}) for i in range(n)]
    grants = [g for t in topics for g in (
        AccessGrant(WRITER, t.name, Access.PRODUCE),
        AccessGrant(READER, t.name, Access.CONSUME, group=f"g-{t.name}"),
    )]
    return DesiredState(topics=topics, grants=grants)


def reconcile(
    desired: DesiredState,
    port: RecordingClusterPort | FakeClusterPort,
    time: FakeTime,
    *,
    settings: ApplySettings | None = None,
    passwords: dict[str, str] | None = None,
) -> ApplyReport:
    observed = port.describe(None)
    return apply(plan(desired, observed), port, settings=settings, passwords=passwords,
                 sleep=time.sleep, clock=time.clock)


@pytest.fixture
def time() -> FakeTime:
    return FakeTime()


def test_apply_then_apply_again_is_empty_and_makes_no_mutating_call(time: FakeTime) -> None:
    port = RecordingClusterPort(FakeClusterPort())
    desired = topics_with_grants(3)
    desired = DesiredState(
        topics=desired.topics,
        grants=desired.grants,
        quotas=[ClientQuota(WRITER, producer_byte_rate=1_000_000)],
        service_accounts=[ServiceAccount(WRITER)],
    )
    report = reconcile(desired, port, time, passwords={WRITER: "s3cret-enough"})
    assert report.ok, report.failed
    assert len(report.results) == 3 + 3 * 5 + 1 + 1

    port.reset()
    second = plan(desired, port.describe(None))
    assert second.is_empty
    report2 = apply(second, port, sleep=time.sleep, clock=time.clock)
    assert report2.results == []
    assert port.mutating_calls == []
    assert [c.method for c in port.calls] == ["describe"]  # no read-back when nothing was applied


def test_200_topics_make_one_create_topics_per_chunk_and_one_create_acls(time: FakeTime) -> None:
    port = RecordingClusterPort(FakeClusterPort())
    desired = topics_with_grants(200)
    report = reconcile(desired, port, time)
    assert report.ok
    creates = port.calls_to("create_topics")
    assert len(create_topic_chunks(desired.topics)) == 1
    assert [c.size for c in creates] == [200]
    assert [c.size for c in port.calls_to("create_acls")] == [200 * 5]
    assert {c.method for c in port.mutating_calls} == {"create_topics", "create_acls"}


def test_create_topics_is_split_under_the_kraft_record_limit(time: FakeTime) -> None:
    port = RecordingClusterPort(FakeClusterPort())
    desired = topics_with_grants(200, partitions=100)  # 102 records each -> 20,400 records
    report = reconcile(desired, port, time)
    assert report.ok
    sizes = [c.size for c in port.calls_to("create_topics")]
    assert sizes == [len(chunk) for chunk in create_topic_chunks(desired.topics)] == [88, 88, 24]
    assert all(sum(topic_records(t) for t in chunk) <= 9_000 for chunk in create_topic_chunks(desired.topics))
    assert len(port.calls_to("create_acls")) == 1


def test_chunk_by_weight_keeps_order_and_puts_an_oversized_item_alone() -> None:
    assert chunk_by_weight([1, 2, 3, 4, 50, 1], lambda x: x, 6) == [[1, 2, 3], [4], [50], [1]]
    assert chunk_by_weight([], lambda x: x, 6) == []


def test_throttled_create_is_retried_with_backoff_for_the_throttled_topic_only(time: FakeTime) -> None:
    fake = FakeClusterPort()
    throttled = Outcome.failure(OutcomeReason.THROTTLED, "throttled", transient=True)
    fake.script("create_topics", "pay.t0001", throttled, throttled)
    port = RecordingClusterPort(fake)
    report = reconcile(topics_with_grants(3), port, time)
    assert report.ok
    assert [c.size for c in port.calls_to("create_topics")] == [3, 1, 1]
    assert len(time.sleeps) >= 2
    assert time.sleeps[1] > time.sleeps[0]
    (retried,) = [r for r in report.results if r.change.key == "topic:pay.t0001"]
    assert retried.attempts == 3


def test_transient_failures_stop_after_bounded_attempts(time: FakeTime) -> None:
    fake = FakeClusterPort()
    down = Outcome.failure(OutcomeReason.UNAVAILABLE, "broker down", transient=True)
    fake.script("create_topics", "pay.t0000", *[down] * 10)
    port = RecordingClusterPort(fake)
    report = reconcile(topics_with_grants(1), port, time, settings=ApplySettings(max_attempts=3))
    assert len(port.calls_to("create_topics")) == 3
    outcome = report.topic_outcome("pay.t0000")
    assert (outcome.ok, outcome.reason, outcome.transient) == (False, OutcomeReason.UNAVAILABLE, True)


def test_permanent_error_is_recorded_and_the_others_continue(time: FakeTime) -> None:
    fake = FakeClusterPort()
    fake.script(
        "create_topics",
        "pay.t0001",
        Outcome.failure(OutcomeReason.POLICY_VIOLATION, "no topics on Fridays", transient=False),
    )
    port = RecordingClusterPort(fake)
    desired = topics_with_grants(3)
    report = reconcile(desired, port, time)
    bad = report.topic_outcome("pay.t0001")
    assert (bad.reason, bad.message, bad.permanent) == (OutcomeReason.POLICY_VIOLATION, "no topics on Fridays", True)
    assert len(port.calls_to("create_topics")) == 1  # not retried
    assert report.topic_outcome("pay.t0000").ok
    assert report.topic_outcome("pay.t0002").ok
    assert all(report.grant_outcome(g).ok for g in desired.grants)
    assert set(fake.topics) == {"pay.t0000", "pay.t0002"}


def test_already_existing_topic_that_matches_is_success(time: FakeTime) -> None:
    fake = FakeClusterPort()
    desired = topics_with_grants(1)
    stale = plan(desired, fake.describe(None))  # planned before someone else created it
    fake.create_topics(desired.topics)
    report = apply(stale, fake, sleep=time.sleep, clock=time.clock)
    assert report.ok
    assert report.topic_outcome("pay.t0000").message.startswith("already existed")


def test_already_existing_topic_that_differs_is_not_confirmed(time: FakeTime) -> None:
    fake = FakeClusterPort()
    desired = topics_with_grants(1)
    stale = plan(desired, fake.describe(None))
    fake.create_topics([DesiredTopic("pay.t0000", 7, 1)])
    report = apply(stale, fake, sleep=time.sleep, clock=time.clock, settings=ApplySettings(readback_timeout=1))
    outcome = report.topic_outcome("pay.t0000")
    assert (outcome.reason, outcome.transient) == (OutcomeReason.NOT_CONFIRMED, True)
    assert "partitions 7 != 1" in outcome.message


def test_read_back_waits_for_metadata_to_show_new_topics(time: FakeTime) -> None:
    fake = FakeClusterPort(visible_after=2)
    port = RecordingClusterPort(fake)
    report = reconcile(topics_with_grants(2), port, time)
    assert report.ok
    assert report.readbacks == 3
    assert time.sleeps == pytest.approx([0.2, 0.3])


def test_refused_changes_are_recorded_and_never_sent(time: FakeTime) -> None:
    fake = FakeClusterPort()
    fake.create_topics([DesiredTopic("pay.orders", 6, 1)])
    port = RecordingClusterPort(fake)
    desired = DesiredState(topics=[DesiredTopic("pay.orders", 3, 1)])
    p = plan(desired, port.describe(None))
    assert [c.kind for c in p.changes] == [ChangeKind.REFUSED]
    port.reset()
    report = apply(p, port, sleep=time.sleep, clock=time.clock)
    assert port.calls == []
    outcome = report.topic_outcome("pay.orders")
    assert (outcome.reason, outcome.permanent) == (OutcomeReason.REFUSED, True)
    assert outcome.message.startswith("partition_decrease: ")


def test_partitions_configs_deletes_and_quotas_each_in_one_call(time: FakeTime) -> None:
    fake = FakeClusterPort()
    fake.create_topics([DesiredTopic("a", 1, 1), DesiredTopic("b", 1, 1), DesiredTopic("old", 1, 1)])
    old_grant = AccessGrant(READER, "old", Access.CONSUME, group="g")
    fake.create_acls(sorted(bindings_for(old_grant)))
    fake.alter_quotas([])
    fake.quotas[READER] = {"consumer_byte_rate": 10.0}
    port = RecordingClusterPort(fake)
    desired = DesiredState(
        topics=[DesiredTopic("a", 4, 1, {"cleanup.policy": "compact"}), DesiredTopic("b", 2, 1, {"retention.ms": "1"})],
        quotas=[ClientQuota(WRITER, producer_byte_rate=5, request_percentage=20)],
        deletions=Deletions(topics=frozenset({"old"}), grants=frozenset({old_grant}), quotas=frozenset({READER})),
    )
    report = reconcile(desired, port, time)
    assert report.ok, report.failed
    assert [(c.method, c.size) for c in port.mutating_calls] == [
        ("alter_quotas", 2),
        ("create_partitions", 2),
        ("alter_configs", 2),
        ("delete_acls", 3),
        ("delete_topics", 1),
    ]
    assert fake.topics["a"].partitions == 4
    assert fake.topics["b"].config == {"retention.ms": "1"}
    assert fake.quotas == {WRITER: {"producer_byte_rate": 5.0, "request_percentage": 20.0}}
    assert fake.acls == set()
    assert "old" not in fake.topics


def test_quota_change_removes_keys_no_longer_wanted(time: FakeTime) -> None:
    fake = FakeClusterPort()
    fake.quotas[WRITER] = {"producer_byte_rate": 10.0, "consumer_byte_rate": 10.0}
    desired = DesiredState(quotas=[ClientQuota(WRITER, producer_byte_rate=20)])
    report = reconcile(desired, RecordingClusterPort(fake), time)
    assert report.ok
    assert fake.quotas == {WRITER: {"producer_byte_rate": 20.0}}


def test_service_account_without_password_is_not_sent(time: FakeTime) -> None:
    port = RecordingClusterPort(FakeClusterPort())
    report = reconcile(DesiredState(service_accounts=[ServiceAccount(WRITER)]), port, time)
    outcome = report.outcome_for([f"service_account:{WRITER}"])
    assert (outcome.reason, outcome.permanent) == (OutcomeReason.CREDENTIAL_UNAVAILABLE, True)
    assert port.mutating_calls == []


def test_outcomes_combine_per_resource() -> None:
    a = Change(ChangeKind.ADD_PARTITIONS, "topic:t", 1, 2)
    b = Change(ChangeKind.ALTER_TOPIC_CONFIG, "topic:t", {}, {"x": "1"})
    fail = Outcome.failure(OutcomeReason.INVALID_CONFIG, "bad x", transient=False)
    report = ApplyReport([ChangeResult(a, Outcome.success(), 1), ChangeResult(b, fail, 1)])
    assert report.topic_outcome("t") == fail
    assert report.topic_outcome("other").ok
    assert not report.ok
    assert report.failed == [report.results[1]]


# -- the Kafka error table ----------------------------------------------------------------------


def test_error_table_names_match_confluent_kafka_codes() -> None:
    for code, (name, _, _) in KAFKA_ERRORS.items():
        if code == -1:
            assert confluent_kafka.KafkaError.UNKNOWN == -1
            continue
        assert getattr(confluent_kafka.KafkaError, name) == code, name


@pytest.mark.parametrize(
    ("name", "reason", "transient"),
    [
        ("TOPIC_ALREADY_EXISTS", OutcomeReason.ALREADY_EXISTS, False),
        ("INVALID_CONFIG", OutcomeReason.INVALID_CONFIG, False),
        ("POLICY_VIOLATION", OutcomeReason.POLICY_VIOLATION, False),
        ("CLUSTER_AUTHORIZATION_FAILED", OutcomeReason.NOT_AUTHORIZED, False),
        ("THROTTLING_QUOTA_EXCEEDED", OutcomeReason.THROTTLED, True),
        ("_TRANSPORT", OutcomeReason.UNAVAILABLE, True),
        ("REQUEST_TIMED_OUT", OutcomeReason.TIMEOUT, True),
    ],
)
def test_kafka_errors_map_to_domain_reasons(name: str, reason: OutcomeReason, transient: bool) -> None:
    code = kafka_error_code(name)
    assert code is not None
    outcome = outcome_for_kafka_error(code, "")
    assert (outcome.ok, outcome.reason, outcome.transient, outcome.kafka_error) == (False, reason, transient, name)


def test_unknown_kafka_error_keeps_its_retriable_flag() -> None:
    assert outcome_for_kafka_error(0, "").ok
    unknown = outcome_for_kafka_error(4242, "odd", retriable=True, name="ODD")
    assert (unknown.reason, unknown.transient, unknown.kafka_error) == (OutcomeReason.UNKNOWN, True, "ODD")


def test_observed_topic_is_plain_data() -> None:
    assert ObservedTopic("t", 1, 1) == ObservedTopic("t", 1, 1, {})


def test_adapter_maps_client_exceptions_through_the_same_table() -> None:
    from confluent_kafka import KafkaError, KafkaException
    from kafka import errors as kafka_errors

    from topicdesk.adapters import kafka_quotas
    from topicdesk.adapters.kafka_cluster import outcome_of_exception

    throttled = outcome_of_exception(KafkaException(KafkaError(KafkaError.THROTTLING_QUOTA_EXCEEDED)))
    assert (throttled.reason, throttled.transient) == (OutcomeReason.THROTTLED, True)
    for name in ("CLUSTER_AUTHORIZATION_FAILED", "ClusterAuthorizationFailedError"):
        refused = outcome_of_exception(kafka_quotas.ClientQuotaError(name, "no"))
        assert (refused.reason, refused.permanent) == (OutcomeReason.NOT_AUTHORIZED, True)
    down = outcome_of_exception(kafka_errors.KafkaTimeoutError("Unable to bootstrap from 127.0.0.1:1"))
    assert (down.reason, down.transient) == (OutcomeReason.UNAVAILABLE, True)
    odd = outcome_of_exception(RuntimeError("boom"))
    assert (odd.reason, odd.permanent) == (OutcomeReason.UNKNOWN, True)
