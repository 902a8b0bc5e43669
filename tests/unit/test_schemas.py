"""schemas/: every request kind, the envelope, and how errors read (all of them, with JSON paths)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import string
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.contract import CONTRACT_TOPIC_CREATE
from topicdesk.domain.errors import FieldError, ValidationFailed
from topicdesk.schemas import (
    DESIRED_STATE_SCHEMA_ID,
    FORMAT_CHECKER,
    POLICY_SCHEMA_ID,
    REQUEST_KINDS,
    REQUEST_SCHEMA_ID,
    SCHEMA_BASE_URI,
    SCHEMA_DIR,
    SchemaFileError,
    all_schemas,
    default_schemas,
    field_errors,
    kind_schema_id,
    load_schemas,
    request_errors,
    schema_errors,
    validate_request,
)

VALID_REQUESTS: dict[str, dict[str, Any]] = {
    "contract topic.create": CONTRACT_TOPIC_CREATE,
    "minimal topic.create": {
        "kind": "topic.create",
        "cluster": "payments-dev",
        "spec": {"name": "payments.x", "partitions": 1, "replication_factor": 1},
    },
    "topic.create with everything": {
        "kind": "topic.create",
        "cluster": "payments-prod",
        "spec": {
            "name": "payments.invoices.v2",
            "partitions": 10000,
            "replication_factor": 3,
            "config": {
                "cleanup.policy": "compact,delete",
                "compression.type": "zstd",
                "min.insync.replicas": "2",
                "retention.ms": "-1",
                "retention.bytes": "1073741824",
                "min.cleanable.dirty.ratio": "0.5",
                "message.timestamp.type": "LogAppendTime",
            },
            "producers": [],
            "consumers": [
                {"principal": "User:billing.reader", "group": "billing.", "group_pattern": "prefixed"},
            ],
            "expected_throughput": {"bytes_per_second": 1048576, "peak_bytes_per_second": 5242880},
            "data_contract": {"format": "avro", "subject": "payments.invoices.v2-value", "compatibility": "BACKWARD"},
        },
    },
    "topic.update": {
        "kind": "topic.update",
        "cluster": "payments-dev",
        "spec": {"name": "payments.invoices.v1", "partitions": 12, "config": {"retention.ms": None}},
    },
    "topic.delete": {"kind": "topic.delete", "cluster": "payments-dev", "spec": {"name": "payments.invoices.v1"}},
    "access.grant consume": {
        "kind": "access.grant",
        "cluster": "payments-dev",
        "spec": {
            "topic": "payments.invoices.v1",
            "principal": "User:billing.invoice-reader",
            "access": "consume",
            "group": "billing.invoice-readers",
        },
    },
    "access.grant produce transactional": {
        "kind": "access.grant",
        "cluster": "payments-dev",
        "spec": {
            "topic": "payments.",
            "pattern": "prefixed",
            "principal": "User:payments.writer",
            "access": "produce",
            "transactional_id": "payments.writer-tx",
        },
    },
    "access.revoke": {
        "kind": "access.revoke",
        "cluster": "payments-dev",
        "spec": {"topic": "payments.invoices.v1", "principal": "User:payments.writer", "access": "produce"},
    },
    "quota.set": {
        "kind": "quota.set",
        "cluster": "payments-dev",
        "spec": {"principal": "User:payments.writer", "producer_byte_rate": 5242880, "request_percentage": 12.5},
    },
    "quota.set removing one quota": {
        "kind": "quota.set",
        "cluster": "payments-dev",
        "spec": {"principal": "User:payments.writer", "consumer_byte_rate": None},
    },
    "topic.migrate by name": {
        "kind": "topic.migrate",
        "cluster": "legacy-monolith",
        "spec": {"target_cluster": "payments-dev", "topics": ["payments.invoices.v1"]},
    },
    "topic.migrate by prefix": {
        "kind": "topic.migrate",
        "cluster": "legacy-monolith",
        "spec": {"target_cluster": "payments-dev", "prefix": "payments.", "consumer_groups": ["billing.readers"]},
    },
}


def errors_of(document: object) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in request_errors(document):
        found.setdefault(error.path, []).append(error.message)
    return found


def with_spec(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "cluster": "payments-dev", "spec": spec}


def topic_create(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(CONTRACT_TOPIC_CREATE)
    document["spec"].update(changes)
    return document


# --- valid input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(VALID_REQUESTS))
def test_valid_requests_pass(name: str) -> None:
    validate_request(VALID_REQUESTS[name])
    assert request_errors(VALID_REQUESTS[name]) == []


def test_every_kind_has_a_schema_and_a_valid_example() -> None:
    kinds_with_examples = {doc["kind"] for doc in VALID_REQUESTS.values()}
    assert kinds_with_examples == set(REQUEST_KINDS)
    for kind in REQUEST_KINDS:
        assert kind_schema_id(kind) in default_schemas().schemas


def test_examples_inside_the_schema_files_are_valid() -> None:
    checked = 0
    for schema_id, schema in all_schemas().items():
        for example in schema.get("examples", []):
            assert schema_errors(schema_id, example) == [], (schema_id, example)
            checked += 1
    assert checked >= len(REQUEST_KINDS) + 2


def test_topic_name_limits() -> None:
    assert request_errors(topic_create(name="a" * 249)) == []
    assert request_errors(topic_create(name="A-z_0.9")) == []
    assert errors_of(topic_create(name="a" * 250)) == {
        "/spec/name": ["topic names are at most 249 characters long; this one has 250"]
    }


# --- bad input: every error, each with its path -------------------------------------------------


def test_unknown_kind_names_the_known_kinds() -> None:
    errors = request_errors({"kind": "topic.rename", "cluster": "payments-dev", "spec": {"name": "x"}})
    assert errors == [
        FieldError(
            "/kind",
            'unknown kind "topic.rename"; known kinds: topic.create, topic.update, topic.delete, '
            "access.grant, access.revoke, quota.set, topic.migrate",
        )
    ]


def test_validate_request_raises_a_422_with_every_error() -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_request(topic_create(partitions=0, name="bad name"))
    assert raised.value.status == 422
    assert [e.path for e in raised.value.errors] == ["/spec/name", "/spec/partitions"]
    assert "2 problems" in raised.value.message


def test_many_errors_at_once_are_all_listed_with_paths() -> None:
    document = {
        "kind": "topic.create",
        "cluster": "payments-dev",
        "surprise": True,
        "spec": {
            "name": "payments invoices!",
            "partitions": -3,
            "replication_factor": "3",
            "config": {"retention.ms": 604800000, "log.flush.interval.ms": "1", "cleanup.policy": "remove"},
            "producers": ["payments.invoice-writer"],
            "consumers": [{"principal": "User:billing.reader", "grup": "billing.readers"}],
            "owner": "payments",
        },
    }
    errors = errors_of(document)
    assert sorted(errors) == [
        "/spec/config/cleanup.policy",
        "/spec/config/log.flush.interval.ms",
        "/spec/config/retention.ms",
        "/spec/consumers/0/group",
        "/spec/consumers/0/grup",
        "/spec/name",
        "/spec/owner",
        "/spec/partitions",
        "/spec/producers/0",
        "/spec/replication_factor",
        "/surprise",
    ]
    # The envelope's errors come first, then the spec's.
    assert request_errors(document)[0].path == "/surprise"
    assert all(len(messages) == 1 for messages in errors.values()), errors


@pytest.mark.parametrize(
    ("spec_changes", "path", "message"),
    [
        ({"name": "payments/invoices"}, "/spec/name", "has characters Kafka does not allow"),
        ({"name": "payments invoices"}, "/spec/name", "has characters Kafka does not allow"),
        ({"name": "paiements.éé"}, "/spec/name", "has characters Kafka does not allow"),
        ({"name": "."}, "/spec/name", "'.' and '..' are not valid topic names"),
        ({"name": ".."}, "/spec/name", "'.' and '..' are not valid topic names"),
        ({"name": ""}, "/spec/name", "a topic name cannot be empty"),
        ({"name": 42}, "/spec/name", "must be a string, not a whole number"),
        ({"partitions": 0}, "/spec/partitions", "a topic needs at least 1 partition, got 0"),
        ({"partitions": -1}, "/spec/partitions", "a topic needs at least 1 partition, got -1"),
        ({"partitions": 10001}, "/spec/partitions", "10001 partitions is more than the 10000 a topic may have"),
        ({"partitions": 10**15}, "/spec/partitions", "is more than the 10000 a topic may have"),
        ({"partitions": 2.5}, "/spec/partitions", "must be a whole number, not a decimal number"),
        ({"partitions": "6"}, "/spec/partitions", "must be a whole number, not a string"),
        ({"partitions": True}, "/spec/partitions", "must be a whole number, not a boolean"),
        ({"partitions": None}, "/spec/partitions", "must be a whole number, not null"),
        ({"replication_factor": 0}, "/spec/replication_factor", "at least 1"),
        ({"replication_factor": 11}, "/spec/replication_factor", "at most 10"),
        ({"config": {"colour": "red"}}, "/spec/config/colour", '"colour" is not a topic config Topicdesk manages'),
        ({"config": {"retention.ms": 1000}}, "/spec/config/retention.ms", "topic config values are strings"),
        ({"config": {"retention.ms": None}}, "/spec/config/retention.ms", "topic config values are strings"),
        ({"config": {"retention.ms": "7d"}}, "/spec/config/retention.ms", 'or "-1" for unlimited, got "7d"'),
        ({"config": {"min.insync.replicas": "0"}}, "/spec/config/min.insync.replicas", "from 1 to 99"),
        ({"config": {"compression.type": "brotli"}}, "/spec/config/compression.type", "compression.type is one of"),
        ({"config": ["retention.ms"]}, "/spec/config", "must be an object, not a list"),
        ({"producers": "User:payments.w"}, "/spec/producers", "must be a list, not a string"),
        ({"producers": ["User:*"]}, "/spec/producers/0", "is not a principal"),
        ({"producers": ["User:a.b", "User:a.b"]}, "/spec/producers", "must not list the same item twice"),
        ({"consumers": [{"principal": "User:a.b", "group": "g", "x": 1}]}, "/spec/consumers/0/x", "unknown field"),
        ({"description": "x" * 2001}, "/spec/description", "at most 2000 characters"),
        ({"expected_throughput": {}}, "/spec/expected_throughput/bytes_per_second", "is required"),
        ({"expected_throughput": {"bytes_per_second": -1}}, "/spec/expected_throughput/bytes_per_second", "at least 0"),
        ({"data_contract": {"format": "xml"}}, "/spec/data_contract/format", 'must be one of "avro"'),
    ],
)
def test_bad_topic_create_fields(spec_changes: dict[str, Any], path: str, message: str) -> None:
    errors = errors_of(topic_create(**spec_changes))
    assert list(errors) == [path], errors
    assert len(errors[path]) == 1, errors
    assert message in errors[path][0]


def test_unknown_config_keys_are_each_named_with_the_allowed_ones() -> None:
    errors = errors_of(topic_create(config={"unclean.leader.election.enable": "true", "preallocate": "true"}))
    assert sorted(errors) == ["/spec/config/preallocate", "/spec/config/unclean.leader.election.enable"]
    message = errors["/spec/config/preallocate"][0]
    assert message.startswith('"preallocate" is not a topic config Topicdesk manages; allowed keys: cleanup.policy,')
    assert "retention.ms" in message


def test_paths_escape_slashes_and_tildes() -> None:
    errors = errors_of(topic_create(config={"a/b~c": "1"}))
    assert list(errors) == ["/spec/config/a~1b~0c"]


def test_missing_required_fields_point_at_the_field() -> None:
    assert errors_of({"kind": "topic.create", "cluster": "payments-dev", "spec": {}}) == {
        "/spec/name": ['"name" is required'],
        "/spec/partitions": ['"partitions" is required'],
        "/spec/replication_factor": ['"replication_factor" is required'],
    }
    assert errors_of({}) == {
        "/cluster": ['"cluster" is required'],
        "/kind": ['"kind" is required'],
        "/spec": ['"spec" is required'],
    }


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ([], {"": ["must be an object, not a list"]}),
        ("topic.create", {"": ["must be an object, not a string"]}),
        (None, {"": ["must be an object, not null"]}),
        (
            {"kind": 7, "cluster": "payments-dev", "spec": "x"},
            {"/kind": ["must be a string, not a whole number"], "/spec": ["must be an object, not a string"]},
        ),
        (
            {"kind": "topic.delete", "cluster": "payments dev", "spec": {"name": "x"}, "reason": 5},
            {
                "/cluster": ['"payments dev" is not a cluster name: 1 to 100 letters, digits, \'.\', \'_\' or \'-\', '
                             "starting with a letter or digit"],
                "/reason": ["must be a string, not a whole number"],
            },
        ),
    ],
)
def test_bad_envelopes(document: object, expected: dict[str, list[str]]) -> None:
    assert errors_of(document) == expected


def test_topic_update_needs_a_change_and_allows_resetting_configs() -> None:
    assert errors_of(with_spec("topic.update", {"name": "payments.x"})) == {
        "/spec": [
            "name at least one field to change besides name: partitions, replication_factor, config, "
            "description, producers, consumers, expected_throughput or data_contract"
        ]
    }
    assert errors_of(with_spec("topic.update", {"name": "payments.x", "config": {"segment.ms": 5}})) == {
        "/spec/config/segment.ms": [
            "topic config values are strings (or null to go back to the broker default), got 5"
        ]
    }
    assert errors_of(with_spec("topic.update", {"name": "payments.x", "partitions": 0, "colour": 1})) == {
        "/spec/colour": [
            'unknown field "colour"; allowed fields: name, partitions, replication_factor, config, description, '
            "producers, consumers, expected_throughput, data_contract"
        ],
        "/spec/partitions": ["a topic needs at least 1 partition, got 0"],
    }


def test_topic_delete_takes_only_a_name() -> None:
    assert errors_of(with_spec("topic.delete", {"name": "payments.x", "force": True})) == {
        "/spec/force": ['unknown field "force"; allowed fields: name']
    }


@pytest.mark.parametrize("kind", ["access.grant", "access.revoke"])
def test_access_rules(kind: str) -> None:
    base = {"topic": "payments.invoices.v1", "principal": "User:billing.reader"}
    assert errors_of(with_spec(kind, {**base, "access": "consume"})) == {
        "/spec/group": [
            "consume access needs the consumer group the principal will use, e.g. payments.invoice-readers"
        ]
    }
    assert errors_of(with_spec(kind, {**base, "access": "consume", "group": "g", "transactional_id": "t"})) == {
        "/spec/transactional_id": ["transactional_id only goes with produce access"]
    }
    assert errors_of(with_spec(kind, {**base, "access": "produce", "group": "g", "group_pattern": "literal"})) == {
        "/spec/group": ["group only goes with consume access"],
        "/spec/group_pattern": ["group_pattern only goes with consume access"],
    }
    assert errors_of(with_spec(kind, {**base, "access": "read", "pattern": "glob"})) == {
        "/spec/access": ['must be one of "consume", "produce"; got "read"'],
        "/spec/pattern": ['must be one of "literal", "prefixed"; got "glob"'],
    }
    assert errors_of(with_spec(kind, {"access": "produce", "principal": "payments", "extra": 1})) == {
        "/spec/extra": [
            'unknown field "extra"; allowed fields: topic, principal, access, pattern, group, group_pattern, '
            "transactional_id, expires_at, duration"
        ],
        "/spec/principal": [
            '"payments" is not a principal: write User:<name>, e.g. User:payments.invoice-writer '
            "(letters, digits, '.', '_', '-')"
        ],
        "/spec/topic": ['"topic" is required'],
    }


def test_quota_set_needs_at_least_one_quota() -> None:
    assert errors_of(with_spec("quota.set", {"principal": "User:payments.writer"})) == {
        "/spec": [
            "name at least one quota to set: producer_byte_rate, consumer_byte_rate or request_percentage"
        ]
    }
    assert errors_of(
        with_spec(
            "quota.set",
            {"principal": "User:payments.writer", "producer_byte_rate": 0, "request_percentage": "10", "x": 1},
        )
    ) == {
        "/spec/producer_byte_rate": ["must be at least 1; got 0"],
        "/spec/request_percentage": ["must be a number or null, not a string"],
        "/spec/x": [
            'unknown field "x"; allowed fields: principal, producer_byte_rate, consumer_byte_rate, request_percentage'
        ],
    }


# --- the desired-state file ---------------------------------------------------------------------


def test_desired_state_file_reuses_the_spec_schemas() -> None:
    good = {
        "version": 1,
        "cluster": "payments-dev",
        "team": "payments",
        "topics": [CONTRACT_TOPIC_CREATE["spec"]],
        "grants": [VALID_REQUESTS["access.grant consume"]["spec"]],
        "quotas": [VALID_REQUESTS["quota.set"]["spec"]],
    }
    assert schema_errors(DESIRED_STATE_SCHEMA_ID, good) == []
    bad = {**good, "team": "pay.ments", "topics": [{"name": "payments.x", "partitions": 0, "replication_factor": 1}]}
    assert [e.path for e in schema_errors(DESIRED_STATE_SCHEMA_ID, bad)] == ["/team", "/topics/0/partitions"]


# --- the schema files themselves ----------------------------------------------------------------


def test_all_schemas_are_keyed_by_id_and_are_copies() -> None:
    schemas = all_schemas()
    assert {SCHEMA_BASE_URI + p.name for p in SCHEMA_DIR.glob("*.json")} == set(schemas)
    for schema_id, schema in schemas.items():
        assert schema["$id"] == schema_id
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    schemas[SCHEMA_BASE_URI + "request.json"]["properties"].clear()
    assert all_schemas()[SCHEMA_BASE_URI + "request.json"]["properties"]


def test_schemas_are_loaded_once() -> None:
    assert default_schemas() is default_schemas()
    first = default_schemas().validator(kind_schema_id("topic.create"))
    assert default_schemas().validator(kind_schema_id("topic.create")) is first


def _x_messages(node: object) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "x-messages":
                found.extend(value.items())
            else:
                found.extend(_x_messages(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_x_messages(item))
    return found


def test_custom_messages_only_use_known_placeholders() -> None:
    known = {"value", "raw", "length", "limit", "field", "allowed"}
    messages = [m for schema in all_schemas().values() for m in _x_messages(schema)]
    assert len(messages) > 20
    for keyword, template in messages:
        assert re.fullmatch(r"[a-zA-Z]+", keyword), keyword
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
        assert names <= known, (keyword, template)


def test_a_broken_schema_file_is_named(tmp_path: Path) -> None:
    directory = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, directory)
    (directory / "quota.set.json").write_text('{"$id": ', encoding="utf-8")
    with pytest.raises(SchemaFileError, match=r"quota\.set\.json: not valid JSON"):
        load_schemas(directory)

    shutil.copy(SCHEMA_DIR / "quota.set.json", directory / "quota.set.json")
    broken = json.loads((SCHEMA_DIR / "topic.delete.json").read_text(encoding="utf-8"))
    broken["properties"]["name"] = {"type": "text"}
    (directory / "topic.delete.json").write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(SchemaFileError, match=r"topic\.delete\.json: not a valid JSON Schema at /properties/name"):
        load_schemas(directory)

    (directory / "topic.delete.json").unlink()
    with pytest.raises(SchemaFileError, match=r"topic\.delete\.json: missing"):
        load_schemas(directory)


def test_a_schema_whose_id_does_not_match_its_file_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, directory)
    (directory / "extra.json").write_text(json.dumps({"$id": SCHEMA_BASE_URI + "other.json"}), encoding="utf-8")
    with pytest.raises(SchemaFileError, match=r"extra\.json: \$id must be"):
        load_schemas(directory)


def test_a_ref_that_points_nowhere_fails_at_load(tmp_path: Path) -> None:
    directory = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, directory)
    broken = json.loads((SCHEMA_DIR / "topic.delete.json").read_text(encoding="utf-8"))
    broken["properties"]["name"] = {"$ref": "common.json#/$defs/topic_nmae"}
    (directory / "topic.delete.json").write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(
        SchemaFileError,
        match=r"topic\.delete\.json: \$ref 'common.json#/\$defs/topic_nmae' at /properties/name does not resolve",
    ):
        load_schemas(directory)


# --- $refs inlined at compile time report exactly what the files say ------------------------------

BAD_VALUES: tuple[object, ...] = (None, True, -1, 0, 2.5, 10**15, "", "x" * 300, "User:*", "a/b", [], [None], {},
                                  {"unknown": 1})


def _mutations(document: object) -> list[object]:
    """The document with each value, down to two levels, swapped for each bad value (or dropped)."""
    found: list[object] = []
    if not isinstance(document, dict):
        return found
    for key, value in document.items():
        for bad in BAD_VALUES:
            found.append({**document, key: bad})
        found.append({k: v for k, v in document.items() if k != key})
        if isinstance(value, dict):
            found += [{**document, key: inner} for inner in _mutations(value)]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            found += [{**document, key: [inner, *value[1:]]} for inner in _mutations(value[0])]
    return found


def _corpus() -> list[tuple[str, object]]:
    schema_set = default_schemas()
    cases: list[tuple[str, object]] = []
    for schema_id, schema in schema_set.schemas.items():
        for example in schema.get("examples", []):
            cases += [(schema_id, example), *((schema_id, bad) for bad in _mutations(example))]
    for document in VALID_REQUESTS.values():
        cases += [(REQUEST_SCHEMA_ID, document), *((REQUEST_SCHEMA_ID, bad) for bad in _mutations(document))]
        spec_id = kind_schema_id(document["kind"])
        cases += [(spec_id, bad) for bad in _mutations(document["spec"])]
    # One policy file: the policy schema checks rule schemas against the (slow) draft metaschema.
    policy = json.loads((SCHEMA_DIR.parent / "policies" / "naming.policy.json").read_text(encoding="utf-8"))
    cases += [(POLICY_SCHEMA_ID, policy), *((POLICY_SCHEMA_ID, bad) for bad in _mutations(policy))]
    return cases


def test_inlined_refs_give_the_same_errors_as_resolving_them() -> None:
    schema_set = default_schemas()
    raw = {schema_id: Draft202012Validator(schema, registry=schema_set.registry, format_checker=FORMAT_CHECKER)
           for schema_id, schema in schema_set.schemas.items()}
    corpus = _corpus()
    assert len(corpus) > 1500
    differing = []
    for schema_id, document in corpus:
        expected = field_errors(raw[schema_id].iter_errors(document))
        if schema_set.errors(schema_id, document) != expected:
            differing.append((schema_id, document))
    assert not differing, differing[:3]
    # And the point of it: no $ref is left on the request path.
    for schema_id in (REQUEST_SCHEMA_ID, *(kind_schema_id(kind) for kind in REQUEST_KINDS)):
        assert '"$ref"' not in json.dumps(schema_set.validator(schema_id).schema), schema_id


def test_declared_formats_are_enforced_with_a_readable_message() -> None:
    triage = SCHEMA_BASE_URI + "drift-triage.json"
    errors = schema_errors(triage, {"action": "ignore", "reason": "r", "expires_at": "2026-13-45T00:00:00Z"})
    assert [(e.path, e.message) for e in errors] == [
        ("/expires_at",
         '"2026-13-45T00:00:00Z" is not an RFC 3339 timestamp with an offset, e.g. 2027-03-31T00:00:00Z')]
    create = kind_schema_id("topic.create")
    spec = {"name": "payments.x", "partitions": 1, "replication_factor": 1,
            "data_contract": {"format": "avro", "documentation_url": "not a uri"}}
    assert [(e.path, e.message) for e in schema_errors(create, spec)] == [
        ("/data_contract/documentation_url", '"not a uri" is not an absolute URI, e.g. https://wiki.example.com/page')]
    spec["data_contract"]["documentation_url"] = "https://wiki.example.com/payments/invoices"  # type: ignore[index]
    assert schema_errors(create, spec) == []


def test_a_migration_names_topics_or_a_prefix_but_not_both() -> None:
    both = {"kind": "topic.migrate", "cluster": "legacy-monolith",
            "spec": {"target_cluster": "payments-dev", "topics": ["payments.a"], "prefix": "payments."}}
    assert errors_of(both) == {"/spec": ["name the topics to migrate in topics, or a prefix, but not both"]}
    neither = {"kind": "topic.migrate", "cluster": "legacy-monolith", "spec": {"target_cluster": "payments-dev"}}
    assert list(errors_of(neither)) == ["/spec"]
    bad = {"kind": "topic.migrate", "cluster": "legacy-monolith",
           "spec": {"target_cluster": "payments-dev", "topics": [], "extra": 1}}
    assert set(errors_of(bad)) >= {"/spec/topics", "/spec/extra"}
