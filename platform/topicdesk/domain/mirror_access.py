"""The mirror's own principal (pure): who MirrorMaker 2 is on both clusters of a migration, the ACLs
it needs there and nothing more, its password, and the internal topics it leaves behind.

A platform team does not hand a copy tool super-user rights on its legacy cluster: each migration's
mirror logs in as `User:topicdesk-mirror-<migration id>` on the source and on the target, with
LITERAL ACLs on exactly the migrated topics and groups and on the mirror's own internal topics
(their names carry the migration id, `mirror_config.internal_topic_names`). The list is what
MirrorMaker's code asks of the brokers (MirrorSourceConnector/Task, MirrorCheckpointConnector/Task,
MirrorUtils, Connect's worker in dedicated mode) with topic configs and ACL sync off, heartbeats
off and offset syncs on the target, checked by a real run that started without any ACL
(docs/migration.md, "The mirror's principal").

The password is derived, never stored: HMAC-SHA256 keyed by the cluster's admin password (the one
secret Topicdesk already holds for that cluster, read from its secret reference) over the cluster
and the migration id. Any driver process derives the same password after a restart; whoever can
derive it already holds the cluster's admin credentials; it changes with the admin secret (the
driver then sets the SCRAM credential again) and is revoked with the principal at the end.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from topicdesk.domain.acls import AclBinding, AclOperation, ResourceType
from topicdesk.domain.mirror_config import internal_topic_names
from topicdesk.domain.model import PatternType

USER_PREFIX = "topicdesk-mirror-"
_R, _W, _D, _C = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.CREATE



def mirror_username(mirror_id: str) -> str:
    """The SCRAM user name; also the dedicated worker's group id (`<tgt>.group.id`)."""
    return f"{USER_PREFIX}{mirror_id}"


def mirror_principal(mirror_id: str) -> str:
    return f"User:{mirror_username(mirror_id)}"


def mirror_password(key: str, cluster: str, mirror_id: str) -> str:
    """43 URL-safe characters, the same for the same key, cluster and mirror; no key, no password."""
    if not key:
        raise ValueError("a mirror password needs a non-empty key")
    digest = hmac.new(key.encode(), f"topicdesk-mirror\x00{cluster}\x00{mirror_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def _acls(principal: str, rtype: ResourceType, names: Iterable[str], ops: Iterable[AclOperation]
          ) -> set[AclBinding]:
    return {AclBinding(rtype, name, PatternType.LITERAL, principal, op) for name in names for op in ops}


@dataclass(frozen=True)
class MirrorAccess:
    """Everything the mirror's principal holds on both clusters of one migration."""

    principal: str
    source: frozenset[AclBinding]
    target: frozenset[AclBinding]
    # Topics MirrorMaker creates on the target for this mirror only (deleted at the end).
    target_internal_topics: tuple[str, ...]

    def acls(self, side: str) -> frozenset[AclBinding]:
        return self.source if side == "source" else self.target


def mirror_access(mirror_id: str, source_alias: str, topics: Iterable[str], groups: Iterable[str], *,
                  dedicated: bool = True) -> MirrorAccess:
    """The ACLs of `User:topicdesk-mirror-<mirror_id>`, all LITERAL. Kafka lets READ and WRITE imply
    DESCRIBE, so DESCRIBE appears only where nothing implies it.

    Source (read only):
    - migrated topics: READ (the source task's consumer; listing and describing them, the moved
      groups' committed offsets on them);
    - moved groups: DESCRIBE (ListGroups and OffsetFetch of the checkpoint connector and task).
    Target:
    - migrated topics: WRITE (the records), READ (group offset sync commits the moved groups'
      offsets on them); no CREATE: Topicdesk created them from the plan, and a topic missing on
      the target must fail the mirror, not be created with MirrorMaker's configs; no ALTER: a
      partition added on the source meanwhile is not added to the target behind the plan's back;
    - this mirror's offset syncs and checkpoints topics (and in dedicated mode, the process engine,
      its worker's config/offset/status topics): CREATE (MirrorMaker creates them), WRITE, READ
      (everything written there is read back);
    - moved groups: READ (group offset sync: DescribeGroups, OffsetFetch, OffsetCommit);
    - dedicated mode: the worker's group `topicdesk-mirror-<id>`: READ.
    Nothing on the cluster resource: an idempotent producer needs IDEMPOTENT_WRITE or WRITE on some
    topic (Kafka 3.0+, KIP-679), and the WRITE above gives it. No DESCRIBE_CONFIGS: with topic
    config sync off MirrorMaker reads none (a real run logged no authorization failure).
    """
    principal = mirror_principal(mirror_id)
    topics, groups = sorted(set(topics)), sorted(set(groups))
    names = internal_topic_names(mirror_id, source_alias, dedicated=dedicated)
    source = _acls(principal, ResourceType.TOPIC, topics, (_R,)) | _acls(principal, ResourceType.GROUP, groups, (_D,))
    target = (_acls(principal, ResourceType.TOPIC, topics, (_W, _R))
              | _acls(principal, ResourceType.TOPIC, names, (_C, _W, _R))
              | _acls(principal, ResourceType.GROUP, groups, (_R,)))
    if dedicated:
        target |= _acls(principal, ResourceType.GROUP, [mirror_username(mirror_id)], (_R,))
    return MirrorAccess(principal, frozenset(source), frozenset(target), tuple(names))
