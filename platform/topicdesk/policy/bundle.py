"""Loading policies/: every *.policy.json checked against schemas/policy.schema.json and compiled.

Compiling means: each rule's `when` schema becomes a jsonschema validator, its builtin a closure
over parsed params, its message a parsed template and its scope a few frozensets. evaluate() then
only runs them, and a policy file that cannot work fails here, naming the file and JSON path.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from jsonschema import Draft202012Validator
from jsonschema.protocols import Validator

from topicdesk.domain.errors import FieldError
from topicdesk.policy.builtins import BUILTINS, Check, Findings
from topicdesk.policy.document import topic_owner_team
from topicdesk.policy.messages import MessageTemplate
from topicdesk.policy.paths import DocumentPath
from topicdesk.schemas import POLICY_SCHEMA_ID, SCHEMA_DIR, SchemaSet, default_schemas

POLICY_DIR: Final = SCHEMA_DIR.parent / "policies"
POLICY_SUFFIX: Final = ".policy.json"
CASES_SUFFIX: Final = ".cases.json"

Effect = Literal["deny", "require_approval", "warn"]
_NO_FINDINGS: Final[Findings] = {}
_EMPTY: Final[Mapping[str, Any]] = {}


class PolicyBundleError(Exception):
    """A policy or case file that cannot be used: names the file and every problem's JSON path."""

    def __init__(self, file: Path, errors: list[FieldError]) -> None:
        self.file = file
        self.errors = errors
        details = "; ".join(f"{e.path or '/'}: {e.message}" for e in errors)
        super().__init__(f"{file}: {details}")


@dataclass(frozen=True)
class Scope:
    """Where a rule applies; None means every value."""

    kinds: frozenset[str] | None = None
    environments: frozenset[str] | None = None
    clusters: frozenset[str] | None = None
    cluster_tags: frozenset[str] | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scope:
        def values(key: str) -> frozenset[str] | None:
            return frozenset(data[key]) if key in data else None

        return cls(values("kinds"), values("environments"), values("clusters"), values("cluster_tags"))

    def matches_cluster(self, cluster: Mapping[str, Any]) -> bool:
        if self.environments is not None and cluster.get("environment") not in self.environments:
            return False
        if self.clusters is not None and cluster.get("name") not in self.clusters:
            return False
        return self.cluster_tags is None or not self.cluster_tags.isdisjoint(cluster.get("tags") or ())

    def matches(self, document: Mapping[str, Any]) -> bool:
        kind = (document.get("request") or _EMPTY).get("kind")
        if self.kinds is not None and kind not in self.kinds:
            return False
        return self.matches_cluster(document.get("cluster") or _EMPTY)


@dataclass(frozen=True)
class Approver:
    """{"team_of": "topic_owner"|"cluster_owner"} | {"role": name} | {"team": name}
    | {"teams_from": "<document path to team names>"}, e.g. "evidence.affected_teams"."""

    kind: Literal["team_of", "role", "team", "teams_from"]
    value: str

    def resolve(self, document: Mapping[str, Any]) -> tuple[str, ...]:
        if self.kind == "role":
            return (f"role:{self.value}",)
        if self.kind == "team":
            return (f"team:{self.value}",)
        if self.kind == "teams_from":
            found = DocumentPath.parse(self.value).value(document)
            names = found if isinstance(found, list) else [found]
            return tuple(f"team:{name}" for name in names if isinstance(name, str) and name)
        if self.value == "topic_owner":
            owner = topic_owner_team(document)
        else:
            owner = (document.get("cluster") or _EMPTY).get("owner_team")
        return (f"team:{owner}",) if owner else ()


@dataclass(frozen=True, eq=False)
class Rule:
    id: str
    policy: str
    description: str
    effect: Effect
    scope: Scope
    message: MessageTemplate
    approvers: tuple[Approver, ...] = ()
    when: Mapping[str, Any] | None = None
    builtin: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    _when_validator: Validator | None = field(default=None, repr=False)
    _builtin_check: Check | None = field(default=None, repr=False)

    def applies_to(self, document: Mapping[str, Any]) -> bool:
        """Whether the rule's scope covers this document (kind, environment, cluster, tags)."""
        return self.scope.matches(document)

    def check(self, document: Mapping[str, Any]) -> Findings | None:
        """The findings when the rule fires on this document, None when it stays silent (scope aside)."""
        if self._when_validator is not None and not self._when_validator.is_valid(document):
            return None
        if self._builtin_check is None:
            return _NO_FINDINGS
        return self._builtin_check(document)

    def render_message(self, document: Mapping[str, Any], findings: Mapping[str, Any]) -> str:
        return self.message.render(document, findings, self.params)

    def resolve_approvers(self, document: Mapping[str, Any]) -> tuple[str, ...]:
        routed: list[str] = []
        for approver in self.approvers:
            routed.extend(a for a in approver.resolve(document) if a not in routed)
        return tuple(routed)


@dataclass(frozen=True)
class Policy:
    name: str
    file: Path
    description: str
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class PolicyBundle:
    policies: tuple[Policy, ...]
    directory: Path | None = None
    rules: tuple[Rule, ...] = field(init=False)
    _by_kind: Mapping[str, tuple[Rule, ...]] = field(init=False, repr=False)
    _any_kind: tuple[Rule, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        rules = tuple(rule for policy in self.policies for rule in policy.rules)
        kinds = {kind for rule in rules if rule.scope.kinds for kind in rule.scope.kinds}
        by_kind = {
            kind: tuple(r for r in rules if r.scope.kinds is None or kind in r.scope.kinds) for kind in kinds
        }
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "_by_kind", by_kind)
        object.__setattr__(self, "_any_kind", tuple(r for r in rules if r.scope.kinds is None))

    def rules_for_kind(self, kind: object) -> tuple[Rule, ...]:
        """The rules whose scope includes this request kind, in bundle order."""
        found = self._by_kind.get(kind) if isinstance(kind, str) else None
        return self._any_kind if found is None else found

    def policy(self, name: str) -> Policy:
        for policy in self.policies:
            if policy.name == name:
                return policy
        raise KeyError(name)

    def only(self, name: str) -> PolicyBundle:
        """A bundle of just one policy file (how case files are run)."""
        return PolicyBundle((self.policy(name),), self.directory)


def read_json_file(file: Path) -> Any:
    """Parsed JSON of a policy or case file; unreadable or malformed files raise PolicyBundleError."""
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyBundleError(file, [FieldError("", f"cannot read: {exc.strerror or exc}")]) from exc
    except json.JSONDecodeError as exc:
        raise PolicyBundleError(
            file, [FieldError("", f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")]
        ) from exc


def _compile_rule(
    policy: str, index: int, data: Mapping[str, Any], errors: list[FieldError]
) -> Rule | None:
    at = f"/rules/{index}"
    rule_id: str = data["id"]
    if not rule_id.startswith(f"{policy}."):
        errors.append(FieldError(f"{at}/id", f"rule ids in {policy}{POLICY_SUFFIX} start with {policy!r} and a dot"))
    check = data["check"]
    params: Mapping[str, Any] = check.get("params", {})
    builtin_check: Check | None = None
    if "builtin" in check:
        try:
            builtin_check = BUILTINS[check["builtin"]](params)
        except ValueError as exc:
            errors.append(FieldError(f"{at}/check/params", str(exc)))
    when_validator = Draft202012Validator(check["when"]) if "when" in check else None
    try:
        message = MessageTemplate.compile(data["message"])
    except ValueError as exc:
        errors.append(FieldError(f"{at}/message", str(exc)))
        return None
    approvers = tuple(
        Approver(kind, value) for approver in data.get("approvers", ()) for kind, value in approver.items()
    )
    for position, approver in enumerate(approvers):
        if approver.kind == "teams_from":
            try:
                DocumentPath.parse(approver.value)
            except ValueError as exc:
                errors.append(FieldError(f"{at}/approvers/{position}/teams_from", str(exc)))
    return Rule(
        id=rule_id,
        policy=policy,
        description=data["description"],
        effect=data["effect"],
        scope=Scope.from_json(data.get("scope", {})),
        message=message,
        approvers=approvers,
        when=check.get("when"),
        builtin=check.get("builtin"),
        params=params,
        _when_validator=when_validator,
        _builtin_check=builtin_check,
    )


def load_policy_file(file: Path, schemas: SchemaSet | None = None) -> Policy:
    """One policy file, checked against policy.schema.json and compiled."""
    name = file.name.removesuffix(POLICY_SUFFIX)
    data = read_json_file(file)
    errors = (schemas or default_schemas()).errors(POLICY_SCHEMA_ID, data)
    if errors:
        raise PolicyBundleError(file, errors)
    rules: list[Rule] = []
    for index, rule_data in enumerate(data["rules"]):
        rule = _compile_rule(name, index, rule_data, errors)
        if rule is not None:
            rules.append(rule)
    if errors:
        raise PolicyBundleError(file, errors)
    return Policy(name=name, file=file, description=data["description"], rules=tuple(rules))


def load_bundle(path: Path | str = POLICY_DIR, schemas: SchemaSet | None = None) -> PolicyBundle:
    """Every *.policy.json of a directory, in file-name order; rule ids must be unique."""
    directory = Path(path)
    files = sorted(directory.glob(f"*{POLICY_SUFFIX}"))
    if not files:
        raise PolicyBundleError(directory, [FieldError("", f"no *{POLICY_SUFFIX} files in this directory")])
    policies = [load_policy_file(file, schemas) for file in files]
    _check_unique_ids(policies)
    return PolicyBundle(tuple(policies), directory)


def _check_unique_ids(policies: Iterable[Policy]) -> None:
    seen: dict[str, Path] = {}
    for policy in policies:
        errors: list[FieldError] = []
        for index, rule in enumerate(policy.rules):
            if rule.id in seen:
                errors.append(
                    FieldError(f"/rules/{index}/id", f"rule id {rule.id!r} is already used in {seen[rule.id].name}")
                )
            seen.setdefault(rule.id, policy.file)
        if errors:
            raise PolicyBundleError(policy.file, errors)


__all__ = [
    "CASES_SUFFIX",
    "POLICY_DIR",
    "POLICY_SUFFIX",
    "Approver",
    "Effect",
    "Policy",
    "PolicyBundle",
    "PolicyBundleError",
    "Rule",
    "Scope",
    "load_bundle",
    "load_policy_file",
    "read_json_file",
]
