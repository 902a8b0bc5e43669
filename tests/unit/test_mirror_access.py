"""The mirror's own principal: the pure ACL plan and password (domain/mirror_access.py), the internal
topic names that carry the migration id, and the driver granting it before the mirror starts and
revoking it with the internal topics when the mirror stops for good (on in-memory clusters)."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from tests.unit.test_migration_driver import TOPIC, World, _cut_consumers_over
from tests.unit.test_migration_driver import world as world  # the fixture
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import AuditEventRow, AuditInboxRow
from topicdesk.domain.acls import AclBinding, AclOperation, ResourceType
from topicdesk.domain.mirror_access import (
    MirrorAccess,
    mirror_access,
    mirror_password,
    mirror_principal,
    mirror_username,
)
from topicdesk.domain.mirror_config import connector_configs, internal_topic_names, mm2_properties
from topicdesk.domain.model import DesiredTopic, PatternType
from topicdesk.services.cluster_port import Outcome, OutcomeReason
from topicdesk.services.drift import scan_cluster
from topicdesk.services.mirror_port import ClusterEndpoint, MirrorSpec

R, W, D, C = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.CREATE
P = "User:topicdesk-mirror-m1"


def acl(rtype: ResourceType, name: str, op: AclOperation) -> AclBinding:
    return AclBinding(rtype, name, PatternType.LITERAL, P, op)


def test_the_source_grants_only_reads_of_the_migrated_topics_and_describes_of_the_groups() -> None:
    access = mirror_access("m1", "legacy", ["payments.a", "payments.b"], ["billing.readers"])
    assert access.principal == P == mirror_principal("m1")
    assert access.source == {acl(ResourceType.TOPIC, "payments.a", R), acl(ResourceType.TOPIC, "payments.b", R),
                             acl(ResourceType.GROUP, "billing.readers", D)}
    # Nothing written to the legacy cluster, nothing broader than the names, nothing cluster-wide.
    assert all(b.operation in (R, D) for b in access.source)


def test_the_target_grants_writes_of_the_topics_and_the_mirrors_own_internal_topics() -> None:
    access = mirror_access("m1", "legacy", ["payments.a"], ["billing.readers"])
    internal = ["mm2-offset-syncs.legacy-mirror-m1.internal", "legacy-mirror-m1.checkpoints.internal",
                "mm2-offsets.topicdesk-m1.internal", "mm2-configs.topicdesk-m1.internal",
                "mm2-status.topicdesk-m1.internal"]
    assert list(access.target_internal_topics) == internal
    assert access.target == {
        acl(ResourceType.TOPIC, "payments.a", W), acl(ResourceType.TOPIC, "payments.a", R),
        *(acl(ResourceType.TOPIC, name, op) for name in internal for op in (C, W, R)),
        acl(ResourceType.GROUP, "billing.readers", R),
        acl(ResourceType.GROUP, mirror_username("m1"), R),  # the dedicated worker's group
    }
    # No CREATE on the migrated topics (Topicdesk created them), no cluster resource, no prefix.
    assert acl(ResourceType.TOPIC, "payments.a", C) not in access.target
    assert {b.resource_type for b in access.target} == {ResourceType.TOPIC, ResourceType.GROUP}
    assert {b.pattern for b in access.source | access.target} == {PatternType.LITERAL}


def test_a_connect_cluster_needs_no_worker_topics_or_group() -> None:
    access = mirror_access("m1", "legacy", ["payments.a"], [], dedicated=False)
    assert access.target_internal_topics == ("mm2-offset-syncs.legacy-mirror-m1.internal",
                                             "legacy-mirror-m1.checkpoints.internal")
    assert not [b for b in access.target if b.resource_type is ResourceType.GROUP]


def test_two_migrations_from_the_same_source_share_no_internal_topic() -> None:
    assert not set(internal_topic_names("a1", "legacy")) & set(internal_topic_names("a2", "legacy"))


def test_mirrormaker_is_configured_with_the_alias_the_internal_topic_names_assume() -> None:
    spec = MirrorSpec("m1", ClusterEndpoint("legacy", "h:1", mirror_username("m1"), "pw1"),
                      ClusterEndpoint("payments-dev", "h:2", mirror_username("m1"), "pw2"), ("payments.a",))
    props = mm2_properties(spec)
    assert props["clusters"] == "legacy-mirror-m1,payments-dev"
    assert props["offset-syncs.topic.location"] == "target"
    assert props["payments-dev.group.id"] == mirror_username("m1")
    assert props["offset.storage.topic"] in internal_topic_names("m1", "legacy")
    assert mirror_username("m1") in props["legacy-mirror-m1.sasl.jaas.config"]
    for config in connector_configs(spec).values():
        assert config["source.cluster.alias"] == "legacy-mirror-m1"


def test_the_password_is_derived_per_key_cluster_and_mirror_never_stored() -> None:
    first = mirror_password("admin-secret", "legacy", "m1")
    assert first == mirror_password("admin-secret", "legacy", "m1")  # any driver process, after a restart
    assert len(first) == 43
    assert len({first, mirror_password("other-secret", "legacy", "m1"), mirror_password("admin-secret", "x", "m1"),
                mirror_password("admin-secret", "legacy", "m2")}) == 4
    assert "admin-secret" not in first


def _access(world: World, migration_id: str) -> MirrorAccess:
    """What the driver grants: the plan's moved groups; the fake engine is no Connect cluster (dedicated)."""
    groups = [g["group"] for g in world.view()["plan"]["consumer_groups"]]
    assert groups
    return mirror_access(migration_id, "legacy", [TOPIC], groups)


def _mirror_events(world: World) -> list[tuple[str, dict[str, object]]]:
    with unit_of_work(world.api.engine) as session:
        chained = [(r.action, dict(r.data)) for r in session.exec(select(AuditEventRow).order_by(
            col(AuditEventRow.seq))).all()]
        waiting = [(r.action, dict(r.data)) for r in session.exec(select(AuditInboxRow).order_by(
            col(AuditInboxRow.id))).all()]
        return [(a, d) for a, d in chained + waiting if a.startswith("migration:mirror")]


def test_the_driver_runs_the_mirror_as_its_principal_and_cleans_up_after_it(world: World) -> None:
    world.drive(2)  # at mirroring
    migration_id = world.view()["id"]
    world.drive()  # the principal is granted, then the mirror starts as it
    source, target = world.ports["legacy"], world.ports["payments-dev"]
    access = _access(world, migration_id)
    principal = access.principal
    assert principal in source.scram_users
    assert principal in target.scram_users
    assert {b for b in source.acls if b.principal == principal} == access.source
    assert {b for b in target.acls if b.principal == principal} == access.target
    spec = world.mirror.running[migration_id]
    assert spec.source.username == spec.target.username == mirror_username(migration_id)
    assert "secret" not in (spec.source.password, spec.target.password)  # never the admin's password
    assert spec.source.password != spec.target.password
    assert source.scram_users[principal].password == spec.source.password
    view = world.view()
    assert (view["mirror"]["principal"], view["mirror"]["access"]) == (principal, "granted")
    # Drift: the principal's ACLs and internal topics are the migration's, not unmanaged.
    for name in access.target_internal_topics:
        target.create_topics([DesiredTopic(name, 1, 1, {"cleanup.policy": "compact"})])  # as MirrorMaker does
    for cluster in ("legacy", "payments-dev"):
        scan = scan_cluster(world.api.engine, cluster, world.ports[cluster])
        assert not [b for b in scan.unmanaged_acls if b["principal"] == principal]
        assert not set(scan.unmanaged_topics) & set(access.target_internal_topics)

    _cut_consumers_over(world)
    world.drive()  # verified: producers_cut_over
    world.drive()  # the mirror stops; principal, ACLs and internal topics go
    view = world.view()
    assert view["step"] == "producers_cut_over", (view["gate"], view["last_error"])
    for port in (source, target):
        assert principal not in port.scram_users
        assert not [b for b in port.acls if b.principal == principal]
    assert not set(access.target_internal_topics) & target.topics.keys()
    assert TOPIC in target.topics  # user topics are never touched
    assert TOPIC in source.topics
    cleanup = view["mirror"]["cleanup"]
    assert (view["mirror"]["access"], sorted(cleanup["target"]["topics"])) == (
        "revoked", sorted(access.target_internal_topics))
    assert cleanup["source"] == {"acls": len(access.source), "user": principal}
    events = _mirror_events(world)
    assert [a for a, _ in events] == ["migration:mirror-access", "migration:mirror-cleanup"]
    assert events[1][1]["principal"] == principal
    world.drive()  # level-triggered: nothing left, no second clean-up event, the record stays
    assert len(_mirror_events(world)) == 2
    assert world.view()["mirror"]["cleanup"] == cleanup


def test_a_refused_mirror_acl_holds_the_step_and_is_retried(world: World) -> None:
    world.drive(2)
    migration_id = world.view()["id"]
    access = _access(world, migration_id)
    refused = Outcome.failure(OutcomeReason.NOT_AUTHORIZED, "Cluster authorization failed", transient=False)
    first = sorted(access.source, key=lambda b: b.key)[0]
    world.ports["legacy"].script("create_acls", first.key, refused)
    world.drive()
    view = world.view()
    assert view["step"] == "mirroring"
    assert "the source refused the mirror's ACLs" in view["last_error"]
    world.drive()
    view = world.view()
    assert access.source <= world.ports["legacy"].acls
    assert view["last_error"] is None or "mirror's ACLs" not in view["last_error"]


def test_a_rollback_revokes_the_principal_too(world: World) -> None:
    world.drive(3)
    migration_id = world.view()["id"]
    principal = mirror_principal(migration_id)
    assert principal in world.ports["payments-dev"].scram_users
    rolled = world.api.call("ingest-owner", "POST", f"/api/v1/migrations/{migration_id}/rollback",
                            {"reason": "not now"})
    assert rolled.status_code == 200, rolled.json
    world.drive()
    view = world.view()
    assert view["finished_at"] is not None, view["last_error"]
    assert view["mirror"]["access"] == "revoked"
    for port in world.ports.values():
        assert principal not in port.scram_users
        assert not [b for b in port.acls if b.principal == principal]


def test_the_credential_is_set_again_only_when_its_derived_password_changes(world: World,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    world.drive(3)  # granted and mirroring
    migration_id = world.view()["id"]
    principal, target = mirror_principal(migration_id), world.ports["payments-dev"]
    first = target.scram_users[principal]
    world.drive()
    assert target.scram_users[principal] is first  # not set again while MirrorMaker may be logging in
    assert "credential" not in world.view()["mirror"]  # the fingerprint is the driver's, not the API's
    monkeypatch.setenv("X_PASSWORD", "rotated-admin-secret")  # the clusters' admin secret rotates
    world.drive()
    rotated = target.scram_users[principal]
    assert rotated is not first
    assert rotated.password == mirror_password("rotated-admin-secret", "payments-dev", migration_id)
    assert world.mirror.running[migration_id].target.password == rotated.password
