"""P8: MirrorMaker 2 as Topicdesk runs it (adapters/mirror_process.py) against a raw copy, and the
consumer pause of a cut-over.

Setup (not timed): two local single-node clusters on this machine, started by local_kafka like the
other benches: a Kafka 3.9 source ("legacy") and a 4.3.1 target, SASL/SCRAM and ACLs as always.
--records records of --size bytes (key = record number, value padded to size, two headers) are
produced to a source topic of --partitions partitions; the target topics are created first, as
Topicdesk does from the plan.

Throughput, per round (fresh topics each round):
  mm2  `ProcessMirrorEngine.ensure_running` of a mirror of that topic, the configuration the
       product ships (mirror_config.py: offset syncs every 100 records, checkpoints and group sync
       every second, acks=all idempotent producer, --mm2-tasks tasks; the JVM flags of
       mirror_process.mirror_jvm_options, or --mm2-jvm g1-20ms for the brokers' G1 it ran with
       before). "start" is until the first record is on the target (JVM start, herder, task
       assignment); the copy's progress is the target's end offsets, polled every 50 ms.
  raw  one confluent-kafka consumer -> producer loop in this process copying the same topic to
       another target topic, keeping what MirrorMaker keeps (partition, key, value, headers,
       timestamp) with the same guarantees (acks=all idempotent producer; linger 5 ms, 1 MiB
       batches); its progress is its delivery reports.
  Both copies are timed alike, from the first record on the target to the last. Ratio = mm2 copy
  rate / raw copy rate over the whole copy: the verdict (target >= 0.5, median over --rounds;
  the order alternates per round). Also printed, not the verdict: both rates after the first
  --warm-up seconds (2) of the copy, which leaves out the JIT's warm-up.

Cut-over pause (one run, --pause-rate records/s live): a producer writes numbered records to a
fresh source topic all along, MirrorMaker mirrors it with a group, and a consumer of that group
reads on the source, committing after every batch, until the gate of consumers_cut_over holds
(the group's offsets show up translated on the target, the mirror's lag is <= 1000 records) and
3 s more. Then the consumer is closed (its last commit synchronous): t0. The cut-over waits until
the group's offsets on the target are within --offset-lag-max of the source's last commit on
every partition (polled every 100 ms, at most 10 s; then it goes on with what is there and the
re-reads count the difference). Then
the consumer starts on the target with the same group id: t1 is its first record. Reported: the
pause t1 - t0, the wait for translation within it, the records it read again (numbers it had
read on the source) and the records missed (must be 0) once the producer stopped and both
consumers' numbers are compared with what was produced.

Usage: PYTHONPATH=platform .venv/bin/python bench/p8_migration.py [--records 1000000] [--size 1024]
       [--partitions 6] [--rounds 1] [--mm2-tasks 2] [--pause-rate 2000] [--offset-lag-max 100]
       [--warm-up 2] [--mm2-jvm shipped|g1-20ms] [--no-cut-over]
Exit status 1 when the ratio is below 0.5 or a record was missed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

import kafka_bench as kb
from topicdesk.adapters.mirror_process import ProcessMirrorEngine, mirror_jvm_options
from topicdesk.local_kafka import cluster as lk
from topicdesk.local_kafka.config import jvm_options
from topicdesk.local_kafka.distribution import ensure_kafka_libs, ensure_mirror_libs
from topicdesk.services.mirror_port import ClusterEndpoint, MirrorSpec

TARGET_RATIO = 0.5
MIRROR_LAG_GATE = 1000  # records: domain/migration.py's default for entering consumers_cut_over
HEAP_MB = 512
# MirrorMaker's JVM flags: as shipped, and the brokers' (G1, 20 ms pause goal) it used before.
JVM_VARIANTS = {"shipped": mirror_jvm_options, "g1-20ms": jvm_options}


# (monotonic time, records on the target so far, CPU seconds the copying process used so far)
Progress = list[tuple[float, int, float]]


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of `pid` (all its threads), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def cpu_per_record(progress: Progress) -> float:
    """Microseconds of the copier's CPU per record copied, first to last record on the target: what
    the copy costs, which a loaded machine changes far less than the rates."""
    return (progress[-1][2] - progress[0][2]) / max(1, progress[-1][1] - progress[0][1]) * 1e6


def load_average() -> str:
    with open("/proc/loadavg") as handle:
        return handle.read().split()[0]


def conf(cluster: lk.LocalCluster, **extra: Any) -> dict[str, Any]:
    return {**cluster.client_config(), **extra}


def endpoint(cluster: lk.LocalCluster) -> ClusterEndpoint:
    return ClusterEndpoint(cluster.name, cluster.bootstrap, cluster.admin_username, cluster.admin_password)


def create_topics(cluster: lk.LocalCluster, names: list[str], partitions: int) -> None:
    admin = AdminClient(conf(cluster))
    kb.results(admin.create_topics([NewTopic(n, partitions, 1) for n in names]))


def end_offsets(consumer: Consumer, topic: str, partitions: int) -> int:
    return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), 10, cached=False)[1]
               for p in range(partitions))


def produce_records(cluster: lk.LocalCluster, topic: str, records: int, size: int, partitions: int) -> None:
    producer = Producer(conf(cluster, **{"enable.idempotence": True, "linger.ms": 20, "batch.size": 1 << 20,
                                         "queue.buffering.max.messages": 500_000}))
    pad = b"x" * size
    for n in range(records):
        key = str(n).encode()
        value = (key + b":" + pad)[:size]
        while True:
            try:
                producer.produce(topic, key=key, value=value, partition=n % partitions,
                                 headers=[("n", key), ("origin", b"legacy")])
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(120) == 0


def mirror_spec(mirror_id: str, source: lk.LocalCluster, target: lk.LocalCluster, topics: tuple[str, ...],
                groups: tuple[str, ...], tasks: int, offset_lag_max: int = MirrorSpec.offset_lag_max) -> MirrorSpec:
    return MirrorSpec(mirror_id=mirror_id, source=endpoint(source), target=endpoint(target), topics=topics,
                      groups=groups, offset_lag_max=offset_lag_max, internal_replication_factor=1,
                      extra={"tasks.max": str(tasks)})


def steady_rate(progress: Progress, warm_up: float) -> float:
    """Records per second over `progress` (time, records on the target) after its first `warm_up`
    seconds: the copy's rate once the JVM's JIT (or librdkafka's queues) warmed up."""
    began = progress[0][0] + warm_up
    after = [(t, n) for t, n, _cpu in progress if t >= began]
    if len(after) < 2 or after[-1][0] - after[0][0] <= 0:
        return float("nan")
    return (after[-1][1] - after[0][1]) / (after[-1][0] - after[0][0])


def measure_mm2(engine: ProcessMirrorEngine, source: lk.LocalCluster, target: lk.LocalCluster, topic: str,
                records: int, partitions: int, tasks: int, offset_lag_max: int) -> tuple[float, Progress]:
    """(start seconds, progress) of MirrorMaker copying `topic`: progress is (time, records on the
    target) from the first record on the target to the last."""
    watcher = Consumer(conf(target, **{"group.id": f"watch-{uuid.uuid4().hex}"}))
    mirror_id = f"p8-{uuid.uuid4().hex[:8]}"
    try:
        began = time.monotonic()
        engine.ensure_running(mirror_spec(mirror_id, source, target, (topic,), (), tasks, offset_lag_max))
        progress: Progress = []
        pid = engine.pid(mirror_id) or 0
        while not progress or progress[-1][1] < records:
            copied = end_offsets(watcher, topic, partitions)
            now = time.monotonic()
            if copied > 0:
                progress.append((now, copied, process_cpu(pid)))
            if copied < records:
                if now - began > 600:
                    raise SystemExit(f"MirrorMaker copied {copied} of {records} in 600 s: {engine.status(mirror_id)}")
                time.sleep(0.05)
        return progress[0][0] - began, progress
    finally:
        watcher.close()
        engine.stop(mirror_id)


def measure_raw(source: lk.LocalCluster, target: lk.LocalCluster, topic: str, copy_topic: str, records: int,
                partitions: int) -> Progress:
    """Progress (time, records delivered) of a consume -> produce copy of `topic` into `copy_topic`,
    from the first delivery to the last: the same points mm2's progress has."""
    consumer = Consumer(conf(source, **{"group.id": f"raw-{uuid.uuid4().hex}", "enable.auto.commit": False,
                                        "fetch.max.bytes": 64 << 20, "max.partition.fetch.bytes": 8 << 20,
                                        "queued.max.messages.kbytes": 256 << 10}))
    producer = Producer(conf(target, **{"enable.idempotence": True, "acks": "all", "linger.ms": 5,
                                        "batch.size": 1 << 20, "queue.buffering.max.messages": 500_000}))
    delivered = [0]
    progress: Progress = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is None:
            delivered[0] += 1

    def mark() -> None:
        if delivered[0] and (not progress or progress[-1][1] != delivered[0]):
            progress.append((time.monotonic(), delivered[0], own_cpu()))

    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    try:
        copied = 0
        while copied < records:
            for m in consumer.consume(10_000, 1.0):
                if m.error() is not None:
                    continue
                while True:
                    try:
                        # What MirrorMaker keeps: partition, key, value, headers and the timestamp.
                        producer.produce(copy_topic, key=m.key(), value=m.value(), partition=m.partition() or 0,
                                         headers=m.headers(), timestamp=m.timestamp()[1], on_delivery=on_delivery)
                        break
                    except BufferError:
                        producer.poll(0.05)
                        mark()
                copied += 1
            producer.poll(0)
            mark()
        while delivered[0] < records and producer.flush(0.05) > 0:
            mark()
        assert producer.flush(120) == 0
        mark()
        assert delivered[0] == records, delivered[0]
        return progress
    finally:
        consumer.close()


class LiveProducer(threading.Thread):
    """Numbered records at `rate` per second until stopped."""

    def __init__(self, cluster: lk.LocalCluster, topic: str, rate: int, partitions: int) -> None:
        super().__init__(daemon=True)
        self.producer = Producer(conf(cluster, **{"enable.idempotence": True, "linger.ms": 5}))
        self.topic, self.rate, self.partitions = topic, rate, partitions
        self.sent = 0
        self.halt = threading.Event()

    def run(self) -> None:
        began = time.monotonic()
        while not self.halt.is_set():
            due = int((time.monotonic() - began) * self.rate)
            while self.sent < due:
                self.producer.produce(self.topic, key=str(self.sent).encode(), value=str(self.sent).encode(),
                                      partition=self.sent % self.partitions)
                self.sent += 1
            self.producer.poll(0.01)
        assert self.producer.flush(30) == 0


def consume_numbers(cluster: lk.LocalCluster, topic: str, group: str, until: Any,
                    first_record: list[float] | None = None) -> list[int]:
    consumer = Consumer(conf(cluster, **{"group.id": group, "auto.offset.reset": "earliest",
                                         "enable.auto.commit": False}))
    consumer.subscribe([topic])
    numbers: list[int] = []
    try:
        while not until(numbers):
            batch = [m for m in consumer.consume(1000, 0.2) if m.error() is None]
            if batch and first_record is not None and not first_record:
                first_record.append(time.monotonic())
            numbers.extend(int(m.value() or b"-1") for m in batch)
            if batch:
                consumer.commit(asynchronous=True)
        with contextlib.suppress(KafkaException):  # _NO_OFFSET: nothing read since the last commit
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return numbers


def group_offsets(cluster: lk.LocalCluster, group: str, topic: str) -> dict[int, int]:
    admin = AdminClient(conf(cluster))
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.topic == topic and tp.offset >= 0}


def measure_pause(engine: ProcessMirrorEngine, source: lk.LocalCluster, target: lk.LocalCluster, partitions: int,
                  rate: int, offset_lag_max: int) -> dict[str, float]:
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"p8.cutover.v1-{suffix}", f"p8.readers-{suffix}"
    for cluster in (source, target):
        create_topics(cluster, [topic], partitions)
    producer = LiveProducer(source, topic, rate, partitions)
    producer.start()
    mirror_id = f"p8-cut-{suffix}"
    engine.ensure_running(mirror_spec(mirror_id, source, target, (topic,), (group,), 1, offset_lag_max))
    try:
        kb.eventually(lambda: engine.status(mirror_id).running, 120, 0.5, "MirrorMaker running")
        # The consumer reads on the source, as the live application does, until MirrorMaker has
        # translated its offsets onto the target (the driver's gate before a consumer cut-over)
        # and a few seconds more.
        stop_reading = threading.Event()
        on_source: list[int] = []
        reader = threading.Thread(target=lambda: on_source.extend(
            consume_numbers(source, topic, group, lambda _n: stop_reading.is_set())), daemon=True)
        reader.start()
        kb.eventually(lambda: len(group_offsets(target, group, topic)) == partitions, 120, 0.5,
                      "the group's first translated offsets on the target")
        # The step machine's gate before consumers cut over: the mirror has caught up (lag <= 1000).
        watcher = Consumer(conf(source, **{"group.id": f"watch-{suffix}"}))
        target_watcher = Consumer(conf(target, **{"group.id": f"watch-{suffix}"}))
        kb.eventually(lambda: end_offsets(watcher, topic, partitions) - end_offsets(target_watcher, topic, partitions)
                      <= MIRROR_LAG_GATE, 300, 0.5, "the mirror's lag within the gate")
        watcher.close()
        target_watcher.close()
        time.sleep(3)
        stop_reading.set()
        reader.join()
        t0 = time.monotonic()
        final = group_offsets(source, group, topic)

        def translated() -> bool:
            on_target = group_offsets(target, group, topic)
            return all(on_target.get(p, -1) >= final[p] - offset_lag_max for p in final)

        # Within the bound once MirrorMaker has copied past the group's last position and the next
        # checkpoint and group sync ran (a second each); if not within 10 s, go on with what is
        # there and let the re-reads count the difference.
        with contextlib.suppress(RuntimeError):
            kb.eventually(translated, 10, 0.1, "group offsets translated on the target")
        t_translated = time.monotonic()
        first: list[float] = []
        stop_at: list[float] = []

        def drained(numbers: list[int]) -> bool:
            if first and not stop_at and time.monotonic() - first[0] > 3:
                producer.halt.set()
                producer.join()
                stop_at.append(time.monotonic())
            return bool(stop_at) and bool(numbers) and max(numbers) >= producer.sent - 1 \
                and len(set(on_source) | set(numbers)) >= producer.sent

        on_target = consume_numbers(target, topic, group, lambda n: drained(n) or time.monotonic() - t0 > 120,
                                    first)
    finally:
        producer.halt.set()
        engine.stop(mirror_id)
    seen_on_source = set(on_source)
    missed = set(range(producer.sent)) - seen_on_source - set(on_target)
    return {"pause": (first[0] if first else float("nan")) - t0, "translation": t_translated - t0,
            "re_read": float(sum(1 for n in on_target if n in seen_on_source)),
            "missed": float(len(missed)), "produced": float(producer.sent), "on_source": float(len(on_source))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 1 GiB: a mirror copies for hours, so its rate once the JVM's JIT has warmed up is what a
    # migration sees; at 200,000 records a 3 s copy is mostly warm-up (docs/benchmarks.md, P8).
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--mm2-tasks", type=int, default=MirrorSpec.tasks)
    parser.add_argument("--pause-rate", type=int, default=2000)
    # MirrorSpec's default, which is MirrorMaker's own (100).
    parser.add_argument("--offset-lag-max", type=int, default=MirrorSpec.offset_lag_max,
                        help="records between offset syncs (the port's default)")
    parser.add_argument("--warm-up", type=float, default=2.0,
                        help="seconds of each copy left out of the 'after' rate (reported, not the verdict)")
    parser.add_argument("--mm2-jvm", choices=sorted(JVM_VARIANTS), default="shipped",
                        help="MirrorMaker's JVM flags: as shipped, or the brokers' G1 with a 20 ms pause goal")
    parser.add_argument("--no-cut-over", action="store_true", help="throughput rounds only")
    args = parser.parse_args()

    ensure_kafka_libs("3.9")
    ensure_mirror_libs()  # fetching jars is never timed
    print(f"P8 migration: {args.records:,} records x {args.size} B, {args.partitions} partitions, "
          f"MirrorMaker tasks {args.mm2_tasks}, offset.lag.max {args.offset_lag_max}; {kb.machine()}")
    ratios: list[float] = []
    steady_ratios: list[float] = []
    failed = False
    with kb.clusters("p8-") as state_dir:
        (source,) = lk.up(["p8-legacy"], state_dir, kafka_version="3.9", heap_mb=HEAP_MB)
        (target,) = lk.up(["p8-target"], state_dir, heap_mb=HEAP_MB)
        engine = ProcessMirrorEngine(Path(tempfile.mkdtemp(prefix="p8-mirrors-")), heap_mb=HEAP_MB,
                                     jvm_options=JVM_VARIANTS[args.mm2_jvm])
        try:
            mib = args.records * args.size / (1 << 20)
            for round_no in range(1, args.rounds + 1):
                topic = f"p8.orders.v1-{uuid.uuid4().hex[:8]}"
                create_topics(source, [topic], args.partitions)
                create_topics(target, [topic, f"{topic}-raw"], args.partitions)
                produce_records(source, topic, args.records, args.size, args.partitions)
                # Alternate the order so neither variant always runs on a warmer broker.
                order = ["mm2", "raw"] if round_no % 2 else ["raw", "mm2"]
                progress: dict[str, Progress] = {}
                mm2_start = 0.0
                for variant in order:
                    if variant == "mm2":
                        mm2_start, progress["mm2"] = measure_mm2(engine, source, target, topic, args.records,
                                                                 args.partitions, args.mm2_tasks, args.offset_lag_max)
                    else:
                        progress["raw"] = measure_raw(source, target, topic, f"{topic}-raw", args.records,
                                                      args.partitions)
                # Both copies timed alike: from the first record on the target to the last.
                copy = {v: p[-1][0] - p[0][0] for v, p in progress.items()}
                steady = {v: steady_rate(p, args.warm_up) for v, p in progress.items()}
                ratio = copy["raw"] / copy["mm2"]
                ratios.append(ratio)
                steady_ratios.append(steady["mm2"] / steady["raw"])
                print(f"round {round_no}: mm2 start {mm2_start:.1f} s, copy {copy['mm2']:.2f} s "
                      f"({args.records / copy['mm2']:,.0f} rec/s, {mib / copy['mm2']:.1f} MiB/s; after "
                      f"{args.warm_up:g} s {steady['mm2']:,.0f} rec/s); raw copy {copy['raw']:.2f} s "
                      f"({args.records / copy['raw']:,.0f} rec/s, {mib / copy['raw']:.1f} MiB/s; after "
                      f"{args.warm_up:g} s {steady['raw']:,.0f} rec/s); mm2/raw {ratio:.2f}x "
                      f"(after {args.warm_up:g} s {steady_ratios[-1]:.2f}x); CPU per record mm2 "
                      f"{cpu_per_record(progress['mm2']):.1f} us, raw {cpu_per_record(progress['raw']):.1f} us; "
                      f"load {load_average()}")
            if args.no_cut_over:
                pause = {"missed": 0.0}
            else:
                pause = measure_pause(engine, source, target, args.partitions, args.pause_rate, args.offset_lag_max)
                print(f"cut-over at {args.pause_rate} rec/s: pause {pause['pause']:.2f} s (translation "
                      f"{pause['translation']:.2f} s of it), re-read {pause['re_read']:.0f} records, missed "
                      f"{pause['missed']:.0f} of {pause['produced']:.0f} ({pause['on_source']:.0f} read on the source)")
            failed = pause["missed"] > 0
        finally:
            for pid in engine.running_pids():
                print(f"MirrorMaker pid {pid} still running; stopping it", file=sys.stderr)
            for folder in (engine.state_dir / "mirrors").glob("*"):
                engine.stop(folder.name)
            shutil.rmtree(engine.state_dir, ignore_errors=True)  # mm2.properties hold passwords
    verdict = kb.median(ratios)
    outcome = "met" if verdict >= TARGET_RATIO else "MISSED"
    print(f"median mm2/raw {verdict:.2f}x over the whole copy (after {args.warm_up:g} s: "
          f"{kb.median(steady_ratios):.2f}x, not the verdict) (target >= {TARGET_RATIO}) -> {outcome}")
    return 1 if failed or verdict < TARGET_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())
