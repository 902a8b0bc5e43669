"""Policy as code: declarative rules in policies/, checked at load time, evaluated purely.

    bundle = load_bundle()                                   # policies/, once at start-up
    document = build_evaluation_document(request, requester, cluster, topic_state)
    decision = evaluate(bundle, document)                    # Decision(outcome, rules, approvers)

The evaluation document's shape is described in topicdesk.policy.document and
schemas/evaluation-document.json; the policy file format in schemas/policy.schema.json.
"""

from topicdesk.policy.bundle import (
    POLICY_DIR,
    Approver,
    Effect,
    Policy,
    PolicyBundle,
    PolicyBundleError,
    Rule,
    Scope,
    load_bundle,
    load_policy_file,
)
from topicdesk.policy.cases import CaseResult, run_case_file, run_cases
from topicdesk.policy.document import (
    ClusterFacts,
    ClusterUsage,
    Requester,
    TopicFacts,
    build_evaluation_document,
)
from topicdesk.policy.engine import Decision, Outcome, RuleResult, evaluate

__all__ = [
    "POLICY_DIR",
    "Approver",
    "CaseResult",
    "ClusterFacts",
    "ClusterUsage",
    "Decision",
    "Effect",
    "Outcome",
    "Policy",
    "PolicyBundle",
    "PolicyBundleError",
    "Requester",
    "Rule",
    "RuleResult",
    "Scope",
    "TopicFacts",
    "build_evaluation_document",
    "evaluate",
    "load_bundle",
    "load_policy_file",
    "run_case_file",
    "run_cases",
]
