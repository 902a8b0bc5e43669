// @vitest-environment happy-dom
/**
 * The migration pages in a DOM against a fake API: the list, one migration with its timeline, gate
 * checks, lag chart, team actions and verification, rolling back with a reason, and starting a
 * migration from a topic on another team's cluster with the plan in the live preview.
 */
import { createRoot, type Root } from "react-dom/client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Cluster, Migration, MigrationPlan, TopicDetail } from "./api/types";
import { App } from "./App";

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), {
  status, headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" } });

const clusters: Cluster[] = [
  { name: "legacy-monolith", environment: "dev", owner_team: "platform", bootstrap_servers: "127.0.0.1:9096",
    security_protocol: "SASL_PLAINTEXT", sasl_mechanism: "SCRAM-SHA-512" },
  { name: "payments-dev", environment: "dev", owner_team: "payments", bootstrap_servers: "127.0.0.1:9092",
    security_protocol: "SASL_PLAINTEXT", sasl_mechanism: "SCRAM-SHA-512" },
];

const plan: MigrationPlan = {
  source: "legacy-monolith", target: "payments-dev",
  topics: [{ name: "payments.invoices.v1", partitions: 2, replication_factor: 1, source_replication_factor: 1,
    config: { "retention.ms": "86400000" }, adjustments: [], refused: false, refusals: [] }],
  missing_topics: [], conflicting_topics: [], refused_topics: [], grants: [], service_accounts: [],
  consumer_groups: [{ group: "billing.readers", team: "billing", topics: ["payments.invoices.v1"], state: "Stable",
    members: 1, lag: 4, discovered: true }],
  team_changes: [], notes: [],
};

const gate = [
  { fact: "mirror_running", op: "==", value: true, description: "the mirror is replicating every topic", passes: true },
  { fact: "max_partition_lag", op: "<=", value: 1000, description: "every partition is close behind", passes: false },
];

function migration(): Migration {
  const steps = ["planned", "mirroring", "consumers_cut_over", "producers_cut_over", "source_quarantined", "done"];
  return {
    id: "mig-1", request_id: "req-mig", source_cluster: "legacy-monolith", target_cluster: "payments-dev",
    owner_team: "payments", topics: ["payments.invoices.v1"], step: "mirroring", can_roll_back: true,
    next_steps: ["consumers_cut_over", "rolled_back", "failed"],
    steps: steps.map((step, index) => ({ step, status: index < 1 ? "done" : index === 1 ? "current" : "next",
      entered_at: index <= 1 ? "2026-12-01T10:00:00Z" : null, can_roll_back: index < 3,
      gate: index === 2 ? gate.map(({ passes: _, ...check }) => check) : [] })),
    history: [], verification: null, plan, created_at: "2026-12-01T10:00:00Z", updated_at: "2026-12-01T10:01:00Z",
    facts: { mirror_running: true, max_partition_lag: 1500 }, facts_at: "2026-12-01T10:01:00Z", gate,
    lag: { measured_at: "2026-12-01T10:01:00Z", total: 1800, max: 1500,
      partitions: [{ topic: "payments.invoices.v1", partition: 0, source_end: 2000, target_end: 500, lag: 1500 },
        { topic: "payments.invoices.v1", partition: 1, source_end: 1000, target_end: 700, lag: 300 }],
      history: [{ at: "2026-12-01T10:00:00Z", total: 3000, max: 2000 }, { at: "2026-12-01T10:00:30Z", total: 2400, max: 1800 },
        { at: "2026-12-01T10:01:00Z", total: 1800, max: 1500 }] },
    mirror: { engine: "mirrormaker-process", state: "running", detail: "pid 4242",
              principal: "User:topicdesk-mirror-m-1", access: "granted" },
    groups: [{ group: "billing.readers", team: "billing", source_members: 1, target_members: 0, offsets_translated: false,
      ready_on_target: false, translation: "mirrormaker", translation_note: "running on the source" }],
    team_actions: [{ team: "billing", role: "consumer", now: ["nothing yet: wait for the mirror"], done: true },
      { team: "payments", role: "owner", now: ["watch the lag fall"], done: false }],
    last_error: null,
  };
}

function legacyTopic(): TopicDetail {
  return { cluster: "legacy-monolith", name: "payments.invoices.v1", owner_team: "platform", partitions: 2,
    replication_factor: 1, config: {}, status: "applied", desired: { partitions: 2, replication_factor: 1, config: {} },
    drift: [], access_grants: [], history: [] };
}

class FakeApi {
  current = migration();
  calls: Array<{ method: string; path: string; body: unknown }> = [];

  handle = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input, "http://portal.test");
    const method = (init.method ?? "GET").toUpperCase();
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    this.calls.push({ method, path: url.pathname, body });
    const route = `${method} ${url.pathname}`;
    if (route === "GET /auth/session") {
      return json(200, { subject: "alice", teams: ["payments"], roles: ["payments:owner"], platform_admin: false, csrf_token: "c" });
    }
    if (route === "GET /api/v1/clusters") return json(200, { items: clusters, next_cursor: null });
    if (route === "GET /api/v1/requests") return json(200, { items: [], next_cursor: null });
    if (route === "GET /api/v1/migrations") return json(200, { items: [this.current], next_cursor: null });
    if (route === "GET /api/v1/migrations/mig-1") return json(200, this.current);
    if (route === "POST /api/v1/migrations/mig-1/rollback") {
      this.current = { ...this.current, step: "rolled_back", can_roll_back: false,
        steps: this.current.steps.map((s) => ({ ...s, status: s.step === "planned" || s.step === "mirroring" ? "done" : "skipped" })),
        history: [{ from: "mirroring", to: "rolled_back", at: "2026-12-01T10:02:00Z", by: "alice",
          reason: (body as { reason: string }).reason, facts: null }] };
      return json(200, this.current);
    }
    if (route === "GET /api/v1/clusters/legacy-monolith/topics/payments.invoices.v1") return json(200, legacyTopic());
    if (route === "POST /api/v1/requests") {
      const decision = { outcome: "needs_approval", approvers: ["team:platform", "team:payments"],
        rules: [{ id: "migration.both-owners-approve", effect: "require_approval", message: "both owners approve" }] };
      if (url.searchParams.get("dry_run") === "true") return json(200, { decision, dry_run: true, migration_plan: plan });
      return json(201, { id: "req-mig", kind: "topic.migrate", cluster: "legacy-monolith", spec: (body as { spec: unknown }).spec,
        requested_by: "alice", created_at: "2026-12-01T10:00:00Z", status: "pending_approval", decision, approvals: [],
        error: null, applied_at: null, migration_plan: plan });
    }
    if (route === "GET /api/v1/requests/req-mig") {
      return json(200, { id: "req-mig", kind: "topic.migrate", cluster: "legacy-monolith",
        spec: { target_cluster: "payments-dev", topics: ["payments.invoices.v1"] }, requested_by: "alice",
        created_at: "2026-12-01T10:00:00Z", status: "approved", decision: { outcome: "needs_approval", approvers: [], rules: [] },
        approvals: [], error: null, applied_at: null, migration_plan: plan, migration_id: "mig-1" });
    }
    return json(404, { type: "about:blank", title: "Not Found", status: 404, detail: `fake API has no ${route}` });
  };
}

let root: Root;
let container: HTMLElement;
let fake: FakeApi;

async function until<T>(probe: () => T | null | undefined | false, what: string, timeout = 8000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() - start > timeout) throw new Error(`timed out waiting for ${what}\n${container.innerHTML.slice(0, 3000)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const byTestId = (id: string) => container.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const allByTestId = (id: string) => [...container.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];

function setValue(element: HTMLElement, value: string) {
  const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(element) as object, "value")?.set;
  setter?.call(element, value);
  element.dispatchEvent(new Event(element instanceof HTMLSelectElement ? "change" : "input", { bubbles: true }));
}

async function go(path: string) {
  window.location.hash = path;
  window.dispatchEvent(new Event("hashchange"));
  await new Promise((resolve) => setTimeout(resolve, 0));
}

beforeAll(async () => {
  fake = new FakeApi();
  vi.stubGlobal("fetch", fake.handle);
  window.location.hash = "#/migrations";
  container = document.createElement("div");
  document.body.appendChild(container);
  root = createRoot(container);
  root.render(<App />);
  await until(() => byTestId("user"), "the signed-in layout");
});

afterAll(() => {
  root.unmount();
  vi.unstubAllGlobals();
});

describe("the migration pages", { timeout: 20_000 }, () => {
  it("lists migrations with their step and links to each", async () => {
    await go("/migrations");
    const row = await until(() => byTestId("migration-row"), "a migration row");
    expect(byTestId("nav-migrations")?.getAttribute("aria-current")).toBe("page");
    expect(row.textContent).toContain("legacy-monolith → payments-dev");
    expect(row.querySelector("[data-testid=migration-step]")?.textContent).toBe("Mirroring");
    expect(row.querySelector("a")?.getAttribute("href")).toBe("#/migrations/mig-1");
  });

  it("shows the timeline with the next gate's checks, the lag chart, team actions and groups", async () => {
    await go("/migrations/mig-1");
    await until(() => byTestId("migration-timeline"), "the timeline");
    const steps = allByTestId("migration-timeline-step");
    expect(steps.map((s) => s.dataset.status)).toEqual(["done", "current", "next", "next", "next", "next"]);
    expect(steps[1]?.textContent).toContain("in progress now");
    const checks = [...(byTestId("next-gate")?.querySelectorAll("li") ?? [])];
    expect(checks.map((c) => c.dataset.passes)).toEqual(["true", "false"]);
    expect(checks[1]?.textContent).toContain("at most 1,000 records");
    expect(checks[1]?.textContent).toContain("fails (measured: 1,500 records)");

    const chart = byTestId("lag-chart");
    expect(chart?.dataset.trend).toBe("falling");
    expect(chart?.querySelectorAll("polyline")).toHaveLength(2);
    expect(chart?.querySelector("polyline")?.getAttribute("points")?.split(" ")).toHaveLength(3);
    expect(chart?.querySelector("[style]")).toBeNull();
    expect(allByTestId("partition-lag-row").map((r) => r.dataset.lag)).toEqual(["1500", "300"]);
    expect(byTestId("lag-total")?.textContent).toBe("1,800 records");
    expect(byTestId("mirror-state")?.dataset.state).toBe("running");
    expect(byTestId("mirror-principal")?.dataset.access).toBe("granted");
    expect(byTestId("mirror-principal")?.textContent).toContain("User:topicdesk-mirror-m-1");
    expect(byTestId("mirror-cleanup")).toBeNull();

    const actions = allByTestId("team-action");
    expect(actions.map((a) => a.dataset.team)).toEqual(["payments", "billing"]);
    expect(actions[0]?.className).toContain("team-action-mine");
    expect(byTestId("group-row")?.textContent).toContain("not yet");
    expect(byTestId("group-ready")?.textContent).toBe("not yet");
    expect(byTestId("group-row")?.textContent).toContain("mirrormaker");
    expect(byTestId("verification-pending")).not.toBeNull();
    expect(byTestId("producers-switched")).toBeNull();
  });

  it("rolls back only with a reason, and says what it does", async () => {
    await go("/migrations/mig-1");
    (await until(() => byTestId("rollback-open"), "the roll back button")).click();
    const form = await until(() => byTestId("rollback-form"), "the roll back form");
    expect(form.textContent).toContain("The mirror stops");
    expect(form.textContent).toContain("target topics are kept");
    (byTestId("rollback-submit") as HTMLButtonElement).click();
    await until(() => byTestId("field-error-rollback-reason"), "the missing reason");
    expect(fake.calls.some((c) => c.path.endsWith("/rollback"))).toBe(false);
    setValue(byTestId("rollback-reason") as HTMLElement, "consumers not ready");
    (byTestId("rollback-submit") as HTMLButtonElement).click();
    await until(() => byTestId("migration-rolled-back"), "the rolled back banner");
    expect(fake.calls.find((c) => c.path.endsWith("/rollback"))?.body).toEqual({ reason: "consumers not ready" });
    expect(byTestId("migration-step")?.dataset.step).toBe("rolled_back");
    expect(byTestId("rollback-open")).toBeNull();
  });

  it("starts a migration from a topic on another team's cluster, with the plan in the preview", async () => {
    await go("/clusters/legacy-monolith/topics/payments.invoices.v1");
    (await until(() => byTestId("migrate-open"), "the move action")).click();
    await until(() => byTestId("migrate-topic"), "the migrate form");
    expect((byTestId("migrate-target") as HTMLSelectElement).value).toBe("payments-dev");
    expect((byTestId("migrate-topics") as HTMLTextAreaElement).value).toBe("payments.invoices.v1");
    setValue(byTestId("migrate-reason") as HTMLElement, "leave the monolith");
    await until(() => byTestId("migrate-plan")?.querySelector("[data-testid=migration-plan] table"), "the plan");
    const dryRun = fake.calls.filter((c) => c.method === "POST" && c.path === "/api/v1/requests").at(-1);
    expect(dryRun?.body).toEqual({ kind: "topic.migrate", cluster: "legacy-monolith",
      spec: { target_cluster: "payments-dev", topics: ["payments.invoices.v1"] }, reason: "leave the monolith" });
    const submitted = fake.calls.length;
    (byTestId("migrate-topic-submit") as HTMLButtonElement).click();
    await until(() => window.location.hash === "#/requests/req-mig", "the request page");
    const link = await until(() => byTestId("migration-link")?.querySelector("a"), "the link to the migration");
    expect(link.getAttribute("href")).toBe("#/migrations/mig-1");
    // The request names its migration: the page does not search the caller's migrations for it.
    expect(fake.calls.slice(submitted).some((c) => c.path === "/api/v1/migrations")).toBe(false);
  });
});
