"""What a request touches: its cluster, topic and teams, and who may ask for it.

`resolve_context` loads what a request names and refuses (403/409/422) a request its caller may
not make or that cannot apply (unknown cluster or topic, quarantined or being-deleted topic);
`check_managed_by` refuses changes to resources a desired-state file manages. Both run inside the
submission's transaction; the workflow (services/requests.py) builds the policy input from the
context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from topicdesk.adapters import deletion_store
from topicdesk.adapters import request_store as store
from topicdesk.adapters.request_store import SubmissionContext
from topicdesk.adapters.tables import TopicRow
from topicdesk.domain.errors import Conflict, FieldError, Forbidden, ValidationFailed
from topicdesk.domain.identity import Identity
from topicdesk.domain.model import team_of_principal
from topicdesk.services import migration_request as migrate
from topicdesk.services.request_views import rfc3339

TOPIC_KINDS = {"topic.create", "topic.update", "topic.delete"}


@dataclass
class RequestContext:
    cluster: SubmissionContext
    requester_team: str
    owner_team: str
    topic: TopicRow | None
    usage: dict[str, int]
    # The deleted row a topic.create of the same name replaces (None: there is none).
    tombstone_id: str | None = None


def resolve_context(session: Session, identity: Identity, document: dict[str, Any]) -> RequestContext:
    kind, spec = document["kind"], document["spec"]
    if kind == migrate.KIND:
        # The source is the request's cluster; the migrated topics belong to the target's owner.
        sides = migrate.resolve_sides(session, identity, document)
        return RequestContext(sides.source, sides.requester_team, sides.target.owner_team, None, sides.source.usage)
    if kind in TOPIC_KINDS:
        topic_name = spec["name"]
    elif kind in ("access.grant", "access.revoke") and spec.get("pattern", "literal") == "literal":
        topic_name = spec["topic"]
    else:
        topic_name = None
    cluster = store.load_context(session, document["cluster"], topic_name)
    if cluster is None:
        raise ValidationFailed("the request names an unknown cluster",
                               errors=[FieldError("/cluster", f"no cluster named {document['cluster']!r}")])
    usage, live_id = cluster.usage, cluster.live_topic_id
    if kind in TOPIC_KINDS or kind == "quota.set":
        # Producer-owner model: only the cluster's owner team changes its topics and quotas.
        if not identity.is_member(cluster.owner_team):
            raise Forbidden(f"only members of team {cluster.owner_team!r}, which owns cluster {cluster.name!r}, "
                            f"can request {kind}")
        topic = None
        if kind in TOPIC_KINDS:
            if kind == "topic.create" and live_id is not None:
                live = store.topic_by_id(session, live_id)
                if live is not None and live.lifecycle == deletion_store.QUARANTINED:
                    raise Conflict(f"topic {spec['name']!r} on cluster {cluster.name!r} is quarantined until "
                                   f"{rfc3339(live.quarantined_until)}: restore it, or create it again once "
                                   "it is deleted")
                raise Conflict(f"topic {spec['name']!r} already exists on cluster {cluster.name!r}")
            if kind == "topic.create" and cluster.tombstone_id is not None:
                tombstone = store.topic_by_id(session, cluster.tombstone_id)
                if tombstone is not None and tombstone.lifecycle == deletion_store.DELETING:
                    # Replacing the tombstone now would keep the old topic (and its data) on the cluster.
                    raise Conflict(f"topic {spec['name']!r} on cluster {cluster.name!r} is being deleted; "
                                   "create it again once that is done")
            if kind != "topic.create" and live_id is None:
                raise ValidationFailed("the request names an unknown topic",
                                       errors=[FieldError("/spec/name", f"no topic {spec['name']!r} on "
                                                                        f"cluster {cluster.name!r}")])
            topic = store.topic_by_id(session, live_id)
            refuse_if_quarantined(topic, kind)
        return RequestContext(cluster, cluster.owner_team, cluster.owner_team, topic, usage, cluster.tombstone_id)
    # access.grant / access.revoke: asked by the team that owns the principal (or the topic owner).
    principal_team = team_of_principal(spec["principal"])
    # A grant may name a topic that does not exist yet (policy warns); a revoke must name a grant.
    topic = store.topic_by_id(session, live_id)
    refuse_if_quarantined(topic, kind)
    if kind == "access.revoke" and not store.matching_grants(session, cluster.name, spec):
        raise ValidationFailed("nothing to revoke",
                               errors=[FieldError("/spec", f"{spec['principal']} has no {spec['access']} grant on "
                                                           f"{spec['topic']!r} on cluster {cluster.name!r}")])
    owner_team = topic.owner_team if topic else cluster.owner_team
    if identity.is_member(principal_team) and principal_team in identity.team_roles:
        requester_team = principal_team
    elif identity.is_member(owner_team):
        requester_team = owner_team
    elif identity.platform_admin:
        requester_team = principal_team or owner_team
    else:
        raise Forbidden(f"principal {spec['principal']!r} does not belong to your team; "
                        f"request access for your own team's principals")
    return RequestContext(cluster, requester_team, owner_team, topic, usage)


def managed_by_of(session: Session, document: dict[str, Any], topic: TopicRow | None) -> str | None:
    """The desired-state file managing what a request changes (None: the portal/API manages it).

    A new grant on a file's topic changes no file-managed resource (another team asking to consume
    is the point of the portal), so grants are judged by the grant rows, not by their topic.
    """
    kind, spec = document["kind"], document["spec"]
    if kind in ("topic.update", "topic.delete"):
        return topic.managed_by if topic is not None else None
    if kind in ("access.grant", "access.revoke"):
        return next((g.managed_by for g in store.matching_grants(session, document["cluster"], spec)
                     if g.managed_by is not None), None)
    if kind == "quota.set":
        quota = store.live_quota(session, document["cluster"], spec["principal"])
        return quota.managed_by if quota is not None else None
    return None


def check_managed_by(session: Session, identity: Identity, document: dict[str, Any], topic: TopicRow | None, *,
                     source: str | None, override: bool) -> str | None:
    """Refuse (409) a change to a file-managed resource unless it comes from that file, or a platform
    admin overrides. Returns the overridden file's source (for the audit event), else None."""
    if override and not identity.platform_admin:
        raise Forbidden("only platform admins may pass override_managed_by=true")
    managed_by = managed_by_of(session, document, topic)
    if managed_by is None or managed_by == source:
        return None
    if override:
        return managed_by
    raise Conflict(f"managed by desired-state file {managed_by}; change the file, or a platform admin overrides "
                   "with ?override_managed_by=true")


def refuse_if_quarantined(topic: TopicRow | None, kind: str) -> None:
    if topic is not None and topic.lifecycle == deletion_store.QUARANTINED:
        raise Conflict(f"topic {topic.name!r} is quarantined until {rfc3339(topic.quarantined_until)} "
                       f"(deleted by {topic.deleted_by}); restore it before asking for {kind}")
