/** Words and tones for request statuses and decisions, and the status timeline of a request. */

import { FINAL_STATUSES, type Decision, type Outcome, type RequestStatus, type TopicRequest } from "../api/types";

export type Tone = "success" | "danger" | "warning" | "info" | "neutral";

export const STATUS_LABEL: Record<RequestStatus, string> = {
  pending_approval: "Pending approval",
  denied: "Denied",
  rejected: "Rejected",
  cancelled: "Cancelled",
  approved: "Approved",
  applying: "Applying",
  applied: "Applied",
  failed: "Failed",
};

export const STATUS_TONE: Record<RequestStatus, Tone> = {
  pending_approval: "warning",
  denied: "danger",
  rejected: "danger",
  cancelled: "neutral",
  approved: "info",
  applying: "info",
  applied: "success",
  failed: "danger",
};

export function statusLabel(status: string): string {
  return STATUS_LABEL[status as RequestStatus] ?? status;
}

export function statusTone(status: string): Tone {
  return STATUS_TONE[status as RequestStatus] ?? "neutral";
}

export function isFinal(status: string): boolean {
  return (FINAL_STATUSES as readonly string[]).includes(status);
}

export const OUTCOME_TONE: Record<Outcome, Tone> = {
  auto_approved: "success",
  needs_approval: "warning",
  denied: "danger",
};

/** What a decision means for the person about to submit. */
export function outcomeHeadline(decision: Decision): string {
  switch (decision.outcome) {
    case "auto_approved":
      return "Approved automatically: it will be applied right after you submit";
    case "needs_approval":
      return decision.approvers.length
        ? `Needs approval by ${joinOr(decision.approvers.map(approverWords))}`
        : "Needs approval before it is applied";
    case "denied":
      return "Denied by policy: change what the rules below say before submitting";
    default:
      return String(decision.outcome);
  }
}

/** "role:platform_admin" -> "a platform admin"; "team:payments" (or "payments") -> "an owner of payments":
 * the role that really approves (members of a team never do). */
export function approverWords(approver: string): string {
  if (approver === "role:platform_admin" || approver === "platform_admin") return "a platform admin";
  const team = approver.startsWith("team:") ? approver.slice("team:".length) : approver;
  return `an owner of ${team}`;
}

export function joinOr(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} or ${items[items.length - 1]}`;
}

/** "topic.create" + spec -> "Create topic payments.invoices.v1". */
export function requestTitle(request: Pick<TopicRequest, "kind" | "spec">): string {
  const spec = request.spec as Record<string, unknown>;
  const str = (key: string) => (typeof spec[key] === "string" ? (spec[key] as string) : "");
  switch (request.kind) {
    case "topic.create":
      return `Create topic ${str("name")}`;
    case "topic.update":
      return `Change topic ${str("name")}`;
    case "topic.delete":
      return `Delete topic ${str("name")}`;
    case "access.grant":
      return `${str("access") === "produce" ? "Produce" : "Consume"} access to ${str("topic")} for ${str("principal")}`;
    case "access.revoke":
      return `Revoke ${str("access")} access to ${str("topic")} from ${str("principal")}`;
    case "quota.set":
      return `Quota for ${str("principal")}`;
    case "topic.migrate": {
      const topics = Array.isArray(spec.topics) ? (spec.topics as unknown[]).map(String) : [];
      const what = topics.length ? topics.join(", ") : str("prefix") ? `topics ${str("prefix")}*` : "topics";
      return `Move ${what} to ${str("target_cluster")}`;
    }
    default:
      return request.kind;
  }
}

export type StepState = "done" | "current" | "upcoming" | "failed";

export interface TimelineStep {
  id: string;
  label: string;
  state: StepState;
  at?: string | null;
  detail?: string;
}

/**
 * The path of a request from submission to the cluster, with the steps still to come. Uses the
 * server's `history` for times when it sends one, else what the request object itself carries.
 */
export function requestTimeline(request: TopicRequest): TimelineStep[] {
  const when = (status: string, fallback?: string | null): string | null => {
    const change = [...(request.history ?? [])].reverse().find((entry) => entry.status === status);
    return change?.at ?? fallback ?? null;
  };
  const steps: TimelineStep[] = [
    { id: "submitted", label: "Submitted", state: "done", at: request.created_at, detail: `by ${request.requested_by}` },
  ];
  const { decision, status } = request;

  if (decision.outcome === "denied" || status === "denied") {
    const reasons = decision.rules.filter((r) => r.effect === "deny").map((r) => r.message);
    steps.push({ id: "decision", label: "Denied by policy", state: "failed", at: when("denied", request.created_at),
      detail: reasons.join("; ") || undefined });
    return steps;
  }

  if (decision.outcome === "auto_approved") {
    steps.push({ id: "decision", label: "Approved automatically by policy", state: "done", at: request.created_at });
  } else {
    for (const approval of request.approvals) {
      steps.push({ id: `approval-${approval.by}-${approval.at}`, label: `Approved by ${approval.by}`, state: "done",
        at: approval.at, detail: approval.comment || undefined });
    }
    if (status === "pending_approval") {
      steps.push({ id: "approval", label: "Awaiting approval", state: "current",
        detail: decision.approvers.length ? `by ${joinOr(decision.approvers)}` : undefined });
    } else if (status === "rejected") {
      steps.push({ id: "approval", label: "Rejected", state: "failed", at: when("rejected", request.updated_at),
        detail: request.rejection_reason ?? undefined });
      return steps;
    } else if (status === "cancelled") {
      steps.push({ id: "approval", label: "Cancelled", state: "failed", at: when("cancelled", request.updated_at) });
      return steps;
    } else if (request.approvals.length === 0) {
      steps.push({ id: "approval", label: "Approved", state: "done", at: when("approved") });
    }
  }
  if (status === "cancelled") {
    steps.push({ id: "cancelled", label: "Cancelled", state: "failed", at: when("cancelled", request.updated_at) });
    return steps;
  }

  const applyingState: StepState =
    status === "approved" || status === "applying" ? "current" : status === "pending_approval" ? "upcoming" : "done";
  steps.push({ id: "applying", label: status === "approved" ? "Waiting to be applied" : "Applying to the cluster",
    state: applyingState, at: when("applying") });

  if (status === "applied") {
    steps.push({ id: "applied", label: "Applied", state: "done", at: when("applied", request.applied_at),
      detail: "the cluster was read back and matches" });
  } else if (status === "failed") {
    steps.push({ id: "failed", label: "Failed", state: "failed", at: when("failed", request.updated_at),
      detail: request.error ? `${request.error.reason}: ${request.error.message}` : undefined });
  } else {
    steps.push({ id: "applied", label: "Applied", state: "upcoming" });
  }
  return steps;
}
