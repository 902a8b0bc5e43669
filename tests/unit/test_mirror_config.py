"""MirrorMaker 2's configuration: exact topic and group regexes, SCRAM settings quoted as JAAS and
java.util.Properties read them, nothing written to the source, secrets redacted."""

from __future__ import annotations

import re

import pytest

from topicdesk.domain.mirror_config import (
    CHECKPOINT_CONNECTOR,
    IDENTITY_POLICY,
    REDACTED,
    SOURCE_CONNECTOR,
    connector_configs,
    exact_list,
    java_regex_literal,
    mm2_properties,
    properties_text,
    redacted,
    scram_jaas_config,
)
from topicdesk.services.mirror_port import ClusterEndpoint, MirrorSpec

SRC = "legacy-mirror-m-42"  # the source alias carries the mirror id (internal topic names)
TRICKY = 'p"a\\ss w=rd:#\n\u00e9\U0001f600'


def spec(**changes: object) -> MirrorSpec:
    base: dict[str, object] = dict(
        mirror_id="m-42",
        source=ClusterEndpoint("legacy", "127.0.0.1:9092,127.0.0.1:9093", "admin", "s3cret"),
        target=ClusterEndpoint("payments-dev", "127.0.0.1:9192", "mirror-user", TRICKY),
        topics=("payments.invoices.v1", "payments.refunds-v2"),
        groups=("billing.readers", "odd,group name"),
        sync_interval_seconds=2, offset_lag_max=7)
    base.update(changes)
    return MirrorSpec(**base)  # type: ignore[arg-type]


def java_to_python_regex(pattern: str) -> str:
    return re.sub(r"\\x\{([0-9A-F]+)\}", lambda m: re.escape(chr(int(m.group(1), 16))), pattern)


def mirrormaker_filter(value: str) -> re.Pattern[str]:
    """What MirrorMaker does with `topics`/`groups`: ConfigDef LIST split, then joined by `|`."""
    fields = re.split(r"\s*,\s*", value.strip())
    return re.compile("|".join(java_to_python_regex(f) for f in fields))


def load_properties(text: str) -> dict[str, str]:
    """java.util.Properties.load for the subset properties_text writes (one logical line each)."""
    escapes = {"n": "\n", "r": "\r", "t": "\t", "f": "\f"}
    result: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line[0] in "#!":
            continue
        key: list[str] = []
        value: list[str] = []
        target, i, in_key = key, 0, True
        while i < len(line):
            ch = line[i]
            if ch == "\\":
                nxt = line[i + 1]
                if nxt == "u":
                    target.append(chr(int(line[i + 2:i + 6], 16)))
                    i += 6
                    continue
                target.append(escapes.get(nxt, nxt))
                i += 2
                continue
            if in_key and ch in "=:":
                target, in_key = value, False
            else:
                target.append(ch)
            i += 1
        # Java joins UTF-16 code units; Python needs the surrogate pair combined.
        result["".join(key)] = "".join(value).encode("utf-16", "surrogatepass").decode("utf-16")
    return result


def jaas_password(jaas: str) -> str:
    match = re.search(r'password="((?:[^"\\]|\\.)*)"', jaas)
    assert match is not None
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), match.group(1))


@pytest.mark.parametrize("name", ["payments.invoices.v1", "a-b_c", "-leading", "trailing.", "odd,group name",
                                  "x|y", "ünïcode", "a.b*"])
def test_regex_literal_matches_exactly_the_name(name: str) -> None:
    pattern = mirrormaker_filter(java_regex_literal(name))
    assert pattern.fullmatch(name)
    assert not pattern.fullmatch(name + "x")
    if "." in name or "*" in name:
        assert not pattern.fullmatch(name.replace(".", "X").replace("*", "X"))


def test_dots_do_not_match_any_character() -> None:
    pattern = mirrormaker_filter(exact_list(("payments.invoices.v1",)))
    assert pattern.fullmatch("payments.invoices.v1")
    assert not pattern.fullmatch("paymentsXinvoicesXv1")


def test_list_holds_every_name_and_nothing_else() -> None:
    names = ("payments.invoices.v1", "odd,group name", "billing.readers")
    pattern = mirrormaker_filter(exact_list(names))
    assert all(pattern.fullmatch(n) for n in names)
    assert not pattern.fullmatch("payments.invoices.v2")
    assert not pattern.fullmatch("odd")
    assert exact_list(()) == ""


def test_mm2_properties_flow_and_clusters() -> None:
    props = mm2_properties(spec())
    assert props["clusters"] == f"{SRC},payments-dev"
    assert props[f"{SRC}->payments-dev.enabled"] == "true"
    assert props[f"payments-dev->{SRC}.enabled"] == "false"
    assert props[f"payments-dev->{SRC}.emit.heartbeats.enabled"] == "false"
    assert props["emit.heartbeats.enabled"] == "false"
    assert props[f"{SRC}.bootstrap.servers"] == "127.0.0.1:9092,127.0.0.1:9093"
    assert props["payments-dev.security.protocol"] == "SASL_PLAINTEXT"
    assert props["payments-dev.sasl.mechanism"] == "SCRAM-SHA-512"
    assert props["replication.policy.class"] == IDENTITY_POLICY
    assert props["offset-syncs.topic.location"] == "target"
    assert props["sync.topic.configs.enabled"] == "false"
    assert props["sync.topic.acls.enabled"] == "false"
    assert props["sync.group.offsets.enabled"] == "true"
    assert props["emit.checkpoints.enabled"] == "true"
    assert props["emit.checkpoints.interval.seconds"] == "2"
    assert props["sync.group.offsets.interval.seconds"] == "2"
    assert props["offset.lag.max"] == "7"
    assert props[f"{SRC}.consumer.auto.offset.reset"] == "earliest"
    assert props["payments-dev.producer.acks"] == "all"
    assert props["payments-dev.producer.enable.idempotence"] == "true"
    assert props["payments-dev.offset.flush.interval.ms"] == "2000"
    assert props["payments-dev.producer.max.in.flight.requests.per.connection"] == "5"
    # The flow's target producer only writes offset syncs: no linger (it caps the copy rate).
    assert props[f"{SRC}->payments-dev.target.producer.linger.ms"] == "0"
    assert props["payments-dev.group.id"] == "topicdesk-mirror-m-42"
    assert props["offset.storage.topic"] == "mm2-offsets.topicdesk-m-42.internal"
    for key in ("offset-syncs.topic.replication.factor", "checkpoints.topic.replication.factor",
                "offset.storage.replication.factor", "config.storage.replication.factor",
                "status.storage.replication.factor", "replication.factor"):
        assert props[key] == "-1", key
    assert props["topics.exclude"] == ""
    assert props["groups.exclude"] == ""


def test_nothing_configures_a_write_to_the_source() -> None:
    props = mm2_properties(spec())
    # Only client settings are prefixed by the source alias; no flow writes to it.
    assert {k for k in props if k.startswith(f"{SRC}.")} == {
        f"{SRC}.bootstrap.servers", f"{SRC}.security.protocol", f"{SRC}.sasl.mechanism", f"{SRC}.sasl.jaas.config",
        f"{SRC}.consumer.auto.offset.reset", f"{SRC}.consumer.max.poll.records"}
    assert not any(k.startswith(f"payments-dev->{SRC}.") and v == "true" for k, v in props.items())


def test_replication_factor_and_extra_overrides() -> None:
    props = mm2_properties(spec(internal_replication_factor=1, extra={"tasks.max": "4"}))
    assert props["checkpoints.topic.replication.factor"] == "1"
    assert props["status.storage.replication.factor"] == "1"
    assert props["tasks.max"] == "4"


def test_same_alias_twice_is_refused() -> None:
    same = spec(target=ClusterEndpoint("legacy", "x:1", "u", "p"))
    with pytest.raises(ValueError, match="two different cluster aliases"):
        mm2_properties(same)
    with pytest.raises(ValueError, match="two different cluster aliases"):
        connector_configs(same)


def test_password_survives_properties_file_and_jaas_quoting() -> None:
    text = properties_text(mm2_properties(spec()), header="generated\nby topicdesk")
    assert text.startswith("# generated\n# by topicdesk\n")
    assert text.isascii()
    loaded = load_properties(text)
    assert loaded == mm2_properties(spec())
    jaas = loaded["payments-dev.sasl.jaas.config"]
    assert jaas.startswith("org.apache.kafka.common.security.scram.ScramLoginModule required username=")
    assert jaas.endswith(";")
    assert jaas_password(jaas) == TRICKY
    assert "\n" not in jaas


def test_properties_keys_with_separators_are_escaped() -> None:
    text = properties_text({"a=b c": " lead", "k": "x=y"})
    assert load_properties(text) == {"a=b c": " lead", "k": "x=y"}


def test_plaintext_endpoint_has_no_sasl() -> None:
    props = mm2_properties(spec(source=ClusterEndpoint("legacy", "h:1", "", "", security_protocol="PLAINTEXT")))
    assert f"{SRC}.sasl.jaas.config" not in props
    assert props[f"{SRC}.security.protocol"] == "PLAINTEXT"


def test_connector_configs_for_connect() -> None:
    configs = connector_configs(spec())
    assert set(configs) == {"topicdesk-m-42-source", "topicdesk-m-42-checkpoint"}
    source, checkpoint = configs["topicdesk-m-42-source"], configs["topicdesk-m-42-checkpoint"]
    assert source["connector.class"] == SOURCE_CONNECTOR
    assert checkpoint["connector.class"] == CHECKPOINT_CONNECTOR
    for config in (source, checkpoint):
        assert config["source.cluster.alias"] == SRC
        assert config["target.cluster.alias"] == "payments-dev"
        assert config["source.cluster.bootstrap.servers"] == "127.0.0.1:9092,127.0.0.1:9093"
        assert config["target.cluster.sasl.mechanism"] == "SCRAM-SHA-512"
        assert config["replication.policy.class"] == IDENTITY_POLICY
        assert config["offset-syncs.topic.location"] == "target"
        assert config["key.converter"].endswith("ByteArrayConverter")
        assert config["header.converter"].endswith("ByteArrayConverter")
        assert config["sync.group.offsets.enabled"] == "true"
        assert mirrormaker_filter(config["topics"]).fullmatch("payments.refunds-v2")
    assert source["producer.override.bootstrap.servers"] == "127.0.0.1:9192"
    assert source["producer.override.acks"] == "all"
    assert source["target.producer.linger.ms"] == "0"
    assert source["source.consumer.auto.offset.reset"] == "earliest"
    assert jaas_password(source["producer.override.sasl.jaas.config"]) == TRICKY
    assert not any("heartbeat" in c["connector.class"].lower() for c in configs.values())


def test_redacted_hides_every_secret() -> None:
    props = mm2_properties(spec())
    shown = redacted(props)
    assert shown[f"{SRC}.sasl.jaas.config"] == REDACTED
    assert shown["payments-dev.sasl.jaas.config"] == REDACTED
    assert "s3cret" not in repr(shown)
    assert "w=rd" not in repr(shown)
    assert shown["clusters"] == props["clusters"]
    connect = redacted(connector_configs(spec())["topicdesk-m-42-source"])
    assert "s3cret" not in repr(connect)
    assert "w=rd" not in repr(connect)


def test_scram_jaas_config_shape() -> None:
    assert scram_jaas_config("u", "p") == (
        'org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="p";')
