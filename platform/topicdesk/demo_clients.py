"""The demo's live clients on the legacy cluster: a producer writing numbered records and a consumer
reading them in its group, both at a low rate and as the topic's own service accounts, so a
migration can be watched while traffic flows.

    python -m topicdesk.demo_clients produce|consume --state-file S --accounts A [--rate 20]

Each reads the cluster's bootstrap from its local state file at start (a restarted broker may
have moved) and prints one progress line every 10 s.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import click

from topicdesk.demo_legacy import LIVE_TOPIC, LegacyTopic
from topicdesk.local_kafka.state import load_state

REPORT_EVERY = 10.0
_running = True


def _stop(_signum: int, _frame: FrameType | None) -> None:
    global _running
    _running = False


def client_config(state_file: Path, accounts: Path, principal: str) -> dict[str, Any]:
    cluster = load_state(state_file.parent, state_file.stem)
    if cluster is None:
        raise click.ClickException(f"no local cluster state in {state_file}")
    passwords = json.loads(accounts.read_text(encoding="utf-8"))
    return {**cluster.client_config(), "sasl.username": principal.removeprefix("User:"),
            "sasl.password": passwords[principal]}


def _log(line: str) -> None:
    click.echo(f"{time.strftime('%H:%M:%S')} {line}")
    sys.stdout.flush()


def next_number(conf: dict[str, Any], topic: str) -> int:
    """Continue the numbering after what the topic holds (records are never deleted in the demo's week)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({**conf, "group.id": "demo-producer-probe", "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for p in partitions:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            total += high
        return total
    finally:
        consumer.close()


def produce(conf: dict[str, Any], topic: LegacyTopic, rate: float) -> None:
    from confluent_kafka import Producer

    producer = Producer({**conf, "acks": "all", "enable.idempotence": True, "linger.ms": 5})
    n = _start_number(conf, topic.name)
    sent = failed = 0
    errors: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        nonlocal sent, failed
        if err is None:
            sent += 1
        else:
            failed += 1
            errors.append(str(err))

    _log(f"producing to {topic.name} as {topic.producer} at {rate:g} msg/s from n={n}")
    interval, next_at, report_at = 1.0 / rate, time.monotonic(), time.monotonic() + REPORT_EVERY
    while _running:
        value = json.dumps({"n": n, "topic": topic.name, "source": "demo-producer", "at": time.time()})
        producer.produce(topic.name, value.encode(), key=str(n).encode(), on_delivery=delivered)
        n += 1
        next_at += interval
        producer.poll(max(0.0, next_at - time.monotonic()))
        if time.monotonic() >= report_at:
            _log(f"delivered {sent}, failed {failed}, next n={n}" + (f"; last error: {errors[-1]}" if errors else ""))
            errors.clear()
            report_at += REPORT_EVERY
    producer.flush(10)
    _log(f"stopped: delivered {sent}, failed {failed}")


def _start_number(conf: dict[str, Any], topic: str) -> int:
    # The producer's account may describe but not read the topic; watermarks need only describe.
    try:
        return next_number(conf, topic)
    except Exception as exc:
        _log(f"could not read {topic}'s end offsets ({exc}); numbering from 0")
        return 0


def consume(conf: dict[str, Any], topic: LegacyTopic) -> None:
    from confluent_kafka import Consumer

    consumer = Consumer({**conf, "group.id": topic.group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": True, "auto.commit.interval.ms": 1000})
    consumer.subscribe([topic.name])
    read, last, report_at = 0, None, time.monotonic() + REPORT_EVERY
    _log(f"consuming {topic.name} as {topic.consumer} in group {topic.group}")
    try:
        while _running:
            msg = consumer.poll(0.5)
            if msg is not None:
                if msg.error() is not None:
                    _log(f"error: {msg.error()}")
                else:
                    read += 1
                    raw = msg.value()
                    if raw:
                        last = json.loads(raw).get("n")
            if time.monotonic() >= report_at:
                _log(f"read {read} records, last n={last}")
                report_at += REPORT_EVERY
    finally:
        consumer.close()


@click.command()
@click.argument("role", type=click.Choice(["produce", "consume"]))
@click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--accounts", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--rate", type=click.FloatRange(min=0.1, max=1000), default=20.0, show_default=True)
def main(role: str, state_file: Path, accounts: Path, rate: float) -> None:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    topic = LIVE_TOPIC
    principal = topic.producer if role == "produce" else topic.consumer
    conf = client_config(state_file, accounts, principal)
    if role == "produce":
        produce(conf, topic, rate)
    else:
        consume(conf, topic)


if __name__ == "__main__":
    main()
