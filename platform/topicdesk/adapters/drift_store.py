"""SQL for drift items: open differences, the resources they concern, and the resources' bookkeeping.

An item is drifted (counts against its resource's status) unless it is ignored until later;
`drifted_clause` (a filter), `drifted_mark` (a page's column) and `drifted_ids` answer that in SQL
for lists and pages.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Integer, and_, delete, exists, false, func, literal_column, or_, true, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from topicdesk.adapters.tables import RESOURCE_TABLES, DriftItemRow, DriftLinkRow, RequestRow

Resource = tuple[str, str]  # (resource kind, row id)
CHUNK = 900
OPEN_REQUEST_STATUSES = ("pending_approval", "approved", "applying")


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def _by_kind(resources: Iterable[Resource]) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for kind, row_id in resources:
        ids.setdefault(kind, []).append(row_id)
    return ids


def _not_ignored(now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    return or_(col(DriftItemRow.ignored_until).is_(None), col(DriftItemRow.ignored_until) <= now)


# --- items and links --------------------------------------------------------------------------------

def open_items(session: Session, cluster: str) -> list[DriftItemRow]:
    return list(session.exec(select(DriftItemRow).where(DriftItemRow.cluster == cluster)
                             .order_by(col(DriftItemRow.key), col(DriftItemRow.kind))).all())


def get_item(session: Session, cluster: str, item_id: str, *, lock: bool = False) -> DriftItemRow | None:
    query = select(DriftItemRow).where(DriftItemRow.cluster == cluster, DriftItemRow.id == item_id)
    return session.exec(query.with_for_update() if lock else query).first()


def items_with_keys(session: Session, cluster: str, keys: Iterable[str]) -> list[DriftItemRow]:
    """Open items on these resource keys (e.g. every difference of one topic)."""
    found: list[DriftItemRow] = []
    for part in _chunks(sorted(set(keys))):
        found += session.exec(select(DriftItemRow).where(DriftItemRow.cluster == cluster,
                                                         col(DriftItemRow.key).in_(part))).all()
    return found


def links_of(session: Session, cluster: str, item_ids: Sequence[str] | None = None) -> dict[str, list[Resource]]:
    """item id -> the resources it concerns (every item of the cluster when item_ids is None)."""
    query = select(DriftLinkRow).where(DriftLinkRow.cluster == cluster)
    rows: list[DriftLinkRow] = []
    if item_ids is None:
        rows = list(session.exec(query).all())
    else:
        for part in _chunks(list(item_ids)):
            rows += session.exec(query.where(col(DriftLinkRow.item_id).in_(part))).all()
    found: dict[str, list[Resource]] = {}
    for link in sorted(rows, key=lambda r: (r.item_id, r.resource_kind, r.resource_id)):
        found.setdefault(link.item_id, []).append((link.resource_kind, link.resource_id))
    return found


def set_links(session: Session, cluster: str, item_id: str, resources: Iterable[Resource]) -> None:
    session.execute(delete(DriftLinkRow).where(col(DriftLinkRow.cluster) == cluster,
                                               col(DriftLinkRow.item_id) == item_id))
    for kind, row_id in sorted(set(resources)):
        session.add(DriftLinkRow(cluster=cluster, item_id=item_id, resource_kind=kind, resource_id=row_id))


def delete_items(session: Session, cluster: str, item_ids: Sequence[str]) -> None:
    for part in _chunks(list(item_ids)):
        session.execute(delete(DriftLinkRow).where(col(DriftLinkRow.cluster) == cluster,
                                                   col(DriftLinkRow.item_id).in_(part)))
        session.execute(delete(DriftItemRow).where(col(DriftItemRow.cluster) == cluster,
                                                   col(DriftItemRow.id).in_(part)))


def items_linked_to(session: Session, cluster: str, resources: Iterable[Resource]) -> list[DriftItemRow]:
    """Open items that concern any of these resources."""
    item_ids: set[str] = set()
    for kind, ids in _by_kind(resources).items():
        for part in _chunks(ids):
            item_ids.update(session.exec(select(DriftLinkRow.item_id).where(
                DriftLinkRow.cluster == cluster, DriftLinkRow.resource_kind == kind,
                col(DriftLinkRow.resource_id).in_(part))).all())
    items: list[DriftItemRow] = []
    for part in _chunks(sorted(item_ids)):
        items += session.exec(select(DriftItemRow).where(DriftItemRow.cluster == cluster,
                                                         col(DriftItemRow.id).in_(part))).all()
    return sorted(items, key=lambda r: (r.key, r.kind))


# --- "drifted": an open item that is not ignored ------------------------------------------------------

def _open_item_of(kind: str, id_column: Any, now: datetime | ColumnElement[datetime]) -> tuple[Any, ...]:
    """The conditions of a drift item, linked to the row of `kind` on `id_column`, that is not ignored."""
    return (col(DriftLinkRow.resource_kind) == kind, col(DriftLinkRow.resource_id) == id_column,
            col(DriftItemRow.cluster) == col(DriftLinkRow.cluster), col(DriftItemRow.id) == col(DriftLinkRow.item_id),
            _not_ignored(now))


def drifted_clause(kind: str, id_column: Any, now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """True for rows (of `kind`, matched on `id_column`) with an open drift item that is not ignored.
    `now` may be a bound parameter, so that a statement using this can be built once."""
    return exists().where(*_open_item_of(kind, id_column, now))


def drifted_mark(kind: str, id_column: Any, now: datetime | ColumnElement[datetime]) -> ColumnElement[bool]:
    """`drifted_clause` as a column of a page: looked up row by row, through the indexes.
    Selected as an EXISTS, PostgreSQL hashes every open item first (it costs the subplan for all
    the table's rows, not the page's), 1.7 ms at 1,000 items against 0.1 ms for 50 lookups; a
    scalar subquery with LIMIT 1 is never hashed (docs/benchmarks.md, P5)."""
    found = (select(true()).where(*_open_item_of(kind, id_column, now))
             .limit(literal_column("1", Integer)).scalar_subquery())
    return func.coalesce(found, false(), type_=Boolean)


def drifted_ids(session: Session, kind: str, ids: Sequence[str], now: datetime) -> set[str]:
    found: set[str] = set()
    for part in _chunks(list(ids)):
        found.update(session.exec(select(DriftLinkRow.resource_id).join(DriftItemRow, and_(
            col(DriftItemRow.cluster) == col(DriftLinkRow.cluster), col(DriftItemRow.id) == col(DriftLinkRow.item_id)))
            .where(DriftLinkRow.resource_kind == kind, col(DriftLinkRow.resource_id).in_(part),
                   _not_ignored(now))).all())
    return found


# --- the resources' bookkeeping -----------------------------------------------------------------------

def generations(session: Session, resources: Iterable[Resource]) -> dict[Resource, tuple[int, int]]:
    """(generation, observed_generation) of each resource row that still exists."""
    found: dict[Resource, tuple[int, int]] = {}
    for kind, ids in _by_kind(resources).items():
        table = RESOURCE_TABLES[kind]
        for part in _chunks(sorted(set(ids))):
            for row_id, generation, observed in session.exec(
                    select(table.id, table.generation, table.observed_generation)
                    .where(col(table.id).in_(part))).all():
                found[(kind, row_id)] = (generation, observed)
    return found


def mark_dirty(session: Session, resources: Iterable[Resource]) -> set[Resource]:
    """Make clean rows dirty again, so the next reconcile pass applies their desired state.

    observed_generation goes back to generation - 1: the cluster no longer shows that generation.
    Rows already dirty (pending, backing off, parked as failed) are left as they are. Returns the
    rows that were marked.
    """
    marked: set[Resource] = set()
    for kind, ids in _by_kind(resources).items():
        table = RESOURCE_TABLES[kind]
        for part in _chunks(sorted(set(ids))):
            result = session.execute(
                update(table).where(col(table.id).in_(part), col(table.observed_generation) >= col(table.generation))
                .values(observed_generation=col(table.generation) - 1).returning(col(table.id)))
            marked.update((kind, row_id) for (row_id,) in result.all())
    return marked


def open_requests(session: Session, request_ids: Iterable[str]) -> set[str]:
    """The requests among these that can still change desired state (pending, approved, applying)."""
    found: set[str] = set()
    for part in _chunks(sorted(set(request_ids))):
        found.update(session.exec(select(RequestRow.id).where(
            col(RequestRow.id).in_(part), col(RequestRow.status).in_(OPEN_REQUEST_STATUSES))).all())
    return found

