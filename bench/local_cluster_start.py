"""Cold and warm start time and resident memory of one local Kafka cluster.

cold: empty state folder -> format + JVM start + describe_cluster answers (admin over SASL/SCRAM)
warm: the same cluster stopped cleanly and started again on its existing data folder
RSS:  VmRSS of the JVM from /proc right after it answers, and after a small workload
      (one topic, 20,000 messages of 1 KiB produced and consumed back as admin)

Usage: PYTHONPATH=platform python bench/local_cluster_start.py [--runs 3] [--heap-mb 256]
The Kafka jars must be fetchable or cached (fetching is done before any timing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka.distribution import KAFKA_VERSION, ensure_kafka_libs


def timed_up(state_dir: Path, heap_mb: int, libs: Path) -> tuple[float, int, str]:
    start = time.monotonic()
    (cluster,) = lk.up(["bench"], state_dir, heap_mb=heap_mb, libs=libs)
    elapsed = time.monotonic() - start
    assert cluster.pid is not None
    rss = lk.jvm_rss_bytes(cluster.pid) or 0
    return elapsed, rss, cluster.origin


def workload(cluster: lk.LocalCluster, messages: int = 20_000) -> None:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient(cluster.client_config())
    for future in admin.create_topics([NewTopic("bench.load", 3, 1)], operation_timeout=30).values():
        future.result(timeout=60)
    producer = Producer({**cluster.client_config(), "linger.ms": 5})
    payload = os.urandom(1024)
    for i in range(messages):
        while True:
            try:
                producer.produce("bench.load", payload, key=str(i).encode())
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0
    consumer = Consumer({**cluster.client_config(), "group.id": "bench", "auto.offset.reset": "earliest"})
    consumer.subscribe(["bench.load"])
    seen, deadline = 0, time.monotonic() + 120
    while seen < messages and time.monotonic() < deadline:
        batch = consumer.consume(1000, 1.0)
        seen += sum(1 for m in batch if m.error() is None)
    consumer.close()
    assert seen >= messages, f"consumed {seen} of {messages}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--heap-mb", type=int, default=lk.DEFAULT_HEAP_MB)
    args = parser.parse_args()

    libs = ensure_kafka_libs()
    cold: list[float] = []
    warm: list[float] = []
    rss_cold: list[int] = []
    rss_warm: list[int] = []
    rss_load: list[int] = []
    print(f"Kafka {KAFKA_VERSION}, heap {args.heap_mb} MiB, {os.cpu_count()} CPUs, {args.runs} runs")
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="topicdesk-bench-") as tmp:
            state_dir = Path(tmp)
            try:
                t_cold, r_cold, origin = timed_up(state_dir, args.heap_mb, libs)
                assert origin == "formatted", origin
                lk.down(state_dir)
                t_warm, r_warm, origin = timed_up(state_dir, args.heap_mb, libs)
                assert origin == "restarted", origin
                (cluster,) = lk.status(state_dir)
                assert cluster.cluster.pid is not None
                workload(cluster.cluster)
                r_load = lk.jvm_rss_bytes(cluster.cluster.pid) or 0
            finally:
                lk.down(state_dir)
        cold.append(t_cold)
        warm.append(t_warm)
        rss_cold.append(r_cold)
        rss_warm.append(r_warm)
        rss_load.append(r_load)
        print(f"run {run}: cold {t_cold:.2f}s (RSS {r_cold / 2**20:.0f} MiB)  "
              f"warm {t_warm:.2f}s (RSS {r_warm / 2**20:.0f} MiB)  "
              f"after workload RSS {r_load / 2**20:.0f} MiB")
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"median cold start: {c:.2f}s")
    print(f"median warm start: {w:.2f}s")
    print(f"warm/cold ratio:   {w / c:.2f}")
    print(f"median RSS when ready: cold {statistics.median(rss_cold) / 2**20:.0f} MiB, "
          f"warm {statistics.median(rss_warm) / 2**20:.0f} MiB, "
          f"after workload {statistics.median(rss_load) / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
