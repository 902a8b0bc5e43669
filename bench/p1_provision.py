"""P1: provisioning 1,000 topics with a producer grant, a consumer grant and a quota each.

Topicdesk  desired state -> applied and read back. Not timed: a fresh SQLite database gets the rows
           the request workflow writes on approval (`apply_to_desired_state` of one approved
           topic.create request per topic, with its producer and consumer, and one quota.set per
           producer principal: TopicRow, AccessGrantRow, ClientQuotaRow, request links). Timed:
           `run_once` passes (real KafkaCluster port, built by the same factory as the CLI) until no
           work is pending; each pass claims the lease, describes, plans, applies in batches, reads
           back, records outcomes and audit events, and settles the requests to `applied`.
raw (A)    a hand-written batched confluent-kafka script doing the same operations: one
           create_acls with every binding, one create_topics with every topic and its config, one
           AlterClientQuotas with every quota (adapters/kafka_quotas.py), then bulk read-back
           (describe_topics + describe_configs + describe_acls + DescribeClientQuotas, all started
           together) until everything is visible, on the executor's read-back schedule (0.2 s, then
           1.5x longer up to 2 s: polling 1,000-topic describes back to back slows the broker's log
           creation on 2 cores, measured). Clients are created inside the timing,
           as the Topicdesk pass creates its port. Two orders, each measured:
           - "raw": the order Topicdesk's executor sends them in (services/executor.py _ORDER), so
             the difference is Topicdesk's own overhead;
           - "raw-best": ACLs, quotas, then topics. The broker publishes metadata in order and makes
             records behind a CreateTopics visible only once it has created those partitions' logs
             (thousands of logs take seconds to tens of seconds here), so nothing else should wait
             behind the topics. This is the stricter baseline; the verdict uses it.
serial (B) one topic at a time with the same clients: describe the topic (absent), create it, wait
           until describe_topics shows it (polled every 0.05 s), create its 5 ACL bindings, set its
           quota. Measured on a sample of --serial-sample topics and extrapolated linearly to
           --topics (the output says so).

--what-if-quotas-first adds "td-quotas-first": Topicdesk with executor._ORDER patched in this
process so quota changes go right after the ACLs, before topics (NOT the product as shipped; it
shows what that one change would give).

Every measurement gets a fresh single-node cluster (same broker state for every variant), warmed
up first with --warmup topics (3 partitions, ACLs, a quota) created and read back untimed. Rounds
alternate the order of the variants. Ratios are per round; the verdict uses their medians.

Each topic: --partitions partitions, replication factor 1, retention.ms set; bindings: producer
Topic WRITE + DESCRIBE, consumer Topic READ + DESCRIBE + Group READ (5 per topic); quota:
producer_byte_rate for the producer principal.

Usage: .venv/bin/python bench/p1_provision.py [--topics 1000] [--rounds 3] [--serial-sample 100]
Exit status 1 when a target is missed (Topicdesk / raw-best <= 1.5, serial / Topicdesk >= 30).
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, TopicCollection
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

import kafka_bench as kb
from topicdesk.adapters import kafka_quotas
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AccessGrantRow, ClientQuotaRow, ClusterRow, RequestRow, TopicRow
from topicdesk.bootstrap import kafka_port_for
from topicdesk.domain.plan import ChangeKind
from topicdesk.local_kafka import cluster as lk
from topicdesk.services import executor, reconcile
from topicdesk.services.cluster_port import ClusterPort
from topicdesk.services.reconcile_loop import pending_work, run_once
from topicdesk.services.requests import apply_to_desired_state

RETENTION_MS = "86400000"
BYTE_RATE = 1_048_576


@dataclass(frozen=True)
class Spec:
    """One topic with its producer, consumer (and group) and the producer's quota."""

    topic: str
    producer: str
    consumer: str
    group: str

    def bindings(self) -> list[AclBinding]:
        def acl(rtype: Any, name: str, principal: str, op: Any) -> AclBinding:
            return AclBinding(rtype, name, ResourcePatternType.LITERAL, principal, "*", op, AclPermissionType.ALLOW)

        t = ResourceType.TOPIC
        return [acl(t, self.topic, self.producer, AclOperation.WRITE),
                acl(t, self.topic, self.producer, AclOperation.DESCRIBE),
                acl(t, self.topic, self.consumer, AclOperation.READ),
                acl(t, self.topic, self.consumer, AclOperation.DESCRIBE),
                acl(ResourceType.GROUP, self.group, self.consumer, AclOperation.READ)]

    def quota(self) -> kafka_quotas.QuotaAlteration:
        return kafka_quotas.QuotaAlteration({kafka_quotas.USER: self.producer[5:]},
                                            {kafka_quotas.PRODUCER_BYTE_RATE: BYTE_RATE})


def specs(count: int, tag: str) -> list[Spec]:
    return [Spec(topic=f"payments.{tag}.t{i:05d}", producer=f"User:payments.{tag}.w{i:05d}",
                 consumer=f"User:ingest.{tag}.r{i:05d}", group=f"ingest.{tag}.g{i:05d}") for i in range(count)]


def new_topic(spec: Spec, partitions: int) -> NewTopic:
    return NewTopic(spec.topic, num_partitions=partitions, replication_factor=1, config={"retention.ms": RETENTION_MS})


def acl_tuple(b: Any) -> tuple[Any, ...]:
    return (b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation, b.permission_type)


# --- readback shared by the raw script and the verification ---------------------------------------


def missing_on_cluster(client: Any, quotas: Any, node: int, items: list[Spec], partitions: int) -> dict[str, int]:
    """Per kind, how many topics, configs, bindings and quotas of `items` are not (yet) visible; bulk calls only."""
    names = [s.topic for s in items]
    topics_f = client.describe_topics(TopicCollection(names), request_timeout=30)
    configs_f = client.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in names], request_timeout=30)
    acls_f = client.describe_acls(kb.any_acl_filter(), request_timeout=30)
    entries = kafka_quotas.describe_client_quotas(
        quotas, [kafka_quotas.QuotaFilter(kafka_quotas.USER, kafka_quotas.MatchType.ANY)], strict=True, node_id=node)
    missing = dict.fromkeys(("topics", "configs", "acls", "quotas"), 0)
    for f in topics_f.values():
        try:
            missing["topics"] += len(f.result(timeout=60).partitions) != partitions
        except KafkaException:
            missing["topics"] += 1
    for f in configs_f.values():
        try:
            entry = f.result(timeout=60).get("retention.ms")
            missing["configs"] += entry is None or entry.value != RETENTION_MS
        except KafkaException:
            missing["configs"] += 1
    have = {acl_tuple(b) for b in acls_f.result(timeout=60)}
    missing["acls"] = sum(acl_tuple(b) not in have for s in items for b in s.bindings())
    rates = {e.entity.get(kafka_quotas.USER): e.values.get(kafka_quotas.PRODUCER_BYTE_RATE) for e in entries}
    missing["quotas"] = sum(rates.get(s.producer[5:]) != float(BYTE_RATE) for s in items)
    return missing


def read_back(client: Any, quotas: Any, node: int, items: list[Spec], partitions: int,
              start: float) -> tuple[int, dict[str, float]]:
    """Bulk read-back until all is visible, on the executor's schedule (ApplySettings: 0.2 s, then
    1.5x longer up to 2 s): (read-backs, when each kind was complete)."""
    cadence = executor.ApplySettings()
    complete: dict[str, float] = {}
    interval = cadence.readback_interval
    deadline = time.monotonic() + 300
    checks = 0
    while True:
        checks += 1
        missing = missing_on_cluster(client, quotas, node, items, partitions)
        for kind, count in missing.items():
            if count == 0:
                complete.setdefault(kind, round(time.monotonic() - start, 2))
        if not any(missing.values()):
            return checks, complete
        if time.monotonic() >= deadline:
            raise RuntimeError(f"still missing after 300 s: {missing}")
        time.sleep(interval)
        interval = min(cadence.readback_interval_max, interval * 1.5)


# --- variants ------------------------------------------------------------------------------------


@dataclass
class Result:
    variant: str
    seconds: float
    topics: int  # topics actually provisioned in the timed part
    notes: dict[str, Any] = field(default_factory=dict)


def product_order() -> list[str]:
    """The order Topicdesk's executor sends ACLs, topics and quotas in."""
    kinds = {ChangeKind.CREATE_ACL: "acls", ChangeKind.CREATE_TOPIC: "topics", ChangeKind.SET_QUOTA: "quotas"}
    return [kinds[k] for group in executor._ORDER for k in group if k in kinds]


BEST_ORDER = ["acls", "quotas", "topics"]


def run_raw(local: lk.LocalCluster, items: list[Spec], partitions: int, sequence: list[str], variant: str) -> Result:
    bindings = [b for s in items for b in s.bindings()]
    topics = [new_topic(s, partitions) for s in items]
    start = time.monotonic()
    client = kb.admin(local)
    with kb.quota_admin(local) as quotas:
        node = kafka_quotas.pick_node(quotas)
        steps: dict[str, Callable[[], object]] = {
            "acls": lambda: kb.results(client.create_acls(bindings, request_timeout=60)),
            "topics": lambda: kb.results(client.create_topics(topics, operation_timeout=60, request_timeout=60)),
            "quotas": lambda: kafka_quotas.alter_client_quotas(quotas, [s.quota() for s in items], node_id=node),
        }
        marks: dict[str, float] = {}
        for step in sequence:
            t = time.monotonic()
            steps[step]()
            marks[step] = time.monotonic() - t
        t = time.monotonic()
        checks, complete = read_back(client, quotas, node, items, partitions, start)
        marks["read-back"] = time.monotonic() - t
    elapsed = time.monotonic() - start
    return Result(variant, elapsed, len(items), {"order": ",".join(sequence),
                                                 **{k: round(v, 2) for k, v in marks.items()}, "read-backs": checks,
                                                 "all visible at": complete})


def run_serial(local: lk.LocalCluster, items: list[Spec], partitions: int) -> Result:
    client = kb.admin(local)
    with kb.quota_admin(local) as quotas:
        node = kafka_quotas.pick_node(quotas)
        start = time.monotonic()
        for s in items:
            try:
                client.describe_topics(TopicCollection([s.topic]), request_timeout=30)[s.topic].result(timeout=60)
                raise RuntimeError(f"{s.topic} exists before it was created")
            except KafkaException:
                pass  # absent, as expected
            kb.results(client.create_topics([new_topic(s, partitions)], operation_timeout=60, request_timeout=60))

            def visible(s: Spec = s) -> bool:
                try:
                    desc = client.describe_topics(TopicCollection([s.topic]), request_timeout=30)[s.topic].result(60)
                except KafkaException:
                    return False
                return len(desc.partitions) == partitions

            kb.eventually(visible, timeout=60, interval=0.05, what=f"{s.topic} visible")
            kb.results(client.create_acls(s.bindings(), request_timeout=60))
            kafka_quotas.alter_client_quotas(quotas, [s.quota()], node_id=node)
        elapsed = time.monotonic() - start
    return Result("serial", elapsed, len(items))


class TimedPort:
    """The real port, with the time spent in each of its calls added up (no behaviour change)."""

    def __init__(self, port: ClusterPort, log: dict[str, float]) -> None:
        self._port = port
        self._log = log

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._port, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            t = time.monotonic()
            try:
                return target(*args, **kwargs)
            finally:
                took = time.monotonic() - t
                self._log[f"port.{name}"] = self._log.get(f"port.{name}", 0.0) + took
                self._log[f"port.{name}#"] = self._log.get(f"port.{name}#", 0) + 1
                self._log.setdefault(f"port.{name}.first", took)

        return call


# Reconciler steps timed (by wrapping the module attributes reconcile_cluster looks them up by).
PHASES = ("load_work", "plan", "apply", "record_event", "record_events", "settle_requests")


@contextmanager
def timed_phases(log: dict[str, float]) -> Iterator[None]:
    saved: dict[str, Any] = {}

    def wrap(name: str, target: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(target)
        def call(*args: Any, **kwargs: Any) -> Any:
            t = time.monotonic()
            try:
                return target(*args, **kwargs)
            finally:
                log[name] = log.get(name, 0.0) + time.monotonic() - t
                log[f"{name}#"] = log.get(f"{name}#", 0) + 1

        return call

    for name in PHASES:
        if hasattr(reconcile, name):
            saved[name] = getattr(reconcile, name)
            setattr(reconcile, name, wrap(name, saved[name]))
    try:
        yield
    finally:
        for name, target in saved.items():
            setattr(reconcile, name, target)


@contextmanager
def quotas_before_topics(enabled: bool) -> Iterator[None]:
    """What-if: the executor sends quota changes right after the ACLs, before topics."""
    original = executor._ORDER
    if enabled:
        groups = [g for g in original if ChangeKind.SET_QUOTA not in g]
        quota_group = next(g for g in original if ChangeKind.SET_QUOTA in g)
        at = next(i for i, g in enumerate(groups) if ChangeKind.CREATE_ACL in g) + 1
        executor._ORDER = (*groups[:at], quota_group, *groups[at:])
    try:
        yield
    finally:
        executor._ORDER = original


def seed_desired_state(engine: Engine, cluster: str, items: list[Spec], partitions: int) -> None:
    """What approving one topic.create per topic and one quota.set per producer writes (not timed)."""
    with unit_of_work(engine) as session:
        for s in items:
            spec = {"name": s.topic, "partitions": partitions, "replication_factor": 1,
                    "config": {"retention.ms": RETENTION_MS}, "producers": [s.producer],
                    "consumers": [{"principal": s.consumer, "group": s.group}]}
            for kind, body in (("topic.create", spec),
                               ("quota.set", {"principal": s.producer, "producer_byte_rate": BYTE_RATE})):
                request = RequestRow(kind=kind, cluster=cluster, spec=body, requested_by="bench@payments",
                                     requester_team="payments", owner_team="payments", status="approved")
                session.add(request)
                session.flush()
                apply_to_desired_state(session, request)
                session.add(request)


def run_topicdesk(local: lk.LocalCluster, items: list[Spec], partitions: int, folder: Path, variant: str) -> Result:
    engine = kb.fresh_database(folder, f"p1-{uuid.uuid4().hex[:6]}")
    cluster = kb.register_cluster(engine, local)
    seed_desired_state(engine, cluster, items, partitions)
    log: dict[str, float] = {}

    def factory(row: ClusterRow, **options: Any) -> ClusterPort:
        return TimedPort(kafka_port_for(row, **options), log)

    passes = []
    with quotas_before_topics(variant == "td-quotas-first"), timed_phases(log):
        start = time.monotonic()
        while True:
            passes += run_once(engine, factory, clusters=[cluster])
            if not pending_work(engine) or len(passes) >= 20:
                break
        elapsed = time.monotonic() - start
    with unit_of_work(engine) as session:
        unobserved = sum(session.exec(select(func.count()).select_from(table).where(
            col(table.observed_generation) < col(table.generation))).one()
            for table in (TopicRow, AccessGrantRow, ClientQuotaRow))
        statuses = dict(session.exec(select(RequestRow.status, func.count()).group_by(RequestRow.status)).all())
    engine.dispose()
    if unobserved or set(statuses) != {"applied"}:
        raise RuntimeError(f"Topicdesk did not converge: {unobserved} rows unobserved, requests {statuses}, "
                           f"passes {passes}")
    notes: dict[str, Any] = {"passes": len(passes), "requests": statuses, "order": ",".join(product_order())}
    if variant == "td-quotas-first":
        notes["order"] = ",".join(BEST_ORDER) + " (patched)"
    notes.update({k: (int(v) if k.endswith("#") else round(v, 2)) for k, v in sorted(log.items())
                  if not k.endswith(".first") and not k.startswith("port.close")})
    # apply() = the port calls after the planning describe + read-back sleeps.
    in_apply = sum(v for k, v in log.items() if k.startswith("port.") and not k.endswith(("#", ".first"))) \
        - log.get("port.describe.first", 0.0)
    notes["apply minus its port calls (read-back sleeps)"] = round(log.get("apply", 0.0) - in_apply, 2)
    notes["pass minus apply (database, audit, requests, first describe)"] = round(elapsed - log.get("apply", 0.0), 2)
    return Result(variant, elapsed, len(items), notes)


def in_memory_pass(topics: int, partitions: int, folder: Path) -> Result:
    """Topicdesk's own cost: the same run_once over the same rows, against tests/fakes.py's in-memory
    FakeClusterPort instead of Kafka (no network, no broker, no read-back waits)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.fakes import FakeClusterPort

    engine = kb.fresh_database(folder, f"p1-mem-{uuid.uuid4().hex[:6]}")
    fake_cluster = lk.LocalCluster(name="in-memory", cluster_id="-", client_port=0, controller_port=0,
                                   admin_username="-", admin_password="-", controller_password="-", home=folder,
                                   state_file=folder / "in-memory.json")
    cluster = kb.register_cluster(engine, fake_cluster)
    seed_desired_state(engine, cluster, specs(topics, "mem"), partitions)
    fake = FakeClusterPort()
    log: dict[str, float] = {}
    with timed_phases(log):
        start = time.monotonic()
        passes = run_once(engine, lambda row, **options: fake, clusters=[cluster])
        elapsed = time.monotonic() - start
    engine.dispose()
    if pending_work(engine) or passes[0].applied != passes[0].resources:
        raise RuntimeError(f"in-memory pass did not converge: {passes}")
    notes = {k: (int(v) if k.endswith("#") else round(v, 2)) for k, v in sorted(log.items())}
    return Result("in-memory port", elapsed, topics, notes)


# --- orchestration -------------------------------------------------------------------------------


def warm_up(local: lk.LocalCluster, count: int, partitions: int) -> None:
    """Untimed: exercise every request type once in bulk, so no variant meets a cold JVM."""
    if count <= 0:
        return
    items = specs(count, f"warm{uuid.uuid4().hex[:4]}")
    client = kb.admin(local)
    with kb.quota_admin(local) as quotas:
        node = kafka_quotas.pick_node(quotas)
        kb.results(client.create_acls([b for s in items for b in s.bindings()], request_timeout=60))
        kafka_quotas.alter_client_quotas(quotas, [s.quota() for s in items], node_id=node)
        kb.results(client.create_topics([new_topic(s, partitions) for s in items], operation_timeout=60))
        read_back(client, quotas, node, items, partitions, time.monotonic())


def verify(local: lk.LocalCluster, items: list[Spec], partitions: int) -> None:
    client = kb.admin(local)
    with kb.quota_admin(local) as quotas:
        missing = missing_on_cluster(client, quotas, kafka_quotas.pick_node(quotas), items, partitions)
    if any(missing.values()):
        raise RuntimeError(f"missing after the run: {missing}")


def measure(variant: str, state_dir: Path, folder: Path, args: argparse.Namespace, round_no: int) -> Result:
    name = f"p1-{variant}-{round_no}"
    local = kb.start(state_dir, name, args.heap_mb)
    try:
        warm_up(local, args.warmup, args.partitions)
        tag = f"p1{uuid.uuid4().hex[:6]}"
        count = args.serial_sample if variant == "serial" else args.topics
        items = specs(count, tag)
        if variant == "raw":
            result = run_raw(local, items, args.partitions, product_order(), variant)
        elif variant == "raw-best":
            result = run_raw(local, items, args.partitions, BEST_ORDER, variant)
        elif variant == "serial":
            result = run_serial(local, items, args.partitions)
        else:
            result = run_topicdesk(local, items, args.partitions, folder, variant)
        verify(local, items, args.partitions)
    finally:
        kb.stop(state_dir, name)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serial-sample", type=int, default=100,
                        help="topics provisioned one at a time per round; the time is scaled to --topics")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--heap-mb", type=int, default=512)
    parser.add_argument("--what-if-quotas-first", action="store_true")
    parser.add_argument("--max-raw-ratio", type=float, default=1.5)
    parser.add_argument("--min-serial-ratio", type=float, default=30.0)
    args = parser.parse_args()

    variants = ["topicdesk", "raw", "raw-best", "serial"]
    if args.what_if_quotas_first:
        variants.insert(1, "td-quotas-first")
    print(f"P1: {args.topics} topics x {args.partitions} partitions, retention.ms, 5 ACL bindings and a quota each; "
          f"{args.rounds} rounds; serial sample {args.serial_sample} topics; heap {args.heap_mb} MiB")
    print(f"Topicdesk's executor order: {','.join(product_order())}")
    print(f"machine: {kb.machine()}", flush=True)
    rounds: list[dict[str, Result]] = []
    with kb.clusters("topicdesk-p1-") as state_dir, tempfile.TemporaryDirectory(prefix="topicdesk-p1-db-") as tmp:
        for r in range(1, args.rounds + 1):
            got: dict[str, Result] = {}
            for variant in variants if r % 2 else variants[::-1]:
                got[variant] = res = measure(variant, state_dir, Path(tmp), args, r)
                print(f"  round {r} {variant:<15} {kb.fmt_s(res.seconds)} for {res.topics} topics  {res.notes}",
                      flush=True)
            rounds.append(got)
        mem = in_memory_pass(args.topics, args.partitions, Path(tmp))
        print(f"  Topicdesk pass with an in-memory port (its own cost, no Kafka): {kb.fmt_s(mem.seconds)}  {mem.notes}")
    print(f"machine at the end: {kb.machine()}")

    scale = args.topics / args.serial_sample
    print()
    head = "".join(f"{v:>17}" for v in variants)
    print(f"{'round':<7}{head}{'TD/raw':>9}{'TD/best':>9}{'B/TD':>8}")
    best_ratios, same_ratios, serial_ratios = [], [], []
    for r, got in enumerate(rounds, 1):
        td = got["topicdesk"].seconds
        same_ratios.append(td / got["raw"].seconds)
        best_ratios.append(td / got["raw-best"].seconds)
        serial_ratios.append(got["serial"].seconds * scale / td)
        cells = "".join(f"{got[v].seconds * (scale if v == 'serial' else 1):>16.2f}s" for v in variants)
        print(f"{r:<7}{cells}{same_ratios[-1]:>9.2f}{best_ratios[-1]:>9.2f}{serial_ratios[-1]:>8.1f}")
    medians = {v: kb.median([g[v].seconds for g in rounds]) for v in variants}
    cells = "".join(f"{medians[v] * (scale if v == 'serial' else 1):>16.2f}s" for v in variants)
    print(f"{'median':<7}{cells}{kb.median(same_ratios):>9.2f}{kb.median(best_ratios):>9.2f}"
          f"{kb.median(serial_ratios):>8.1f}")
    print(f"serial (B) was measured on {args.serial_sample} topics per round (median {medians['serial']:.2f} s = "
          f"{medians['serial'] / args.serial_sample * 1000:.0f} ms per topic) and extrapolated linearly "
          f"x{scale:g} to {args.topics} topics")
    if args.what_if_quotas_first:
        qf = [g["td-quotas-first"].seconds for g in rounds]
        print(f"what-if (not the product): td-quotas-first / raw-best = "
              f"{kb.median([q / g['raw-best'].seconds for q, g in zip(qf, rounds, strict=True)]):.2f}, "
              f"serial / td-quotas-first = "
              f"{kb.median([g['serial'].seconds * scale / q for q, g in zip(qf, rounds, strict=True)]):.1f}")
    raw_ok = kb.median(best_ratios) <= args.max_raw_ratio
    serial_ok = kb.median(serial_ratios) >= args.min_serial_ratio
    print(f"Topicdesk / raw, same order ({','.join(product_order())}) = {kb.median(same_ratios):.2f} (for information)")
    print(f"Topicdesk / raw-best ({','.join(BEST_ORDER)}) = {kb.median(best_ratios):.2f} "
          f"(target <= {args.max_raw_ratio}): {'PASS' if raw_ok else 'FAIL'}")
    print(f"one-at-a-time / Topicdesk = {kb.median(serial_ratios):.1f} (target >= {args.min_serial_ratio:g}): "
          f"{'PASS' if serial_ok else 'FAIL'}")
    return 0 if raw_ok and serial_ok else 1


if __name__ == "__main__":
    sys.exit(main())
