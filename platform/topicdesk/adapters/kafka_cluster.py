"""The ClusterPort on a real Kafka cluster: confluent-kafka's AdminClient, kafka-python for quotas.

Built from a confluent-kafka client config (bootstrap.servers, security.protocol, sasl.mechanism,
sasl.username, sasl.password). Every write answers per resource; errors become Outcomes through
the one table in services/cluster_port.py. `describe` issues a handful of bulk requests, started
together so their round trips overlap:

    topics   Metadata (list_topics for all, describe_topics for a list)   1 request
    configs  DescribeConfigs for every topic                              1 request
    ACLs     DescribeAcls with a match-any filter                         1 request
    users    DescribeUserScramCredentials for all users                   1 request
    quotas   DescribeClientQuotas for `user` entities (kafka-python)      1 request

`usage_evidence` (consumer groups, commits, last writes) lives in adapters/kafka_evidence.py.
"""

from __future__ import annotations

import concurrent.futures
import warnings
from collections.abc import Collection, Hashable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any, TypeVar, cast

from confluent_kafka import KafkaError, KafkaException, TopicCollection

# confluent_kafka.admin re-exports these without __all__, which strict mypy does not accept.
# (AclBinding here is confluent's; the domain one is d.AclBinding.)
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from topicdesk.adapters import kafka_evidence, kafka_quotas
from topicdesk.adapters.kafka_acls import from_confluent, to_confluent
from topicdesk.domain import acls as d
from topicdesk.domain.evidence import TopicEvidence
from topicdesk.domain.model import ClientQuota, DesiredTopic
from topicdesk.domain.plan import ObservedState, ObservedTopic
from topicdesk.services.cluster_port import (
    ClusterUnavailable,
    Outcome,
    OutcomeReason,
    QuotaAlteration,
    ScramCredential,
    kafka_error_code,
    outcome_for_kafka_error,
)

with warnings.catch_warnings():
    # kafka-python 3.0.12 loads its protocol schemas through the deprecated
    # importlib.resources.read_text at import time (see adapters/kafka_quotas.py).
    warnings.filterwarnings("ignore", r"(read_text|open_text) is deprecated", DeprecationWarning)
    import kafka.errors as kafka_errors

# Kafka's own internal topics (org.apache.kafka.common.internals.Topic) and tiered storage's.
INTERNAL_TOPICS = frozenset(
    {"__consumer_offsets", "__transaction_state", "__share_group_state", "__remote_log_metadata"}
)

_K = TypeVar("_K", bound=Hashable)

# librdkafka hands the source over as the enum or as its number, depending on the path.
_TOPIC_OVERRIDE = (ConfigSource.DYNAMIC_TOPIC_CONFIG, ConfigSource.DYNAMIC_TOPIC_CONFIG.value)

_QUOTA_FIELDS = ("producer_byte_rate", "consumer_byte_rate", "request_percentage")


def _user(principal: str) -> str:
    kind, _, name = principal.partition(":")
    if kind != "User" or not name:
        raise ValueError(f"principal must look like User:<name>, got {principal!r}")
    return name


def outcome_of_exception(exc: BaseException) -> Outcome:
    """Any failure from confluent-kafka or kafka-python as an Outcome."""
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        err: KafkaError = exc.args[0]
        return outcome_for_kafka_error(err.code(), err.str(), retriable=err.retriable(), name=err.name())
    if isinstance(exc, KafkaError):
        return outcome_for_kafka_error(exc.code(), exc.str(), retriable=exc.retriable(), name=exc.name())
    if isinstance(exc, kafka_quotas.ClientQuotaError):
        # `code` is Kafka's error name (INVALID_REQUEST); accept kafka-python's class name too.
        errno = kafka_error_code(exc.code)
        if errno is None and exc.code.startswith("ERROR_") and exc.code[6:].lstrip("-").isdigit():
            errno = int(exc.code[6:])  # a code kafka-python has no name for
        if errno is None:
            errno = getattr(getattr(kafka_errors, exc.code, None), "errno", None)
        if isinstance(errno, int):
            return outcome_for_kafka_error(errno, str(exc))
        return Outcome.failure(OutcomeReason.UNAVAILABLE, str(exc), transient=True, kafka_error=exc.code)
    if isinstance(exc, kafka_errors.KafkaError):
        errno = getattr(exc, "errno", None)
        if isinstance(errno, int):
            return outcome_for_kafka_error(errno, str(exc) or type(exc).__name__)
        # Connection-level errors of kafka-python (KafkaTimeoutError "Unable to bootstrap", KafkaConnectionError)...
        return Outcome.failure(
            OutcomeReason.UNAVAILABLE, f"{type(exc).__name__}: {exc}", transient=True, kafka_error=type(exc).__name__
        )
    if isinstance(exc, concurrent.futures.TimeoutError | TimeoutError):
        return Outcome.failure(OutcomeReason.TIMEOUT, "no answer from the cluster in time", transient=True)
    return Outcome.failure(OutcomeReason.UNKNOWN, f"{type(exc).__name__}: {exc}", transient=False)


class KafkaCluster:
    """ClusterPort over confluent-kafka (and kafka-python for client quotas). Close it when done."""

    def __init__(self, config: Mapping[str, str | int | float | bool], *, request_timeout: float = 30.0) -> None:
        self._config = dict(config)
        self._timeout = request_timeout
        self._admin = AdminClient(self._config)
        self._quota_admin: Any = None
        self._quota_node: int | None = None
        self._resources = ExitStack()

    # -- lifecycle --------------------------------------------------------------------------

    def close(self) -> None:
        self._resources.close()
        self._quota_admin = None

    def __enter__(self) -> KafkaCluster:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _quotas(self) -> Any:
        if self._quota_admin is None:
            conf = kafka_quotas.admin_config_from_confluent(self._config, int(self._timeout * 1000))
            self._quota_admin = self._resources.enter_context(kafka_quotas.open_admin(conf))
            # Alter and describe go to the same broker, so a read-back sees that broker's view.
            self._quota_node = kafka_quotas.pick_node(self._quota_admin)
        return self._quota_admin

    # -- reads ------------------------------------------------------------------------------

    def describe(self, topic_names: Collection[str] | None = None) -> ObservedState:
        try:
            return self._describe(topic_names)
        except ClusterUnavailable:
            raise
        except Exception as exc:
            raise ClusterUnavailable(outcome_of_exception(exc)) from exc

    def _describe(self, topic_names: Collection[str] | None) -> ObservedState:
        t = self._timeout
        # None matches any name, principal and host (the stubs say str, librdkafka takes NULL).
        any_acl = AclBindingFilter(
            ResourceType.ANY,
            None,  # type: ignore[arg-type]
            ResourcePatternType.ANY,
            None,  # type: ignore[arg-type]
            None,  # type: ignore[arg-type]
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        acls_f = self._admin.describe_acls(any_acl, request_timeout=t)
        # Without a user list it answers with one future for all users.
        users_f = cast(
            "concurrent.futures.Future[Any]", self._admin.describe_user_scram_credentials(request_timeout=t)
        )

        configs_f: dict[Any, concurrent.futures.Future[Any]] = {}
        partitions: dict[str, tuple[int, int]] = {}
        if topic_names is None:
            metadata = self._admin.list_topics(timeout=t)
            for name, tm in metadata.topics.items():
                if name in INTERNAL_TOPICS:
                    continue
                if tm.error is not None and not tm.partitions:
                    if _absent(KafkaException(tm.error)):
                        continue  # deleted while the metadata was read
                    # Listed but not describable (e.g. leader election of a new topic): guessing
                    # "missing" would plan a create, so report the read as failed instead.
                    raise ClusterUnavailable(outcome_of_exception(KafkaException(tm.error)))
                rf = max((len(p.replicas) for p in tm.partitions.values()), default=0)
                partitions[name] = (len(tm.partitions), rf)
            names = sorted(partitions)
            if names:
                configs_f = self._describe_configs(names)
        else:
            names = sorted(set(topic_names))
            if names:
                configs_f = self._describe_configs(names)
                topics_f = self._admin.describe_topics(TopicCollection(names), request_timeout=t)
                for f in topics_f.values():
                    try:
                        desc = f.result(timeout=t + 5)
                    except KafkaException as exc:
                        if _absent(exc):
                            continue
                        raise
                    rf = max((len(p.replicas) for p in desc.partitions), default=0)
                    partitions[desc.name] = (len(desc.partitions), rf)

        # ACLs first: if the cluster is unreachable this raises before kafka-python is started
        # (kafka-python 3.0.12 leaks its sockets when it cannot bootstrap).
        acl_list = acls_f.result(timeout=t + 5)
        quotas = self._describe_quotas()

        configs: dict[str, dict[str, str]] = {}
        for resource, f in configs_f.items():
            try:
                entries = f.result(timeout=t + 5)
            except KafkaException as exc:
                if _absent(exc):
                    continue
                raise
            configs[resource.name] = {
                e.name: e.value
                for e in entries.values()
                if e.source in _TOPIC_OVERRIDE and e.value is not None
            }

        bindings = frozenset(b for ck in acl_list if (b := from_confluent(ck)) is not None)
        try:
            described = users_f.result(timeout=t + 5)
        except KafkaException as exc:
            if not _absent(exc):
                raise
            described = {}
        scram_users = frozenset(
            f"User:{user}"
            for user, desc in described.items()
            if any(i.mechanism == ScramMechanism.SCRAM_SHA_512 for i in desc.scram_credential_infos)
        )
        topics = {
            name: ObservedTopic(name, count, rf, configs.get(name, {}))
            for name, (count, rf) in partitions.items()
            # A topic deleted between the two reads has no configs: leave it out.
            if name in configs
        }
        return ObservedState(topics=topics, acls=bindings, quotas=quotas, scram_users=scram_users)

    def usage_evidence(self, topic_names: Collection[str]) -> dict[str, TopicEvidence]:
        try:
            return kafka_evidence.gather(self._admin, topic_names, self._timeout, _absent)
        except Exception as exc:
            raise ClusterUnavailable(outcome_of_exception(exc)) from exc

    def _describe_configs(self, names: Sequence[str]) -> dict[Any, concurrent.futures.Future[Any]]:
        resources = [ConfigResource(ResourceType.TOPIC, n) for n in names]
        return dict(self._admin.describe_configs(resources, request_timeout=self._timeout))

    def _describe_quotas(self) -> dict[str, ClientQuota]:
        admin = self._quotas()
        entries = kafka_quotas.describe_client_quotas(
            admin,
            [kafka_quotas.QuotaFilter(kafka_quotas.USER, kafka_quotas.MatchType.ANY)],
            strict=True,
            node_id=self._quota_node,
        )
        quotas: dict[str, ClientQuota] = {}
        for entry in entries:
            name = entry.entity.get(kafka_quotas.USER)
            if name is None or set(entry.entity) != {kafka_quotas.USER}:
                continue
            values = {k: v for k, v in entry.values.items() if k in _QUOTA_FIELDS}
            if not values:
                continue
            quotas[f"User:{name}"] = ClientQuota(
                f"User:{name}",
                producer_byte_rate=_as_int(values.get("producer_byte_rate")),
                consumer_byte_rate=_as_int(values.get("consumer_byte_rate")),
                request_percentage=values.get("request_percentage"),
            )
        return quotas

    # -- topics -----------------------------------------------------------------------------

    def create_topics(self, topics: Sequence[DesiredTopic]) -> dict[str, Outcome]:
        if not topics:
            return {}
        new = [
            NewTopic(
                t.name, num_partitions=t.partitions, replication_factor=t.replication_factor, config=dict(t.config)
            )
            for t in topics
        ]
        return self._per_key(
            [t.name for t in topics],
            lambda: self._admin.create_topics(new, operation_timeout=self._timeout, request_timeout=self._timeout),
        )

    def create_partitions(self, totals: Mapping[str, int]) -> dict[str, Outcome]:
        if not totals:
            return {}
        new = [NewPartitions(name, total) for name, total in totals.items()]
        return self._per_key(
            list(totals),
            lambda: self._admin.create_partitions(new, operation_timeout=self._timeout, request_timeout=self._timeout),
        )

    def alter_configs(self, changes: Mapping[str, Mapping[str, str | None]]) -> dict[str, Outcome]:
        if not changes:
            return {}
        resources = [
            ConfigResource(
                ResourceType.TOPIC,
                name,
                incremental_configs=[
                    ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                    if v is not None
                    else ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE)
                    for k, v in values.items()
                ],
            )
            for name, values in changes.items()
        ]

        def call() -> dict[str, concurrent.futures.Future[Any]]:
            futures = self._admin.incremental_alter_configs(resources, request_timeout=self._timeout)
            return {resource.name: f for resource, f in futures.items()}

        return self._per_key(list(changes), call)

    def delete_topics(self, names: Sequence[str]) -> dict[str, Outcome]:
        if not names:
            return {}
        names = list(names)
        return self._per_key(
            names,
            lambda: self._admin.delete_topics(names, operation_timeout=self._timeout, request_timeout=self._timeout),
        )

    # -- ACLs -------------------------------------------------------------------------------

    def create_acls(self, bindings: Sequence[d.AclBinding]) -> dict[d.AclBinding, Outcome]:
        if not bindings:
            return {}
        unique = list(dict.fromkeys(bindings))
        ck = {b: to_confluent(b, AclBinding) for b in unique}

        def call() -> dict[d.AclBinding, concurrent.futures.Future[Any]]:
            futures = self._admin.create_acls(list(ck.values()), request_timeout=self._timeout)
            return {b: futures[c] for b, c in ck.items()}

        return self._per_key(unique, call)

    def delete_acls(self, bindings: Sequence[d.AclBinding]) -> dict[d.AclBinding, Outcome]:
        if not bindings:
            return {}
        unique = list(dict.fromkeys(bindings))
        # Every field exact (no ANY, no MATCH): a filter that deletes this binding and nothing else.
        filters = {b: to_confluent(b, AclBindingFilter) for b in unique}

        def call() -> dict[d.AclBinding, concurrent.futures.Future[Any]]:
            futures = self._admin.delete_acls(list(filters.values()), request_timeout=self._timeout)
            return {b: futures[f] for b, f in filters.items()}

        return self._per_key(unique, call)

    # -- quotas -----------------------------------------------------------------------------

    def alter_quotas(self, alterations: Sequence[QuotaAlteration]) -> dict[str, Outcome]:
        if not alterations:
            return {}
        requests = {
            a.principal: kafka_quotas.QuotaAlteration(
                {kafka_quotas.USER: _user(a.principal)}, dict(a.set_values), sorted(a.remove)
            )
            for a in alterations
        }
        try:
            admin = self._quotas()
            kafka_quotas.alter_client_quotas(admin, list(requests.values()), node_id=self._quota_node)
        except kafka_quotas.ClientQuotaError:
            # The helper names only the first refused entity; AlterClientQuotas is per entity and
            # idempotent, so resend one by one to learn each entity's own answer.
            return {p: self._alter_one_quota(r) for p, r in requests.items()}
        except Exception as exc:
            outcome = outcome_of_exception(exc)
            return dict.fromkeys(requests, outcome)
        return {p: Outcome.success() for p in requests}

    def _alter_one_quota(self, request: kafka_quotas.QuotaAlteration) -> Outcome:
        try:
            kafka_quotas.alter_client_quotas(self._quotas(), [request], node_id=self._quota_node)
        except Exception as exc:
            return outcome_of_exception(exc)
        return Outcome.success()

    # -- SCRAM users ------------------------------------------------------------------------

    def upsert_scram_users(self, credentials: Sequence[ScramCredential]) -> dict[str, Outcome]:
        if not credentials:
            return {}
        alterations = [
            UserScramCredentialUpsertion(
                _user(c.principal),
                ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, c.iterations),
                c.password.encode(),
            )
            for c in credentials
        ]
        return self._scram(alterations, [c.principal for c in credentials])

    def delete_scram_users(self, principals: Sequence[str]) -> dict[str, Outcome]:
        if not principals:
            return {}
        alterations = [UserScramCredentialDeletion(_user(p), ScramMechanism.SCRAM_SHA_512) for p in principals]
        return self._scram(alterations, list(principals))

    def _scram(self, alterations: list[Any], principals: list[str]) -> dict[str, Outcome]:
        def call() -> dict[str, concurrent.futures.Future[Any]]:
            futures = self._admin.alter_user_scram_credentials(alterations, request_timeout=self._timeout)
            return {f"User:{user}": f for user, f in futures.items()}

        return self._per_key(principals, call)

    # -- plumbing ---------------------------------------------------------------------------

    def _per_key(self, keys: Sequence[_K], call: Any) -> dict[_K, Outcome]:
        """Run one Admin call and turn its per-resource futures into Outcomes."""
        try:
            futures: Mapping[_K, concurrent.futures.Future[Any]] = call()
        except Exception as exc:
            outcome = outcome_of_exception(exc)
            return dict.fromkeys(keys, outcome)
        concurrent.futures.wait(list(futures.values()), timeout=self._timeout + 5)
        out: dict[_K, Outcome] = {}
        for key in keys:
            f = futures.get(key)
            if f is None:
                out[key] = Outcome.failure(OutcomeReason.UNKNOWN, "no result for this resource", transient=True)
                continue
            try:
                f.result(timeout=0)
            except BaseException as exc:  # every failure, whatever its type, is this resource's Outcome
                out[key] = outcome_of_exception(exc)
            else:
                out[key] = Outcome.success()
        return out


def _absent(exc: KafkaException) -> bool:
    err = exc.args[0] if exc.args else None
    return isinstance(err, KafkaError) and err.code() in (
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.UNKNOWN_TOPIC_ID,
        KafkaError.RESOURCE_NOT_FOUND,
        KafkaError._UNKNOWN_TOPIC,
    )


def _as_int(value: float | None) -> int | None:
    return None if value is None else int(value)
