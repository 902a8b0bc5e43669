"""P2: drift scan of one cluster holding 10,000 single-partition topics and 20,000 ACL bindings.

Setup (not timed): one local cluster; topics (1 partition, retention.ms set) and bindings created with
raw batched admin calls, chunked under KRaft's 10,000 records per operation; each topic has one
produce grant (Topic WRITE + DESCRIBE = 2 bindings) for one of --principals principals, each of which
also has a quota and a SCRAM-SHA-512 credential. The Topicdesk database manages all of it: its rows
(TopicRow, AccessGrantRow, ClientQuotaRow, ServiceAccountRow, observed) are inserted directly. Before
measuring, a sentinel quota set after the last topic must be visible: the broker publishes metadata
in order, so every topic's log exists by then and the broker is idle again.

scan  `topicdesk.services.drift.scan_cluster` with a fresh KafkaCluster port (as `topicdesk drift
      scan` builds one), closed afterwards: loads the desired rows, describes the cluster, computes
      drift and unmanaged resources, stores the report. The scan must find nothing.
raw   the bulk describe calls the scan needs, straight on confluent-kafka with fresh clients, started
      together as the adapter does: list_topics, describe_configs of every topic, describe_acls
      match-any, describe_user_scram_credentials, and DescribeClientQuotas (kafka-python, through
      adapters/kafka_quotas.py, as Topicdesk does: librdkafka has no quota API); every result is
      fetched.
The two alternate, --rounds times per size; the ratio is the median of per-round ratios.

Also reported per size: the Admin calls one scan makes (AdminClient methods and kafka-python quota
requests, counted at the client level) and the protocol requests librdkafka sent for it (from its
`debug=protocol` log), peak memory of this Python process during one scan (tracemalloc peak of
Python allocations; peak RSS above the RSS before the scan, from VmHWM after resetting it), and the
same for the raw calls.

Usage: .venv/bin/python bench/p2_drift_scan.py [--sizes 1000,10000] [--rounds 5]
Exit status 1 when scan / raw > 2 or the Admin calls grow with the topic count.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import gc
import os
import re
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from sqlalchemy import insert
from sqlalchemy.engine import Engine

import kafka_bench as kb
from topicdesk.adapters import kafka_quotas
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.kafka_cluster import KafkaCluster
from topicdesk.adapters.tables import AccessGrantRow, ClientQuotaRow, ServiceAccountRow, TopicRow, new_id, utcnow
from topicdesk.local_kafka import cluster as lk
from topicdesk.services.drift import DriftScan, scan_cluster

RETENTION_MS = "604800000"
BYTE_RATE = 2_097_152
# Records per operation stay 10% under KRaft's 10,000 (as the executor's chunking does).
MAX_RECORDS = 9_000
TOPIC_RECORDS = 3  # TopicRecord + 1 PartitionRecord + 1 ConfigRecord


def topic_name(i: int) -> str:
    return f"payments.p2.t{i:05d}"


def principal(i: int, principals: int) -> str:
    return f"User:payments.app{i % principals:03d}.writer"


# --- setup ---------------------------------------------------------------------------------------


def rows_like(model: Any, **defaults: Any) -> Callable[..., dict[str, Any]]:
    """Column dicts for a bulk INSERT, with the defaults a model instance gets."""
    template = model(**defaults)
    base = {c.name: getattr(template, c.name) for c in model.__table__.columns}

    def make(**values: Any) -> dict[str, Any]:
        return {**base, "id": new_id(), **values}

    return make


def observed(now: Any) -> dict[str, Any]:
    return {"generation": 1, "observed_generation": 1, "applied_at": now}


def seed_principals(local: lk.LocalCluster, engine: Engine, cluster: str, principals: int) -> None:
    client = kb.admin(local)
    users = [principal(i, principals) for i in range(principals)]
    upserts: list[Any] = [UserScramCredentialUpsertion(u[5:], ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                            f"pw-{u[5:]}".encode()) for u in users]
    kb.results(client.alter_user_scram_credentials(upserts, request_timeout=60))
    with kb.quota_admin(local) as quotas:
        alterations = [kafka_quotas.QuotaAlteration({kafka_quotas.USER: u[5:]},
                                                    {kafka_quotas.PRODUCER_BYTE_RATE: BYTE_RATE}) for u in users]
        kafka_quotas.alter_client_quotas(quotas, alterations, node_id=kafka_quotas.pick_node(quotas))
    now = utcnow()
    quota_row = rows_like(ClientQuotaRow, cluster=cluster, principal="x", owner_team="payments")
    account_row = rows_like(ServiceAccountRow, cluster=cluster, principal="x", owner_team="payments")
    with unit_of_work(engine) as session:
        session.execute(insert(ClientQuotaRow.__table__), [  # type: ignore[attr-defined]
            quota_row(principal=u, producer_byte_rate=BYTE_RATE, **observed(now)) for u in users])
        session.execute(insert(ServiceAccountRow.__table__), [  # type: ignore[attr-defined]
            account_row(principal=u, **observed(now)) for u in users])


def grow(local: lk.LocalCluster, engine: Engine, cluster: str, start: int, stop: int, principals: int) -> None:
    """Topics start..stop-1 and their bindings on the cluster, and their rows in the database."""
    client = kb.admin(local)
    indexes = list(range(start, stop))
    t = time.monotonic()
    for chunk in kb.chunked(indexes, MAX_RECORDS // TOPIC_RECORDS):
        new = [NewTopic(topic_name(i), 1, 1, config={"retention.ms": RETENTION_MS}) for i in chunk]
        kb.results(client.create_topics(new, operation_timeout=120, request_timeout=120), timeout=300)
    bindings = [AclBinding(ResourceType.TOPIC, topic_name(i), ResourcePatternType.LITERAL, principal(i, principals),
                           "*", op, AclPermissionType.ALLOW)
                for i in indexes for op in (AclOperation.WRITE, AclOperation.DESCRIBE)]
    for chunk in kb.chunked(bindings, MAX_RECORDS):
        kb.results(client.create_acls(chunk, request_timeout=120), timeout=300)
    print(f"  created {len(indexes)} topics and {len(bindings)} bindings in {time.monotonic() - t:.1f} s", flush=True)
    now = utcnow()
    topic_row = rows_like(TopicRow, cluster=cluster, name="x", owner_team="payments", partitions=1,
                          replication_factor=1)
    grant_row = rows_like(AccessGrantRow, cluster=cluster, topic="x", principal="x", access="produce",
                          granted_team="payments")
    with unit_of_work(engine) as session:
        session.execute(insert(TopicRow.__table__), [  # type: ignore[attr-defined]
            topic_row(name=topic_name(i), config={"retention.ms": RETENTION_MS}, managed_config_keys=["retention.ms"],
                      **observed(now)) for i in indexes])
        session.execute(insert(AccessGrantRow.__table__), [  # type: ignore[attr-defined]
            grant_row(topic=topic_name(i), principal=principal(i, principals), **observed(now)) for i in indexes])
    settle(local, f"sentinel{stop}")


def settle(local: lk.LocalCluster, user: str) -> None:
    """Wait until a quota set now is visible: the broker has published (and created logs for) everything before."""
    t = time.monotonic()
    with kb.quota_admin(local) as quotas:
        node = kafka_quotas.pick_node(quotas)
        kafka_quotas.alter_client_quotas(
            quotas, [kafka_quotas.QuotaAlteration({kafka_quotas.USER: user}, {kafka_quotas.CONSUMER_BYTE_RATE: 1})],
            node_id=node)

        def visible() -> bool:
            entries = kafka_quotas.describe_client_quotas(
                quotas, [kafka_quotas.QuotaFilter(kafka_quotas.USER, kafka_quotas.MatchType.EXACT, user)],
                strict=True, node_id=node)
            return bool(entries)

        kb.eventually(visible, timeout=600, interval=0.5, what="the broker to publish everything")
        kafka_quotas.alter_client_quotas(
            quotas, [kafka_quotas.QuotaAlteration({kafka_quotas.USER: user}, remove=[kafka_quotas.CONSUMER_BYTE_RATE])],
            node_id=node)
    print(f"  broker idle again after {time.monotonic() - t:.1f} s", flush=True)


# --- the measured operations ---------------------------------------------------------------------


def scan(local: lk.LocalCluster, engine: Engine, cluster: str, *, debug: bool = False,
         counts: collections.Counter[str] | None = None) -> DriftScan:
    port = KafkaCluster({**local.client_config(), **({"debug": "protocol"} if debug else {})})
    if counts is not None:
        port._admin = CountingAdmin(port._admin, counts)  # type: ignore[assignment]
    try:
        return scan_cluster(engine, cluster, port)
    finally:
        port.close()


def raw(local: lk.LocalCluster) -> tuple[int, int, int, int, int]:
    client = kb.admin(local)
    with kb.quota_admin(local) as quotas:
        acls_f = client.describe_acls(kb.any_acl_filter(), request_timeout=60)
        users_f = cast("concurrent.futures.Future[Any]", client.describe_user_scram_credentials(request_timeout=60))
        metadata = client.list_topics(timeout=60)
        names = [n for n in metadata.topics if not n.startswith("__")]
        configs = kb.results(client.describe_configs([ConfigResource(ResourceType.TOPIC, n) for n in names],
                                                     request_timeout=60))
        entries = kafka_quotas.describe_client_quotas(
            quotas, [kafka_quotas.QuotaFilter(kafka_quotas.USER, kafka_quotas.MatchType.ANY)], strict=True,
            node_id=kafka_quotas.pick_node(quotas))
        acls = acls_f.result(timeout=60)
        users = users_f.result(timeout=60)
    return len(names), len(configs), len(acls), len(entries), len(users)


# --- counting ------------------------------------------------------------------------------------


class CountingAdmin:
    """Counts every method call on the confluent-kafka AdminClient it wraps."""

    def __init__(self, inner: Any, counts: collections.Counter[str]) -> None:
        self._inner = inner
        self._counts = counts

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._counts[f"AdminClient.{name}"] += 1
            return target(*args, **kwargs)

        return call


@contextmanager
def counting_quota_requests(counts: collections.Counter[str]) -> Iterator[None]:
    original = kafka_quotas._send

    def send(admin: Any, request: Any, node_id: int | None) -> Any:
        counts[f"kafka-python {type(request).__name__}"] += 1
        return original(admin, request, node_id)

    kafka_quotas._send = send
    try:
        yield
    finally:
        kafka_quotas._send = original


@contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """librdkafka writes its debug log to file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("wb") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def count_calls(local: lk.LocalCluster, engine: Engine, cluster: str, folder: Path) -> tuple[dict[str, int], ...]:
    calls: collections.Counter[str] = collections.Counter()
    log = folder / "rdkafka-debug.log"
    with counting_quota_requests(calls), stderr_to(log):
        scan(local, engine, cluster, debug=True, counts=calls)
        time.sleep(0.5)  # let librdkafka's threads finish their log lines
    text = log.read_text(errors="replace")
    sent = collections.Counter(m.group(1) for m in re.finditer(r"Sent (\w+?)Request\b", text))
    return dict(sorted(calls.items())), dict(sorted(sent.items()))


def memory(run: Callable[[], Any]) -> tuple[float, float]:
    """(peak RSS above the RSS before, tracemalloc peak), in MiB, of two separate runs of `run`."""
    gc.collect()
    before = kb.rss_kib()
    if kb.reset_peak_rss():
        run()
        rss_peak = (kb.peak_rss_kib() - before) / 1024
    else:  # ru_maxrss is a lifetime high-water mark: only meaningful if the run exceeds it
        max_before = kb.maxrss_kib()
        run()
        rss_peak = (kb.maxrss_kib() - max_before) / 1024
    gc.collect()
    tracemalloc.start()
    try:
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return rss_peak, peak / 1024**2


# --- main ----------------------------------------------------------------------------------------


def measure_size(local: lk.LocalCluster, engine: Engine, cluster: str, size: int, args: argparse.Namespace,
                 folder: Path) -> dict[str, Any]:
    result = scan(local, engine, cluster)
    summary = (f"{len(result.items)} drift items, {len(result.unmanaged_topics)} unmanaged topics, "
               f"{len(result.unmanaged_acls)} unmanaged ACLs")
    print(f"  check: scan found {summary}")
    if result.items or result.unmanaged_topics or result.unmanaged_acls:
        raise RuntimeError(f"the scan should find nothing on a cluster that matches: {summary}; "
                           f"first items {result.items[:3]}")
    counts = raw(local)
    print(f"  check: raw saw {counts[0]} topics, {counts[1]} configs, {counts[2]} ACL bindings, "
          f"{counts[3]} quota entities, {counts[4]} SCRAM users")
    calls, sent = count_calls(local, engine, cluster, folder)
    print(f"  Admin calls of one scan: {sum(calls.values())} {calls}")
    print(f"  protocol requests confluent-kafka sent for it (its debug log): {sent}")

    scans, raws, ratios = [], [], []
    for r in range(1, args.rounds + 1):
        pair: dict[str, float] = {}
        for variant in (["scan", "raw"] if r % 2 else ["raw", "scan"]):
            gc.collect()
            t = time.monotonic()
            if variant == "scan":
                scan(local, engine, cluster)
            else:
                raw(local)
            pair[variant] = time.monotonic() - t
        scans.append(pair["scan"])
        raws.append(pair["raw"])
        ratios.append(pair["scan"] / pair["raw"])
        print(f"  round {r}: scan {pair['scan']:.2f} s, raw {pair['raw']:.2f} s, ratio {ratios[-1]:.2f}", flush=True)
    scan_mem = memory(lambda: scan(local, engine, cluster))
    raw_mem = memory(lambda: raw(local))
    print(f"  memory: scan peak RSS +{scan_mem[0]:.0f} MiB, tracemalloc peak {scan_mem[1]:.0f} MiB; "
          f"raw peak RSS +{raw_mem[0]:.0f} MiB, tracemalloc peak {raw_mem[1]:.0f} MiB")
    return {"size": size, "acls": counts[2], "scan": kb.median(scans), "raw": kb.median(raws),
            "ratio": kb.median(ratios), "ratios": ratios, "calls": sum(calls.values()), "call_kinds": calls,
            "sent": sent, "scan_mem": scan_mem, "raw_mem": raw_mem}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000", help="topic counts, ascending; the cluster grows")
    parser.add_argument("--principals", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--heap-mb", type=int, default=1024)
    parser.add_argument("--max-ratio", type=float, default=2.0)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"P2: drift scan at {sizes} single-partition topics, 2 ACL bindings each, {args.principals} principals "
          f"with a quota and a SCRAM credential; {args.rounds} rounds; heap {args.heap_mb} MiB")
    print(f"machine: {kb.machine()}")
    out = []
    with kb.clusters("topicdesk-p2-") as state_dir, tempfile.TemporaryDirectory(prefix="topicdesk-p2-db-") as tmp:
        folder = Path(tmp)
        local = kb.start(state_dir, "p2", args.heap_mb)
        engine = kb.fresh_database(folder, "p2")
        cluster = kb.register_cluster(engine, local)
        seed_principals(local, engine, cluster, args.principals)
        have = 0
        for size in sizes:
            print(f"{size} topics:", flush=True)
            grow(local, engine, cluster, have, size, args.principals)
            have = size
            out.append(measure_size(local, engine, cluster, size, args, folder))
        assert local.pid is not None
        jvm_rss = lk.jvm_rss_bytes(local.pid) or 0
        engine.dispose()
    print(f"(broker JVM RSS at the end: {jvm_rss / 1024**2:.0f} MiB)")

    print()
    print(f"{'topics':>7}{'ACLs':>8}{'scan':>9}{'raw':>9}{'ratio':>7}{'Admin calls':>13}"
          f"{'scan RSS+':>11}{'scan tracemalloc':>18}{'raw RSS+':>10}{'raw tracemalloc':>17}")
    for o in out:
        print(f"{o['size']:>7}{o['acls']:>8}{o['scan']:>8.2f}s{o['raw']:>8.2f}s{o['ratio']:>7.2f}{o['calls']:>13}"
              f"{o['scan_mem'][0]:>8.0f}MiB{o['scan_mem'][1]:>15.0f}MiB{o['raw_mem'][0]:>7.0f}MiB"
              f"{o['raw_mem'][1]:>14.0f}MiB")
    ratio_ok = all(o["ratio"] <= args.max_ratio for o in out)
    calls_ok = len({o["calls"] for o in out}) == 1
    ratios = ", ".join(f"{o['ratio']:.2f} at {o['size']}" for o in out)
    calls = ", ".join(f"{o['calls']} at {o['size']}" for o in out)
    print(f"scan / raw bulk describe (median of per-round ratios): {ratios} (target <= {args.max_ratio:g}): "
          f"{'PASS' if ratio_ok else 'FAIL'}")
    print(f"Admin calls per scan: {calls} (must not grow with the topic count): {'PASS' if calls_ok else 'FAIL'}")
    return 0 if ratio_ok and calls_ok else 1


if __name__ == "__main__":
    sys.exit(main())
