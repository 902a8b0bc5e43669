"""Real Kafka clients for tests: produce and consume as a given principal, wait for async effects."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

from topicdesk.local_kafka.cluster import LocalCluster

T = TypeVar("T")


def eventually(check: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.3,
               retry_on: tuple[type[Exception], ...] = (KafkaException, AssertionError)) -> T:
    """Metadata and ACL changes reach the broker asynchronously: poll for a bounded time."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except retry_on as exc:
            last = exc
        else:
            if result is not None:
                return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last error: {last})")


def as_user(cluster: LocalCluster, principal: str, password: str, **extra: Any) -> dict[str, Any]:
    user = principal.partition(":")[2] if principal.startswith("User:") else principal
    return {**cluster.client_config(), "sasl.username": user, "sasl.password": password, **extra}


def produce_one(conf: dict[str, Any], topic: str, value: bytes) -> KafkaError | None:
    """Produce one message; the delivery error, or None when it was delivered."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**conf, "message.timeout.ms": 8000, "enable.idempotence": True})
    producer.produce(topic, value, on_delivery=lambda err, _msg: outcome.append(err))
    assert producer.flush(15) == 0, "delivery report did not arrive"
    return outcome[0]


def consume_one(conf: dict[str, Any], topic: str, timeout: float = 15.0) -> bytes | KafkaError:
    """The first message, or the first error the consumer reports."""
    consumer = Consumer({**conf, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                return err
            value = msg.value()
            assert isinstance(value, bytes)
            return value
        raise AssertionError("neither a message nor an error arrived")
    finally:
        consumer.close()


def consume_and_commit(conf: dict[str, Any], topic: str, count: int = 1, timeout: float = 15.0) -> int:
    """Read `count` messages in the conf's group and commit their offsets synchronously; how many were read."""
    consumer = Consumer({**conf, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    read = 0
    try:
        deadline = time.monotonic() + timeout
        while read < count and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                raise KafkaException(msg.error())
            read += 1
        if read:
            consumer.commit(asynchronous=False)
        return read
    finally:
        consumer.close()


def authenticates(conf: dict[str, Any], timeout: float = 8.0) -> KafkaError | None:
    """None when the broker lets these credentials in (a metadata request answers), else its error."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(conf)
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        error: KafkaError = exc.args[0]
        return error
    return None
