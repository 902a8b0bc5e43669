"""MirrorMaker 2's configuration for one mirror (pure): the dedicated driver's mm2.properties and
the connector configurations a Kafka Connect cluster takes over REST.

Both renderings carry the same decisions (docs/migration.md, "Mirroring"):
- topic names are preserved (IdentityReplicationPolicy) and only the listed topics and groups are
  mirrored, as exact regexes (names hold dots; MirrorMaker reads every entry as a regex);
- MirrorMaker creates no topics, syncs no configs and no ACLs: Topicdesk created the target topics
  from the approved plan, and its grants are re-created by the plan, not copied;
- nothing is written to the legacy source: offset syncs live on the target, no heartbeats, and
  in dedicated mode the reverse flow gets no herder at all;
- checkpoints and group offset sync run every `sync_interval_seconds`, so a consumer cut-over
  waits seconds; an offset sync every `offset_lag_max` records (the driver commits exact
  offsets at the cut-over, so this is not what bounds a consumer's re-read);
- records are copied at least once with an idempotent acks=all producer, partition for
  partition, keys, values, headers and timestamps as they are (byte-array converters).

Secrets (the SCRAM passwords inside `sasl.jaas.config`) are in the returned mappings because the
engines must hand them to MirrorMaker; `redacted` is the view for logs and the API.

Config names are MirrorMaker's own (connect/mirror/.../Mirror*Config.java and Connect's
DistributedConfig), the same in Kafka 3.9 and 4.x: 4.0 removed only the deprecated
`*.blacklist`/`*.whitelist` aliases and `use.incremental.alter.configs`, none of which is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the port's dataclasses only; this module stays importable on its own
    from topicdesk.services.mirror_port import ClusterEndpoint, MirrorSpec

MIRROR_PACKAGE = "org.apache.kafka.connect.mirror"
DRIVER_CLASS = f"{MIRROR_PACKAGE}.MirrorMaker"
SOURCE_CONNECTOR = f"{MIRROR_PACKAGE}.MirrorSourceConnector"
CHECKPOINT_CONNECTOR = f"{MIRROR_PACKAGE}.MirrorCheckpointConnector"
IDENTITY_POLICY = f"{MIRROR_PACKAGE}.IdentityReplicationPolicy"
BYTE_ARRAY_CONVERTER = "org.apache.kafka.connect.converters.ByteArrayConverter"
SCRAM_LOGIN_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
REDACTED = "[redacted]"
# Keys whose values are secret, wherever they sit (`legacy.sasl.jaas.config`, `source.cluster.ssl.key.password`).
SECRET_KEY_PARTS = ("jaas.config", "password", "secret", "credentials")

# Topic and group refresh: how soon a partition added on the source, or a group that commits for
# the first time, is picked up. MirrorMaker's defaults (10 minutes) would stall a cut-over.
REFRESH_TOPICS_SECONDS = 30
REFRESH_GROUPS_SECONDS = 5

# The topic and group filters' defaults exclude names like `*.internal` and `__*`; the listed names
# are exactly what the plan moves, so nothing is excluded.
_NO_EXCLUDES = {"topics.exclude": "", "groups.exclude": ""}


def java_regex_literal(name: str) -> str:
    """`name` as a Java regex matching exactly it, safe inside MirrorMaker's comma-separated lists.

    Word characters stay as they are; `.` and `-` (the usual separators in topic names) become
    `\\.` and `\\-`; anything else (a comma or a space in a group id, `|`, non-ASCII) becomes
    `\\x{HEX}`, so no list separator, whitespace or regex syntax is left unescaped.
    """
    out = []
    for ch in name:
        if ch.isascii() and (ch.isalnum() or ch == "_"):
            out.append(ch)
        elif ch in ".-":
            out.append("\\" + ch)
        else:
            out.append(f"\\x{{{ord(ch):X}}}")
    return "".join(out)


def exact_list(names: tuple[str, ...]) -> str:
    return ",".join(java_regex_literal(n) for n in sorted(set(names)))


def jaas_quote(value: str) -> str:
    """A JAAS option value in double quotes: Kafka's JaasConfig reads it with a StreamTokenizer,
    where a backslash escapes the next character and a raw line break ends the string."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r"))
    return f'"{escaped}"'


def scram_jaas_config(username: str, password: str) -> str:
    return f"{SCRAM_LOGIN_MODULE} required username={jaas_quote(username)} password={jaas_quote(password)};"


def client_settings(endpoint: ClusterEndpoint) -> dict[str, str]:
    """What every client (consumer, producer, admin) of one cluster needs to connect."""
    settings = {"bootstrap.servers": endpoint.bootstrap_servers,
                "security.protocol": endpoint.security_protocol}
    if endpoint.security_protocol.upper().startswith("SASL"):
        settings["sasl.mechanism"] = endpoint.sasl_mechanism
        settings["sasl.jaas.config"] = scram_jaas_config(endpoint.username, endpoint.password)
    return settings


def connector_names(mirror_id: str) -> dict[str, str]:
    """The Connect connector names of a mirror, by role (also how the Connect engine finds them)."""
    return {"source": f"topicdesk-{mirror_id}-source", "checkpoint": f"topicdesk-{mirror_id}-checkpoint"}


def internal_topics(mirror_id: str) -> dict[str, str]:
    """The dedicated driver's Connect worker topics on the target: one set per mirror, so two
    migrations between the same clusters never share a worker group or its stored offsets."""
    return {"offset.storage.topic": f"mm2-offsets.topicdesk-{mirror_id}.internal",
            "config.storage.topic": f"mm2-configs.topicdesk-{mirror_id}.internal",
            "status.storage.topic": f"mm2-status.topicdesk-{mirror_id}.internal"}


def mirror_alias(alias: str, mirror_id: str) -> str:
    """MirrorMaker's alias of a mirror's source cluster: the cluster's name and the migration id.

    MirrorMaker names its offset syncs and checkpoints topics after the source alias (with offset
    syncs on the target: `mm2-offset-syncs.<alias>.internal`, `<alias>.checkpoints.internal`);
    with the id in the alias two migrations from the same source never share them, so the
    mirror's ACLs cover exactly its own and the clean-up deletes only its own. Topic names are
    not affected (IdentityReplicationPolicy) and nothing else reads the alias.
    """
    return f"{alias}-mirror-{mirror_id}"


def internal_topic_names(mirror_id: str, source_alias: str, *, dedicated: bool = True) -> list[str]:
    """Every topic MirrorMaker creates on the target for this mirror; `source_alias` is the
    source cluster's name. With `dedicated` (the process engine) also the worker's topics."""
    alias = mirror_alias(source_alias, mirror_id)
    names = [f"mm2-offset-syncs.{alias}.internal", f"{alias}.checkpoints.internal"]
    return names + (list(internal_topics(mirror_id).values()) if dedicated else [])


def _flow_settings(spec: MirrorSpec) -> dict[str, str]:
    """The connector-level settings shared by both renderings (MirrorMaker's own names)."""
    interval = str(max(1, spec.sync_interval_seconds))
    rf = str(spec.internal_replication_factor)
    return {
        "replication.policy.class": IDENTITY_POLICY,
        "topics": exact_list(spec.topics),
        "groups": exact_list(spec.groups),
        **_NO_EXCLUDES,
        # Topicdesk owns the target's topics, configs and ACLs (the plan); MirrorMaker only copies records.
        "sync.topic.configs.enabled": "false",
        "sync.topic.acls.enabled": "false",
        "refresh.topics.enabled": "true",
        "refresh.topics.interval.seconds": str(REFRESH_TOPICS_SECONDS),
        "refresh.groups.enabled": "true",
        "refresh.groups.interval.seconds": str(REFRESH_GROUPS_SECONDS),
        # No heartbeats: they would add a `heartbeats` topic the plan does not know, and a
        # source's heartbeats topic is not replicated either.
        "emit.heartbeats.enabled": "false",
        "heartbeats.replication.enabled": "false",
        "emit.checkpoints.enabled": "true",
        "emit.checkpoints.interval.seconds": interval,
        "sync.group.offsets.enabled": "true",
        "sync.group.offsets.interval.seconds": interval,
        "emit.offset-syncs.enabled": "true",
        "offset.lag.max": str(spec.offset_lag_max),
        # The legacy source is read-only for MirrorMaker: offset syncs are written to the target.
        "offset-syncs.topic.location": "target",
        "offset-syncs.topic.replication.factor": rf,
        "checkpoints.topic.replication.factor": rf,
        "heartbeats.topic.replication.factor": rf,
        # Only used if a listed topic is missing on the target, which the plan prevents.
        "replication.factor": rf,
    }


def _consumer_settings() -> dict[str, str]:
    # earliest: a partition without a stored position (a new one) is copied from its start.
    return {"auto.offset.reset": "earliest", "max.poll.records": "2000"}


def _producer_settings() -> dict[str, str]:
    # Connect's worker producer defaults to one request in flight per broker and 16 KiB batches,
    # built for ordering without idempotence; an idempotent producer keeps each partition's order
    # with up to 5 in flight, so a bulk copy may use them and bigger batches.
    return {"acks": "all", "enable.idempotence": "true", "max.in.flight.requests.per.connection": "5",
            "linger.ms": "5", "batch.size": str(512 * 1024)}


# At most 10 offset syncs are in flight per task (MirrorSourceTask), one every `offset_lag_max`
# records: a lingering sync producer caps the copy rate (measured: 4,200 -> 9,600 records/s).
OFFSET_SYNC_PRODUCER = {"linger.ms": "0"}


def _prefixed(prefix: str, settings: Mapping[str, str]) -> dict[str, str]:
    return {f"{prefix}{k}": v for k, v in settings.items()}


def mm2_properties(spec: MirrorSpec) -> dict[str, str]:
    """mm2.properties for `org.apache.kafka.connect.mirror.MirrorMaker` (dedicated mode).

    One herder runs, for source->target; the worker's internal topics and group live on the
    target. `spec.extra` is merged last (raw MirrorMaker properties, for operators who know them).
    """
    src, tgt = mirror_alias(spec.source.alias, spec.mirror_id), spec.target.alias
    if spec.source.alias == tgt:
        raise ValueError(f"a mirror needs two different cluster aliases, got {src!r} twice")
    rf = str(spec.internal_replication_factor)
    interval_ms = str(max(1, spec.sync_interval_seconds) * 1000)
    props: dict[str, str] = {"clusters": f"{src},{tgt}"}
    props |= _prefixed(f"{src}.", client_settings(spec.source))
    props |= _prefixed(f"{tgt}.", client_settings(spec.target))
    props |= _prefixed(f"{src}.consumer.", _consumer_settings())
    props |= _prefixed(f"{tgt}.producer.", _producer_settings())
    props |= {f"{src}->{tgt}.enabled": "true", f"{tgt}->{src}.enabled": "false",
              f"{tgt}->{src}.emit.heartbeats.enabled": "false",
              # The flow's own target producer writes only the offset syncs (records go through
              # the worker's producer above): see OFFSET_SYNC_PRODUCER.
              **_prefixed(f"{src}->{tgt}.target.producer.", OFFSET_SYNC_PRODUCER)}
    props |= _flow_settings(spec)
    props |= {"tasks.max": str(max(1, spec.tasks)),
              # The worker's stored source offsets and the last record's offset sync are flushed
              # this often: it bounds what a killed MirrorMaker copies twice and how stale the
              # tail's offset translation is.
              f"{tgt}.offset.flush.interval.ms": interval_ms,
              f"{tgt}.group.id": f"topicdesk-mirror-{spec.mirror_id}",
              "offset.storage.replication.factor": rf,
              "config.storage.replication.factor": rf,
              "status.storage.replication.factor": rf,
              # Every plugin MirrorMaker needs declares itself to the ServiceLoader; the default
              # also scans the classpath by reflection, for the driver's config and again for the
              # herder's worker, which costs 10-20 s per start.
              "plugin.discovery": "service_load",
              f"{tgt}.plugin.discovery": "service_load",
              # No REST listener: one MirrorMaker node per mirror needs no task-config forwarding.
              "dedicated.mode.enable.internal.rest": "false"}
    props |= internal_topics(spec.mirror_id)
    props |= dict(spec.extra)
    return props


def connector_configs(spec: MirrorSpec) -> dict[str, dict[str, str]]:
    """Connector name -> config for a Kafka Connect cluster (PUT /connectors/<name>/config).

    The source connector's records are produced by the worker; `producer.override.*` points
    that producer at the target, so the Connect cluster may be backed by any Kafka (its
    `connector.client.config.override.policy` must allow it: the default `All` since Kafka 3.0).
    No heartbeat connector: heartbeats would write a topic the plan does not hold.
    """
    src, tgt = spec.source, spec.target
    if src.alias == tgt.alias:
        raise ValueError(f"a mirror needs two different cluster aliases, got {src.alias!r} twice")
    names = connector_names(spec.mirror_id)
    base: dict[str, str] = {
        "source.cluster.alias": mirror_alias(src.alias, spec.mirror_id),
        "target.cluster.alias": tgt.alias,
        "key.converter": BYTE_ARRAY_CONVERTER,
        "value.converter": BYTE_ARRAY_CONVERTER,
        "header.converter": BYTE_ARRAY_CONVERTER,
        **_prefixed("source.cluster.", client_settings(src)),
        **_prefixed("target.cluster.", client_settings(tgt)),
        **_flow_settings(spec),
    }
    source = {"name": names["source"], "connector.class": SOURCE_CONNECTOR, "tasks.max": str(max(1, spec.tasks)),
              **base,
              **_prefixed("source.consumer.", _consumer_settings()),
              **_prefixed("producer.override.", {**client_settings(tgt), **_producer_settings()}),
              # The connector's own target producer writes only the offset syncs.
              **_prefixed("target.producer.", OFFSET_SYNC_PRODUCER),
              **dict(spec.extra)}
    checkpoint = {"name": names["checkpoint"], "connector.class": CHECKPOINT_CONNECTOR, "tasks.max": "1",
                  **base, **dict(spec.extra)}
    return {names["source"]: source, names["checkpoint"]: checkpoint}


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(part in lowered for part in SECRET_KEY_PARTS)


def redacted(props: Mapping[str, str]) -> dict[str, str]:
    """`props` with every secret value replaced: the only view of a mirror's config fit for a log or the API."""
    return {k: (REDACTED if is_secret_key(k) else v) for k, v in props.items()}


def _escape_properties_text(text: str, *, key: bool) -> str:
    out = []
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\f":
            out.append("\\f")
        elif ch == " " and (key or i == 0):
            out.append("\\ ")
        elif ch in "=:#!" and (key or i == 0):
            out.append("\\" + ch)
        elif not (" " <= ch <= "~"):
            # java.util.Properties.load(InputStream) reads ISO-8859-1: anything else as \\uXXXX (UTF-16).
            encoded = ch.encode("utf-16-be")
            out.extend(f"\\u{int.from_bytes(encoded[j:j + 2], 'big'):04X}" for j in range(0, len(encoded), 2))
        else:
            out.append(ch)
    return "".join(out)


def properties_text(props: Mapping[str, str], header: str = "") -> str:
    """`props` in java.util.Properties file format, every key and value escaped."""
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [f"{_escape_properties_text(k, key=True)}={_escape_properties_text(v, key=False)}"
              for k, v in props.items()]
    return "\n".join(lines) + "\n"
