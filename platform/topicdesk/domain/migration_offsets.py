"""Exact consumer offsets at the cut-over (pure): what the driver commits on the target for a group
that stopped on the source and has not started on the target yet.

MirrorMaker's checkpoints translate a commit to the offset sync at or before it, and its
OffsetSyncStore keeps only sparse syncs: a moved consumer re-read 50-475 records per partition.
The target topics are fresh and written only by the mirror, so a source offset X maps 1:1 to
target_earliest + (X - source_earliest) (the mapping the verification uses). The driver trusts
that mapping only where it can see it holds: the target has the record before the mapped offset
and it is byte-identical to the source's record X-1. X at the source's earliest maps to the
target's earliest without a check. MirrorMaker's group offset sync never moves a target offset
backwards, so it does not undo an exact commit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from topicdesk.domain.migration_measure import GroupObservation, Partition, PartitionEnds, SampledRecord

EXACT, MIRRORMAKER = "exact", "mirrormaker"


def mapped(offset: int, source: PartitionEnds, target: PartitionEnds) -> int:
    return target.earliest + (offset - source.earliest)


@dataclass(frozen=True)
class GroupTranslation:
    """One idle group's exact translation: the offsets to commit on the target (only those ahead of
    its committed ones), whether every partition it committed on the source is exact on the target
    once they are, and why not (`pending`: the mirror has not copied far enough yet, try again)."""

    group: str
    commit: dict[Partition, int] = field(default_factory=dict)
    exact: bool = False
    pending: bool = False
    note: str = ""


def boundary_offsets(groups: Mapping[str, GroupObservation], source: Mapping[Partition, PartitionEnds],
                     target: Mapping[Partition, PartitionEnds]) -> tuple[dict[Partition, list[int]],
                                                                          dict[Partition, list[int]]]:
    """The records to read on each side to check the groups' boundaries: X-1 on the source and its
    mapped offset on the target, for every committed X past the source's earliest."""
    src: dict[Partition, set[int]] = {}
    tgt: dict[Partition, set[int]] = {}
    for observation in groups.values():
        for partition, offset in observation.committed.items():
            s, t = source.get(partition), target.get(partition)
            if s is None or t is None or not s.earliest < offset <= s.latest:
                continue
            if mapped(offset - 1, s, t) < t.latest:
                src.setdefault(partition, set()).add(offset - 1)
                tgt.setdefault(partition, set()).add(mapped(offset - 1, s, t))
    return ({p: sorted(o) for p, o in src.items()}, {p: sorted(o) for p, o in tgt.items()})


def translate(on_source: GroupObservation, on_target: GroupObservation | None,
              source: Mapping[Partition, PartitionEnds], target: Mapping[Partition, PartitionEnds],
              source_records: Mapping[tuple[str, int, int], SampledRecord],
              target_records: Mapping[tuple[str, int, int], SampledRecord]) -> GroupTranslation:
    """The exact target offsets of a group idle on both sides, from the boundary records read."""
    committed = dict(on_target.committed) if on_target else {}
    commit: dict[Partition, int] = {}
    pending: list[str] = []
    refused: list[str] = []
    for partition, offset in sorted(on_source.committed.items()):
        where = f"{partition[0]}-{partition[1]}"
        s, t = source.get(partition), target.get(partition)
        if s is None or t is None:
            pending.append(f"{where}: not on the target yet")
            continue
        if not s.earliest <= offset <= s.latest:
            refused.append(f"{where}: committed offset {offset} outside the source's {s.earliest}-{s.latest}")
            continue
        exact = mapped(offset, s, t)
        if offset > s.earliest:
            before = source_records.get((*partition, offset - 1))
            copied = target_records.get((*partition, mapped(offset - 1, s, t)))
            if copied is None or before is None:
                pending.append(f"{where}: the mirror has not copied offset {offset - 1} yet")
                continue
            if copied != before:
                refused.append(f"{where}: the target's record at {mapped(offset - 1, s, t)} differs from the "
                               f"source's at {offset - 1}")
                continue
        if committed.get(partition, -1) < exact:
            commit[partition] = exact
    if refused:
        note = "kept MirrorMaker's translation: " + "; ".join(refused)
        return GroupTranslation(on_source.group, commit, exact=False, pending=False, note=note)
    if pending:
        return GroupTranslation(on_source.group, commit, exact=False, pending=True, note="; ".join(pending))
    return GroupTranslation(on_source.group, commit, exact=True)
