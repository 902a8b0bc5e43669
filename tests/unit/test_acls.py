"""bindings_for: the minimal ACL bindings of a grant."""

from __future__ import annotations

import pytest

from topicdesk.domain.acls import (
    AclBinding,
    AclOperation,
    AclPermission,
    InvalidGrant,
    ResourceType,
    bindings_for,
    grant_key,
)
from topicdesk.domain.model import Access, AccessGrant, PatternType

LIT, PRE = PatternType.LITERAL, PatternType.PREFIXED
TOPIC, GROUP, TXN = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
R, W, D = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE


def b(rtype: ResourceType, name: str, pattern: PatternType, principal: str, op: AclOperation) -> AclBinding:
    return AclBinding(rtype, name, pattern, principal, op)


def test_produce_is_topic_write_and_describe() -> None:
    grant = AccessGrant("User:pay.writer", "payments.orders", Access.PRODUCE)
    assert bindings_for(grant) == {
        b(TOPIC, "payments.orders", LIT, "User:pay.writer", W),
        b(TOPIC, "payments.orders", LIT, "User:pay.writer", D),
    }


def test_transactional_produce_adds_transactional_id_write_and_describe() -> None:
    grant = AccessGrant("User:w", "payments.orders", Access.PRODUCE, transactional_id="orders-tx")
    assert bindings_for(grant) == {
        b(TOPIC, "payments.orders", LIT, "User:w", W),
        b(TOPIC, "payments.orders", LIT, "User:w", D),
        b(TXN, "orders-tx", LIT, "User:w", W),
        b(TXN, "orders-tx", LIT, "User:w", D),
    }


def test_consume_is_topic_read_describe_and_group_read() -> None:
    grant = AccessGrant("User:r", "payments.orders", Access.CONSUME, group="billing")
    assert bindings_for(grant) == {
        b(TOPIC, "payments.orders", LIT, "User:r", R),
        b(TOPIC, "payments.orders", LIT, "User:r", D),
        b(GROUP, "billing", LIT, "User:r", R),
    }


def test_prefixed_grant_uses_prefixed_topic_and_its_own_group_pattern() -> None:
    grant = AccessGrant(
        "User:r", "payments.", Access.CONSUME, pattern=PRE, group="billing-", group_pattern=PRE
    )
    assert bindings_for(grant) == {
        b(TOPIC, "payments.", PRE, "User:r", R),
        b(TOPIC, "payments.", PRE, "User:r", D),
        b(GROUP, "billing-", PRE, "User:r", R),
    }


def test_every_binding_is_allow_from_any_host() -> None:
    grant = AccessGrant("User:r", "t", Access.CONSUME, group="g")
    assert {(x.permission, x.host) for x in bindings_for(grant)} == {(AclPermission.ALLOW, "*")}


@pytest.mark.parametrize(
    ("grant", "message"),
    [
        (AccessGrant("User:r", "t", Access.CONSUME), "needs a consumer group"),
        (AccessGrant("User:w", "t", Access.PRODUCE, group="g"), "takes no consumer group"),
        (AccessGrant("User:r", "t", Access.CONSUME, group="g", transactional_id="x"), "takes no transactional id"),
        (AccessGrant("User:r", "", Access.PRODUCE), "needs a topic"),
    ],
)
def test_invalid_grants_are_rejected_with_a_reason(grant: AccessGrant, message: str) -> None:
    with pytest.raises(InvalidGrant, match=message):
        bindings_for(grant)


def test_principal_must_be_a_user() -> None:
    with pytest.raises(ValueError, match="User:<name>"):
        bindings_for(AccessGrant("Group:x", "t", Access.PRODUCE))


def test_keys_are_stable_and_distinct() -> None:
    x = b(TOPIC, "t", LIT, "User:a", R)
    assert x.key == "acl:topic:literal:t:User:a:*:read:allow"
    assert b(TOPIC, "t", PRE, "User:a", R).key != x.key
    g1 = AccessGrant("User:r", "t", Access.CONSUME, group="g1")
    g2 = AccessGrant("User:r", "t", Access.CONSUME, group="g2")
    assert grant_key(g1) != grant_key(g2)
    assert grant_key(g1) == "grant:consume:literal:t:User:r:group=literal:g1"

