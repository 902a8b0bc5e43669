"""Examples of ../shared/api-contract.md, verbatim: the schemas, the policies and the benchmarks use them."""

from __future__ import annotations

from typing import Any

CONTRACT_TOPIC_CREATE: dict[str, Any] = {
    "kind": "topic.create",
    "cluster": "payments-dev",
    "spec": {
        "name": "payments.invoices.v1",
        "partitions": 6,
        "replication_factor": 1,
        "config": {"retention.ms": "604800000", "cleanup.policy": "delete"},
        "description": "Invoices issued",
        "producers": ["User:payments.invoice-writer"],
        "consumers": [{"principal": "User:payments.invoice-reader", "group": "payments.invoice-readers"}],
    },
    "reason": "new service",
}
