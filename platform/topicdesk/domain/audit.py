"""The tamper-evident audit chain, as pure functions.

Each event's hash covers its own content and the previous event's hash, so editing, deleting or
reordering any event breaks every later link. The head (last sequence number and hash) is kept
apart from the events, so truncating the tail is detected too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    event_id: str
    occurred_at: datetime
    actor: str
    action: str
    subject: str
    data: dict[str, Any]
    prev_hash: str
    hash: str


def canonical_time(moment: datetime) -> str:
    # Microsecond precision and an explicit UTC offset: both backends return the same text.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    prev_hash: str, seq: int, event_id: str, occurred_at: datetime, actor: str, action: str, subject: str,
    data: dict[str, Any],
) -> str:
    body = json.dumps(
        [prev_hash, seq, event_id, canonical_time(occurred_at), actor, action, subject, data],
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    events: int
    head: str
    first_bad: int | None
    problem: str | None = None
    # Events recorded but not chained yet (they wait in the inbox for the sequencer), and since when.
    pending: int = 0
    oldest_pending: datetime | None = None


def verify_chain(records: Iterable[AuditRecord], head_seq: int, head_hash: str) -> ChainVerdict:
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    for record in records:
        count += 1
        if record.seq != expected_seq:
            return ChainVerdict(False, count, head_hash, record.seq, f"sequence gap before event {record.seq}")
        if record.prev_hash != expected_prev:
            return ChainVerdict(False, count, head_hash, record.seq, "previous-hash link broken")
        recomputed = event_hash(record.prev_hash, record.seq, record.event_id, record.occurred_at, record.actor,
                                record.action, record.subject, record.data)
        if recomputed != record.hash:
            return ChainVerdict(False, count, head_hash, record.seq, "content does not match its hash")
        expected_prev = record.hash
        expected_seq += 1
    if count != head_seq or expected_prev != head_hash:
        # Events after the last intact one were removed (or the head was rewound).
        return ChainVerdict(False, count, head_hash, count + 1 if count < head_seq else head_seq,
                            "events missing at the end of the chain")
    return ChainVerdict(True, count, head_hash, None)
