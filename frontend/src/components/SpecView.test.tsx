import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import type { RequestKind, TopicRequest } from "../api/types";
import { SpecView } from "./SpecView";

function request(kind: RequestKind, spec: Record<string, unknown>): TopicRequest {
  return {
    id: "r1", kind, cluster: "payments-dev", spec, requested_by: "alice@example.com", requester_team: "payments",
    owner_team: "payments", created_at: "2025-01-01T10:00:00Z", status: "pending_approval",
    decision: { outcome: "needs_approval", approvers: ["role:platform_admin"], rules: [] },
    approvals: [], error: null, applied_at: null,
  };
}

describe("SpecView", () => {
  it("shows the quotas a quota.set asks for, and which it removes", () => {
    const html = renderToStaticMarkup(<SpecView request={request("quota.set", {
      principal: "User:payments.invoice-writer", producer_byte_rate: 50 * 1024 * 1024, consumer_byte_rate: null,
      request_percentage: 40,
    })} />);
    expect(html).toContain("Produce quota");
    expect(html).toContain("50 MiB/s per broker");
    expect(html).toContain("Fetch quota");
    expect(html).toContain("removed (broker default)");
    expect(html).toContain("40% of a thread per broker");
  });

  it("leaves quota rows out of other kinds", () => {
    const html = renderToStaticMarkup(<SpecView request={request("access.grant", {
      topic: "payments.invoices.v1", principal: "User:ingest.analytics", access: "produce", transactional_id: "ingest.tx",
    })} />);
    expect(html).not.toContain("quota");
    expect(html).toContain("ingest.tx");
  });
});
