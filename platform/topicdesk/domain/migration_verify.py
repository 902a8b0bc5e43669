"""Verification that nothing was lost (pure): per partition, counts equal and sampled records identical.

Run by the driver once write access on the source is removed and the mirror drained, before
producers switch. For every partition of every migrated topic:

- the source's record count (latest - earliest) equals the target's;
- the records at sampled source offsets (the first, the last and `k` spread between) are
  byte-identical (key, value, headers, timestamp) to the target's records at the mapped offset
  `target earliest + (source offset - source earliest)`.

The mapping holds because the target topics are created fresh by the migration and MirrorMaker
copies every record in order; compacted topics or transactional producers (whose markers take
offsets) break it, and verification then fails loudly rather than passing by accident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from topicdesk.domain.migration_measure import Partition, PartitionEnds, SampledRecord

DEFAULT_SAMPLES = 5


def sample_offsets(ends: PartitionEnds, k: int = DEFAULT_SAMPLES) -> list[int]:
    """The first, the last and `k` offsets spread evenly between them (fewer when the partition is small)."""
    if ends.count <= 0:
        return []
    first, last = ends.earliest, ends.latest - 1
    picks = {first, last}
    for i in range(1, k + 1):
        picks.add(first + (last - first) * i // (k + 1))
    return sorted(picks)


def mapped_offset(source: PartitionEnds, target: PartitionEnds, offset: int) -> int:
    return target.earliest + (offset - source.earliest)


def samples(source: Mapping[Partition, PartitionEnds], target: Mapping[Partition, PartitionEnds],
            k: int = DEFAULT_SAMPLES) -> tuple[dict[Partition, list[int]], dict[Partition, list[int]]]:
    """(source offsets, target offsets) to read, per partition present on both sides."""
    src: dict[Partition, list[int]] = {}
    tgt: dict[Partition, list[int]] = {}
    for partition, ends in source.items():
        if partition not in target:
            continue
        offsets = sample_offsets(ends, k)
        src[partition] = offsets
        tgt[partition] = [mapped_offset(ends, target[partition], o) for o in offsets]
    return src, tgt


def verify(source: Mapping[Partition, PartitionEnds], target: Mapping[Partition, PartitionEnds],
           source_records: Mapping[tuple[str, int, int], SampledRecord],
           target_records: Mapping[tuple[str, int, int], SampledRecord], *, at: datetime,
           k: int = DEFAULT_SAMPLES) -> dict[str, Any]:
    """The verification result stored on the migration and in its `migration:verify` audit event."""
    partitions: list[dict[str, Any]] = []
    mismatches: list[dict[str, Any]] = []
    for (topic, number), ends in sorted(source.items()):
        other = target.get((topic, number))
        if other is None:
            mismatches.append({"topic": topic, "partition": number, "problem": "missing on the target"})
            partitions.append({"topic": topic, "partition": number, "source_count": ends.count,
                               "target_count": None, "sampled": 0, "identical": False})
            continue
        identical = True
        if ends.count != other.count:
            identical = False
            mismatches.append({"topic": topic, "partition": number, "problem": "record counts differ",
                               "source_count": ends.count, "target_count": other.count})
        offsets = sample_offsets(ends, k)
        for offset in offsets:
            mapped = mapped_offset(ends, other, offset)
            mine, theirs = source_records.get((topic, number, offset)), target_records.get((topic, number, mapped))
            if mine is None or theirs is None or mine != theirs:
                identical = False
                mismatches.append({
                    "topic": topic, "partition": number, "offset": offset, "target_offset": mapped,
                    "problem": "record not readable" if mine is None or theirs is None else _difference(mine, theirs)})
        partitions.append({"topic": topic, "partition": number, "source_count": ends.count,
                           "target_count": other.count, "sampled": len(offsets), "identical": identical})
    for (topic, number) in sorted(set(target) - set(source)):
        mismatches.append({"topic": topic, "partition": number, "problem": "not on the source"})
    return {"passed": not mismatches and bool(partitions), "at": at.isoformat().replace("+00:00", "Z"),
            "samples_per_partition": k + 2, "partitions": partitions, "mismatches": mismatches[:200]}


def _difference(a: SampledRecord, b: SampledRecord) -> str:
    parts: Sequence[str] = [name for name in ("key", "value", "headers", "timestamp")
                            if getattr(a, name) != getattr(b, name)]
    return "records differ in " + ", ".join(parts)
