"""The migration probe: what the driver reads from a cluster beyond the cluster port's describe.

Per-partition earliest/latest offsets, the moved consumer groups (members, committed partitions)
and sampled records at given offsets; it also commits a group's exact offsets at the cut-over.
Bulk like every read: one ListOffsets per spec for all partitions, one DescribeGroups for all
groups, one OffsetFetch per group (all in flight at once), and one consumer that reads every
sampled offset of every partition in a few rounds. A failure
raises `ProbeUnavailable`; the driver stores it as the step's last_error and measures again next pass.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Protocol

from topicdesk.domain.migration_measure import GroupObservation, Partition, PartitionEnds, SampledRecord

__all__ = ["GroupObservation", "MigrationProbe", "Partition", "PartitionEnds", "ProbeUnavailable", "SampledRecord"]

class ProbeUnavailable(Exception):
    """The cluster could not be read for the migration (unreachable, not authorized, timeout)."""


class MigrationProbe(Protocol):
    def partition_ends(self, topics: Collection[str]) -> dict[Partition, PartitionEnds]:
        """Every partition of the topics that exist; a missing topic has no entries."""
        ...

    def groups(self, groups: Collection[str], topics: Collection[str]) -> dict[str, GroupObservation]:
        """Every asked group (members 0 and no commits when the cluster does not know it)."""
        ...

    def read_records(self, offsets: Mapping[Partition, Sequence[int]]) -> dict[tuple[str, int, int], SampledRecord]:
        """The record at each asked offset; an offset the partition no longer (or not yet) holds is absent."""
        ...

    def commit_offsets(self, group: str, offsets: Mapping[Partition, int]) -> None:
        """Commit the group's offsets (AlterConsumerGroupOffsets; the group must have no members);
        raises ProbeUnavailable when the cluster refuses any of them."""
        ...
