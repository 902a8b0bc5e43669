"""The one error type of the local-Kafka feature.

Every failure a developer can hit while fetching or running local clusters ends here, with a
single-line message that says what was being done, what is missing and where to look, so the
CLI can print it as-is instead of a Java or Maven stack trace.
"""

from __future__ import annotations

from topicdesk.domain.errors import TopicdeskError


class LocalKafkaError(TopicdeskError):
    status = 503
    reason = "local_kafka_unavailable"
    title = "Local Kafka unavailable"

    def __init__(self, message: str) -> None:
        # Callers pass text that may carry tool output; keep the message to one line so a CLI
        # prints it on one line and a log line stays greppable.
        super().__init__(" ".join(message.split()))


class PortInUseError(LocalKafkaError):
    """A port a local cluster needs is taken; `port` says which."""

    def __init__(self, port: int, message: str) -> None:
        super().__init__(message)
        self.port = port
