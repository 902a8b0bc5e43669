import { describe, expect, it } from "vitest";
import type { TopicRequest } from "../api/types";
import { isFinal, outcomeHeadline, requestTimeline, requestTitle, statusLabel } from "./requestStatus";

const base: TopicRequest = {
  id: "r1",
  kind: "access.grant",
  cluster: "payments-dev",
  spec: { topic: "payments.invoices.v1", principal: "User:ingest.reader", access: "consume", group: "ingest.readers" },
  requested_by: "ingest-member",
  created_at: "2025-01-01T10:00:00Z",
  status: "pending_approval",
  decision: { outcome: "needs_approval", rules: [{ id: "owner-approval", effect: "require_approval", message: "payments decides" }],
    approvers: ["payments"] },
  approvals: [],
  error: null,
  applied_at: null,
};

const states = (request: TopicRequest) => requestTimeline(request).map((s) => `${s.id}:${s.state}`);

describe("request status", () => {
  it("knows the final statuses", () => {
    for (const status of ["applied", "denied", "rejected", "cancelled", "failed"]) expect(isFinal(status)).toBe(true);
    for (const status of ["pending_approval", "approved", "applying"]) expect(isFinal(status)).toBe(false);
    expect(statusLabel("pending_approval")).toBe("Pending approval");
    expect(statusLabel("something-new")).toBe("something-new");
  });

  it("titles requests by kind", () => {
    expect(requestTitle(base)).toBe("Consume access to payments.invoices.v1 for User:ingest.reader");
    expect(requestTitle({ kind: "topic.create", spec: { name: "payments.x" } })).toBe("Create topic payments.x");
    expect(requestTitle({ kind: "topic.migrate", spec: { target_cluster: "payments-dev", topics: ["a", "b"] } }))
      .toBe("Move a, b to payments-dev");
    expect(requestTitle({ kind: "topic.migrate", spec: { target_cluster: "payments-dev", prefix: "payments." } }))
      .toBe("Move topics payments.* to payments-dev");
  });

  it("headlines decisions", () => {
    expect(outcomeHeadline(base.decision)).toBe("Needs approval by an owner of payments");
    expect(outcomeHeadline({ ...base.decision, approvers: ["team:payments", "role:platform_admin", "security"] }))
      .toBe("Needs approval by an owner of payments, a platform admin or an owner of security");
    expect(outcomeHeadline({ outcome: "auto_approved", rules: [], approvers: [] })).toMatch(/automatically/);
  });
});

describe("requestTimeline", () => {
  it("shows a pending request waiting for its approvers", () => {
    const steps = requestTimeline(base);
    expect(states(base)).toEqual(["submitted:done", "approval:current", "applying:upcoming", "applied:upcoming"]);
    expect(steps[1]?.detail).toBe("by payments");
  });

  it("follows an auto-approved request to applied", () => {
    const applied: TopicRequest = { ...base, status: "applied", applied_at: "2025-01-01T10:00:05Z",
      decision: { outcome: "auto_approved", rules: [], approvers: [] } };
    expect(states(applied)).toEqual(["submitted:done", "decision:done", "applying:done", "applied:done"]);
    expect(requestTimeline(applied).at(-1)?.at).toBe("2025-01-01T10:00:05Z");
    expect(states({ ...applied, status: "applying" })).toEqual(
      ["submitted:done", "decision:done", "applying:current", "applied:upcoming"]);
  });

  it("lists approvals and stops at a rejection with its reason", () => {
    const rejected: TopicRequest = { ...base, status: "rejected", rejection_reason: "use the v2 topic",
      updated_at: "2025-01-01T11:00:00Z" };
    const steps = requestTimeline(rejected);
    expect(states(rejected)).toEqual(["submitted:done", "approval:failed"]);
    expect(steps[1]?.detail).toBe("use the v2 topic");
    const approved: TopicRequest = { ...base, status: "applying",
      approvals: [{ by: "payments-owner", at: "2025-01-01T10:30:00Z", comment: "ok" }] };
    expect(states(approved)).toEqual(
      ["submitted:done", "approval-payments-owner-2025-01-01T10:30:00Z:done", "applying:current", "applied:upcoming"]);
  });

  it("shows the reason of a failure and of a policy denial", () => {
    const failed: TopicRequest = { ...base, status: "failed", decision: { outcome: "auto_approved", rules: [], approvers: [] },
      error: { reason: "POLICY_VIOLATION", message: "replication factor larger than available brokers" } };
    expect(requestTimeline(failed).at(-1)).toMatchObject({ id: "failed", state: "failed",
      detail: "POLICY_VIOLATION: replication factor larger than available brokers" });
    const denied: TopicRequest = { ...base, status: "denied", decision: { outcome: "denied", approvers: [],
      rules: [{ id: "max-partitions", effect: "deny", message: "at most 12 partitions in dev" }] } };
    expect(requestTimeline(denied)).toEqual([
      expect.objectContaining({ id: "submitted" }),
      expect.objectContaining({ id: "decision", state: "failed", detail: "at most 12 partitions in dev" }),
    ]);
  });

  it("takes times from the server's history when it sends one", () => {
    const withHistory: TopicRequest = { ...base, status: "applied", decision: { outcome: "auto_approved", rules: [], approvers: [] },
      history: [{ status: "applying", at: "2025-01-01T10:00:01Z" }, { status: "applied", at: "2025-01-01T10:00:03Z" }] };
    const steps = requestTimeline(withHistory);
    expect(steps.find((s) => s.id === "applying")?.at).toBe("2025-01-01T10:00:01Z");
    expect(steps.find((s) => s.id === "applied")?.at).toBe("2025-01-01T10:00:03Z");
  });
});
