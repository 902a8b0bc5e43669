"""What the migration driver measures, and the facts it derives (pure).

The driver reads both clusters (services/migration_probe.py, the cluster port) and hands the
readings here: per-partition lag, the moved groups on both sides, whether the planned topics and
grants are on the target, and the DENY bindings Topicdesk adds on the source. Every fact is
computed from what the clusters said in this pass, never from the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from topicdesk.domain.acls import AclBinding, AclOperation, AclPermission, InvalidGrant, ResourceType, bindings_for
from topicdesk.domain.model import Access, AccessGrant, PatternType
from topicdesk.domain.plan import ObservedTopic

LAG_HISTORY = 120  # measurements kept for the portal's chart
EVERYONE = "User:*"

Partition = tuple[str, int]  # (topic, partition)
TRANSLATION_FIELDS = ("ready_on_target", "translation", "translation_note", "translation_pending")


@dataclass(frozen=True)
class PartitionEnds:
    earliest: int
    latest: int

    @property
    def count(self) -> int:
        """Records in the partition, assuming no compaction and no transaction markers (see docs/migration.md)."""
        return max(0, self.latest - self.earliest)


@dataclass(frozen=True)
class GroupObservation:
    group: str
    members: int
    state: str
    committed: Mapping[Partition, int]  # only partitions of the asked topics with a commit


@dataclass(frozen=True)
class SampledRecord:
    """A record's bytes as the client sees them: what "byte-identical" compares."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...]
    timestamp: int

    def as_dict(self) -> dict[str, object]:
        return {"key": None if self.key is None else self.key.hex(),
                "value": None if self.value is None else self.value[:64].hex(),
                "headers": [h for h, _ in self.headers], "timestamp": self.timestamp}




def _stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def lag_view(source: Mapping[Partition, PartitionEnds], target: Mapping[Partition, PartitionEnds], at: datetime,
             previous: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Records on the source not yet on the target, per partition, counted: (source latest - earliest)
    - (target latest - earliest), clamped at 0. Exact while the target topics are fresh (created by
    the migration) and neither side is compacted; a partition missing on the target lags by all of it."""
    partitions: list[dict[str, Any]] = []
    for (topic, number), ends in sorted(source.items()):
        other = target.get((topic, number))
        lag = max(0, ends.count - (other.count if other else 0))
        partitions.append({"topic": topic, "partition": number, "source_end": ends.latest,
                           "target_end": other.latest if other else None, "lag": lag})
    lags = [int(p["lag"]) for p in partitions]
    total, biggest = sum(lags), max(lags, default=0)
    history = [*(previous or {}).get("history", []), {"at": _stamp(at), "total": total, "max": biggest}]
    return {"measured_at": _stamp(at), "total": total, "max": biggest, "partitions": partitions,
            "history": history[-LAG_HISTORY:]}


def group_facts(moved: Sequence[Mapping[str, Any]], source: Mapping[str, GroupObservation],
                target: Mapping[str, GroupObservation], previous: Sequence[Mapping[str, Any]] = (),
                exact: Mapping[str, Mapping[str, Any]] | None = None
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per moved group its members on both sides and whether its offsets are on the target; and the
    facts `offsets_translated`, `groups_active_on_source` (members on the source, summed) and
    `groups_active_on_target` (every group that ever had members has members on the target).

    `moved` are the plan's consumer_groups ({group, team, members}); `previous` the last pass's
    rows, which remember that a group had members once (it stops on the source before it starts
    on the target, and the gate must still wait for it).

    `exact` has, per group idle on both sides this pass, the exact translation's row fields
    (domain/migration_offsets.py): `ready_on_target`, `translation`, `translation_note` and
    `translation_pending`. A group running on the target keeps what its last row said; one
    running on the source (or not translated) has MirrorMaker's translation and is not ready."""
    before = {str(g["group"]): g for g in previous}
    rows, translated, on_source, on_target = [], True, 0, True
    for move in moved:
        name = str(move["group"])
        mine, theirs = source.get(name), target.get(name)
        source_members = mine.members if mine else 0
        target_members = theirs.members if theirs else 0
        committed = set(mine.committed) if mine else set()
        ok = committed <= set(theirs.committed if theirs else ())
        had_members = bool(move.get("members")) or source_members > 0 or bool(before.get(name, {}).get("had_members"))
        translated = translated and ok
        on_source += source_members
        on_target = on_target and (target_members > 0 or not had_members)
        if exact and name in exact:
            translation = dict(exact[name])
        elif target_members > 0 and source_members == 0 and name in before:
            translation = {k: before[name].get(k) for k in TRANSLATION_FIELDS}
        elif source_members == 0 and not committed:
            # Nothing to translate: waiting would keep the team waiting for ever.
            translation = {"ready_on_target": True, "translation": "exact",
                           "translation_note": "nothing committed on the source: the group starts on the target "
                                               "from its auto.offset.reset", "translation_pending": False}
        else:
            translation = {"ready_on_target": False, "translation": "mirrormaker",
                           "translation_note": "running on the source" if source_members else "",
                           "translation_pending": True}
        rows.append({"group": name, "team": move.get("team"), "source_members": source_members,
                     "target_members": target_members, "offsets_translated": ok, "had_members": had_members,
                     **translation})
    return rows, {"offsets_translated": translated, "groups_active_on_source": on_source,
                  "groups_active_on_target": on_target}


def topics_not_as_planned(planned: Iterable[Mapping[str, Any]], observed: Mapping[str, ObservedTopic]
                          ) -> list[str]:
    """Why planned (not refused) topics are not on the target as planned; empty: all are."""
    out = []
    for topic in planned:
        if topic.get("refused"):
            continue
        name = str(topic["name"])
        seen = observed.get(name)
        if seen is None:
            out.append(f"{name}: not on the target")
        elif seen.partitions != topic["partitions"]:
            out.append(f"{name}: {seen.partitions} partitions, {topic['partitions']} planned")
        else:
            out += [f"{name}: {k}={seen.config.get(k)!r}, {v!r} planned"
                    for k, v in sorted(dict(topic.get("config") or {}).items()) if seen.config.get(k) != v]
    return out


def topics_as_planned(planned: Iterable[Mapping[str, Any]], observed: Mapping[str, ObservedTopic]) -> bool:
    """Every planned (not refused) topic exists on the target with its partitions and configs."""
    return not topics_not_as_planned(planned, observed)


def grants_missing(grants: Iterable[AccessGrant], acls: frozenset[AclBinding], needed_users: Iterable[str],
                   scram_users: frozenset[str]) -> list[str]:
    """The planned grants whose ACLs, and the service accounts whose SCRAM credentials, the target lacks."""
    out = []
    for grant in grants:
        try:
            if not bindings_for(grant) <= acls:
                out.append(f"{grant.access} {grant.topic} for {grant.principal}")
        except (InvalidGrant, ValueError) as exc:
            out.append(f"{grant.access} {grant.topic} for {grant.principal}: {exc}")
    return out + [f"SCRAM credential of {user}" for user in sorted(set(needed_users) - scram_users)]


def planned_grants(plan: Mapping[str, Any], topics: Iterable[str]) -> list[AccessGrant]:
    keep = set(topics)
    out = []
    for g in plan.get("grants", ()):
        if g["topic"] not in keep:
            continue
        out.append(AccessGrant(principal=g["principal"], topic=g["topic"], access=Access(g["access"]),
                               group=g.get("group"), group_pattern=PatternType(g.get("group_pattern", "literal")),
                               transactional_id=g.get("transactional_id")))
    return out


def grants_in_place(grants: Iterable[AccessGrant], acls: frozenset[AclBinding], needed_users: Iterable[str],
                    scram_users: frozenset[str]) -> bool:
    """The planned grants' ACLs and the planned service accounts' SCRAM credentials are on the target."""
    return not grants_missing(grants, acls, needed_users, scram_users)


def write_deny(topics: Iterable[str]) -> frozenset[AclBinding]:
    """DENY WRITE for everyone on exactly these topics: covers producers Topicdesk does not know;
    super users (the admin, MirrorMaker) are not subject to ACLs. Removed again by a rollback."""
    return frozenset(AclBinding(ResourceType.TOPIC, t, PatternType.LITERAL, EVERYONE, AclOperation.WRITE,
                                AclPermission.DENY) for t in topics)


def quarantine_deny(topics: Iterable[str]) -> frozenset[AclBinding]:
    """DENY ALL for everyone on exactly these topics (consumers and producers); the data stays."""
    return frozenset(AclBinding(ResourceType.TOPIC, t, PatternType.LITERAL, EVERYONE, AclOperation.ALL,
                                AclPermission.DENY) for t in topics)
