import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import type { MigrationPlan } from "../api/types";
import { MigrationPlanView } from "./MigrationPlanView";

const PLAN: MigrationPlan = {
  source: "legacy-monolith", target: "payments-dev", missing_topics: [], conflicting_topics: [], refused_topics: [],
  topics: [{ name: "payments.invoices.v1", partitions: 6, replication_factor: 1, source_replication_factor: 3,
    config: { "retention.ms": "604800000" }, refused: false, refusals: [],
    adjustments: [{ field: "replication_factor", source: 3, target: 1, reason: "payments-dev has 1 broker(s)" }] }],
  grants: [{ topic: "payments.invoices.v1", principal: "User:billing.reader", access: "consume", group: "billing.g" }],
  service_accounts: [{ principal: "User:billing.reader", team: "billing", exists_on_target: false,
    action: "create_scram_credentials" }],
  consumer_groups: [{ group: "billing.g", team: "billing", topics: ["payments.invoices.v1"], state: "STABLE",
    members: 2, lag: 5, discovered: true }],
  team_changes: [{ team: "billing", topics: ["payments.invoices.v1"], consumer_groups: ["billing.g"],
    change: ["bootstrap servers: legacy:9092 -> payments:9092"], unchanged: "topic names" }],
  notes: [],
};

describe("MigrationPlanView", () => {
  it("shows target topics with adjustments, grants, accounts, groups and what each team changes", () => {
    const html = renderToStaticMarkup(<MigrationPlanView plan={PLAN} />);
    expect(html).toContain("payments.invoices.v1");
    expect(html).toContain("replication_factor: 3 → 1 (payments-dev has 1 broker(s))");
    expect(html).toContain("User:billing.reader consumes payments.invoices.v1 (group billing.g)");
    expect(html).toContain("new SCRAM credentials, shown once to billing");
    expect(html).toContain("billing.g (2 members, lag 5)");
    expect(html).toContain("bootstrap servers: legacy:9092 -&gt; payments:9092");
  });

  it("says when there is no plan", () => {
    expect(renderToStaticMarkup(<MigrationPlanView plan={null} />)).toContain("could not be read");
  });
});
