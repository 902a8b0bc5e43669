// @vitest-environment happy-dom
/**
 * Smoke test of the whole portal in a DOM against a fake API: every page renders its data,
 * and the main flows (new topic with preview, approve, reject, service account) work end to end
 * in the client. The real browser tests (Playwright, real server) live in tests/e2e.
 */
import { createRoot, type Root } from "react-dom/client";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { AuditEvent, Cluster, NotificationSubscription, TopicDetail, TopicRequest } from "./api/types";
import { App } from "./App";

interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
  headers: Record<string, string>;
}

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" },
  });

const clusters: Cluster[] = [
  { name: "payments-dev", environment: "dev", owner_team: "payments", bootstrap_servers: "127.0.0.1:9092",
    security_protocol: "SASL_PLAINTEXT", sasl_mechanism: "SCRAM-SHA-512",
    capacity: { partitions_used: 40, partition_budget: 100, disk_bytes_used: 9 * 1024 ** 3, disk_budget_bytes: 10 * 1024 ** 3 } },
  { name: "ingest-dev", environment: "dev", owner_team: "ingest", bootstrap_servers: "127.0.0.1:9094",
    security_protocol: "SASL_PLAINTEXT", sasl_mechanism: "SCRAM-SHA-512" },
];

function pendingAccess(): TopicRequest {
  return {
    id: "req-pending", kind: "access.grant", cluster: "payments-dev",
    spec: { topic: "payments.invoices.v1", principal: "User:ingest.reader", access: "consume", group: "ingest.readers" },
    requested_by: "bob", requester_team: "ingest", owner_team: "payments", created_at: "2025-01-01T10:00:00Z",
    status: "pending_approval", reason: "fraud scoring",
    decision: { outcome: "needs_approval", approvers: ["payments"],
      rules: [{ id: "cross-team-access", effect: "require_approval", message: "payments approves access to its topics" }] },
    approvals: [], error: null, applied_at: null,
  };
}

/** A request the payments team's CI token made: the team's, though no person asked. */
function tokenQuota(): TopicRequest {
  return {
    id: "req-token", kind: "quota.set", cluster: "payments-dev",
    spec: { principal: "User:payments.writer", producer_byte_rate: 5 * 1024 ** 2 },
    requested_by: "token:payments/ci", requester_team: "payments", owner_team: "payments",
    created_at: "2025-01-01T09:00:00Z", status: "applied",
    decision: { outcome: "auto_approved", approvers: [], rules: [] }, approvals: [], error: null,
    applied_at: "2025-01-01T09:00:02Z",
  };
}

class FakeApi {
  calls: Recorded[] = [];
  requests = new Map<string, TopicRequest>();
  polls = new Map<string, number>();
  accounts: Record<string, string[]> = {
    "payments-dev": ["User:payments.writer", "User:payments.reader", "User:ingest.reader"],
    "ingest-dev": [],
  };

  subscriptions: NotificationSubscription[] = [{ id: "sub-failing", team: "payments", url: "https://hooks.example.com/x",
    event_types: ["request.failed"], format: "slack", audience: "team", description: "", enabled: false,
    disabled_reason: "disabled after 50 failed deliveries in a row", disabled_at: "2025-01-02T08:00:00Z",
    consecutive_failures: 50, failing_since: "2025-01-01T08:00:00Z", last_delivery_at: null, pending_deliveries: 3,
    created_at: "2025-01-01T07:00:00Z" }];

  constructor() {
    this.requests.set("req-pending", pendingAccess());
    this.requests.set("req-token", tokenQuota());
  }

  handle = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input, "http://portal.test");
    const method = (init.method ?? "GET").toUpperCase();
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    this.calls.push({ method, path: url.pathname, query: url.searchParams, body,
      headers: (init.headers ?? {}) as Record<string, string> });
    const route = `${method} ${url.pathname}`;
    if (method !== "GET" && (init.headers as Record<string, string>)["X-CSRF-Token"] !== "csrf-1") {
      return json(403, { type: "about:blank", title: "Forbidden", status: 403, detail: "bad CSRF token" });
    }
    let match: RegExpMatchArray | null;

    if (route === "GET /auth/session") {
      return json(200, { subject: "alice", teams: ["payments"], roles: ["payments:owner"], platform_admin: false, csrf_token: "csrf-1" });
    }
    if (route === "POST /auth/logout") return new Response(null, { status: 204 });
    if (route === "GET /api/v1/clusters") return json(200, { items: clusters, next_cursor: null });
    if ((match = url.pathname.match(/^\/api\/v1\/clusters\/([^/]+)\/service-accounts$/))) {
      const cluster = decodeURIComponent(match[1] as string);
      if (method === "GET") {
        return json(200, { items: (this.accounts[cluster] ?? []).map((principal) => ({ principal })), next_cursor: null });
      }
      const name = (body as { name: string }).name;
      if (!name.startsWith("payments.")) {
        return json(422, { type: "about:blank", title: "Unprocessable", status: 422, detail: "invalid",
          errors: [{ path: "/name", message: "the name must start with payments." }] });
      }
      this.accounts[cluster] = [...(this.accounts[cluster] ?? []), `User:${name}`];
      return json(201, { principal: `User:${name}`, username: name, password: "s3cret-once", cluster,
        bootstrap_servers: "127.0.0.1:9092", security_protocol: "SASL_PLAINTEXT", sasl_mechanism: "SCRAM-SHA-512" });
    }
    if ((match = url.pathname.match(/^\/api\/v1\/clusters\/([^/]+)\/service-accounts\/([^/]+)\/rotate$/))) {
      const principal = decodeURIComponent(match[2] as string);
      return json(200, { principal, username: principal.slice(5), password: "rotated-pw", cluster: "payments-dev",
        bootstrap_servers: "127.0.0.1:9092", security_protocol: "SASL_PLAINTEXT", sasl_mechanism: "SCRAM-SHA-512" });
    }
    if (route === "GET /api/v1/requests") {
      let items = [...this.requests.values()];
      if (url.searchParams.get("awaiting_me") === "true") {
        items = items.filter((r) => r.status === "pending_approval" && r.requested_by !== "alice");
      }
      if (url.searchParams.get("mine") === "true") items = items.filter((r) => r.requested_by === "alice");
      const param = (key: string) => url.searchParams.get(key);
      if (param("kind")) items = items.filter((r) => r.kind === param("kind"));
      if (param("status")) items = items.filter((r) => r.status === param("status"));
      if (param("cluster")) items = items.filter((r) => r.cluster === param("cluster"));
      if (param("team")) items = items.filter((r) => r.requester_team === param("team") || r.owner_team === param("team"));
      return json(200, { items, next_cursor: null });
    }
    if (route === "POST /api/v1/requests") {
      const document = body as { kind: string; cluster: string; spec: { name?: string; partitions?: number } };
      if (document.spec.name?.includes("reserved")) {
        return json(422, { type: "about:blank", title: "Unprocessable", status: 422, detail: "invalid",
          errors: [{ path: "/spec/name", message: "payments.reserved is a reserved name" },
            { path: "/spec/config/segment.bytes", message: "unknown config" }] });
      }
      const denied = (document.spec.partitions ?? 0) > 12;
      const decision = denied
        ? { outcome: "denied", approvers: [], rules: [{ id: "dev-partitions", effect: "deny", message: "at most 12 partitions in dev" }] }
        : { outcome: "auto_approved", approvers: [], rules: [{ id: "naming", effect: "warn", message: "consider a version suffix" }] };
      if (url.searchParams.get("dry_run") === "true") return json(200, { decision, dry_run: true });
      const created: TopicRequest = {
        id: "req-new", kind: document.kind as TopicRequest["kind"], cluster: document.cluster,
        spec: document.spec as Record<string, unknown>, requested_by: "alice", created_at: "2025-01-02T09:00:00Z",
        status: "applying", decision: decision as TopicRequest["decision"], approvals: [], error: null, applied_at: null,
      };
      this.requests.set(created.id, created);
      return json(201, created);
    }
    if ((match = url.pathname.match(/^\/api\/v1\/requests\/([^/]+)$/)) && method === "GET") {
      const id = decodeURIComponent(match[1] as string);
      const request = this.requests.get(id);
      if (!request) return json(404, { type: "about:blank", title: "Not Found", status: 404, detail: "no such request" });
      const polls = (this.polls.get(id) ?? 0) + 1;
      this.polls.set(id, polls);
      if (request.status === "applying" && polls >= 2) {
        request.status = "applied";
        request.applied_at = "2025-01-02T09:00:03Z";
      }
      return json(200, request);
    }
    if ((match = url.pathname.match(/^\/api\/v1\/requests\/([^/]+)\/(approve|reject|cancel)$/))) {
      const request = this.requests.get(decodeURIComponent(match[1] as string));
      if (!request) return json(404, { type: "about:blank", title: "Not Found", status: 404 });
      if (match[2] === "approve") {
        request.status = "approved";
        request.approvals = [{ by: "alice", at: "2025-01-01T10:05:00Z", comment: (body as { comment?: string }).comment ?? "" }];
      } else if (match[2] === "reject") {
        const reason = (body as { reason?: string }).reason ?? "";
        if (!reason.trim()) {
          return json(422, { type: "about:blank", title: "Unprocessable", status: 422,
            errors: [{ path: "/reason", message: "must not be empty" }] });
        }
        request.status = "rejected";
        request.rejection_reason = reason;
      } else {
        request.status = "cancelled";
      }
      return json(200, request);
    }
    if (route === "GET /api/v1/topics") {
      const all = [topic()];
      const q = url.searchParams.get("q") ?? "";
      return json(200, { items: all.filter((t) => t.name.includes(q)), next_cursor: null });
    }
    if ((match = url.pathname.match(/^\/api\/v1\/clusters\/([^/]+)\/topics\/([^/]+)$/))) {
      return json(200, topic());
    }
    if (route === "GET /api/v1/audit") {
      if (url.searchParams.get("cursor")) return json(200, { items: [auditEvent(1)], next_cursor: null });
      return json(200, { items: [auditEvent(3), auditEvent(2)], next_cursor: "c2" });
    }
    if (route === "GET /api/v1/notifications/event-types") {
      return json(200, { event_types: ["request.applied", "request.failed", "drift.found"], formats: ["cloudevents", "slack"],
        signature_header: "X-Topicdesk-Signature", replay_window_seconds: 300 });
    }
    if ((match = url.pathname.match(/^\/api\/v1\/teams\/payments\/notifications\/subscriptions(?:\/([^/]+))?(\/deliveries|\/test)?$/))) {
      const id = match[1];
      const tail = match[2];
      if (!id && method === "GET") return json(200, { items: this.subscriptions, next_cursor: null });
      if (!id && method === "POST") {
        const input = body as { url: string; event_types: string[]; format: "cloudevents" | "slack" };
        if (!input.url.startsWith("https://")) {
          return json(422, { type: "about:blank", title: "Unprocessable", status: 422, detail: "the webhook URL is not allowed",
            errors: [{ path: "/url", message: "must be an https:// URL" }] });
        }
        const created: NotificationSubscription = { id: `sub-${this.subscriptions.length + 1}`, team: "payments",
          url: input.url, event_types: input.event_types, format: input.format, audience: "team", description: "",
          enabled: true, disabled_reason: null, disabled_at: null, consecutive_failures: 0, failing_since: null,
          last_delivery_at: null, pending_deliveries: 0, created_at: "2025-01-02T09:00:00Z" };
        this.subscriptions.push(created);
        return json(201, { ...created, secret: "whsec_once" });
      }
      const found = this.subscriptions.find((sub) => sub.id === id);
      if (!found) return json(404, { type: "about:blank", title: "Not Found", status: 404, detail: "no such subscription" });
      if (tail === "/deliveries") {
        return json(200, { items: [{ event_id: "e1", event_type: "request.applied", attempt: 2,
          attempted_at: "2025-01-02T09:01:00Z", result: "delivered", status_code: 204, error: null, duration_ms: 12 },
        { event_id: "e1", event_type: "request.applied", attempt: 1, attempted_at: "2025-01-02T09:00:00Z",
          result: "failed", status_code: 500, error: "the receiver answered 500", duration_ms: 40 }], next_cursor: null });
      }
      if (tail === "/test") return json(202, { event_id: "e-test", detail: "queued" });
      if (method === "PATCH") {
        Object.assign(found, body, { disabled_reason: null });
        return json(200, found);
      }
      if (method === "DELETE") {
        this.subscriptions = this.subscriptions.filter((sub) => sub.id !== id);
        return new Response(null, { status: 204 });
      }
    }
    if (route === "GET /api/v1/audit/verify") {
      return json(200, { ok: true, events: 3, head: "abcdef0123456789", first_bad: null });
    }
    return json(404, { type: "about:blank", title: "Not Found", status: 404, detail: `fake API has no ${route}` });
  };
}

function topic(): TopicDetail {
  return {
    cluster: "payments-dev", name: "payments.invoices.v1", owner_team: "payments", partitions: 6, replication_factor: 1,
    config: { "retention.ms": "604800000", "cleanup.policy": "delete" }, description: "Invoices issued", status: "applied",
    desired: { partitions: 6, replication_factor: 1, config: { "retention.ms": "604800000", "cleanup.policy": "delete" } },
    observed: { partitions: 6, replication_factor: 1, config: { "retention.ms": "86400000", "cleanup.policy": "delete" } },
    drift: [{ resource: "topic:payments.invoices.v1", field: "retention.ms", desired: "604800000", observed: "86400000" }],
    drift_scanned_at: "2025-01-02T08:00:00Z",
    access_grants: [{ principal: "User:payments.writer", topic: "payments.invoices.v1", access: "produce", team: "payments",
      status: "applied" }, { principal: "User:billing.reader", topic: "payments.invoices.v1", access: "consume",
      group: "billing.", group_pattern: "prefixed", team: "billing", status: "applied" }],
    history: [],
  };
}

function auditEvent(seq: number): AuditEvent {
  return { id: String(seq), occurred_at: "2025-01-02T09:00:00Z", actor: "alice", action: seq === 1 ? "auth:login" : "request:submit",
    subject: `request:req-${seq}`, team: "payments", data: { after: "applied" } };
}

// ---- a tiny harness ----

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
  const proto = Object.getPrototypeOf(element) as object;
  const setter = Object.getOwnPropertyDescriptor(proto, "value")?.set;
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
  window.location.hash = "#/";
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

beforeEach(() => {
  fake.calls = [];
});

// Generous time: the request page polls every 2 s, and CI machines are busy.
describe("the portal", { timeout: 20_000 }, () => {
  it("shows the dashboard with what awaits me, my requests and my team's topics", async () => {
    // The app opened on the dashboard before beforeEach emptied fake.calls: leave it and come back,
    // so that the calls asserted below are this visit's, whatever the timing of the first one.
    await go("/requests");
    await until(() => byTestId("requests-table"), "the requests page");
    await go("/");
    const awaiting = await until(() => byTestId("dashboard-awaiting")?.querySelector("[data-testid=request-row]"), "awaiting row");
    expect(awaiting.textContent).toContain("Consume access to payments.invoices.v1");
    await until(() => byTestId("dashboard-team-topics")?.querySelector("[data-testid=topic-row]"), "team topics");
    expect(byTestId("dashboard-my-requests")?.textContent).toContain("You have not asked for anything yet.");
    expect(byTestId("approvals-count")?.textContent).toContain("1");
    expect(fake.calls.some((c) => c.path === "/api/v1/topics" && c.query.get("team") === "payments")).toBe(true);
    // The team's requests include what its CI token asked for.
    const teamRow = await until(() => byTestId("dashboard-team-requests")?.querySelector("[data-request-id=req-token]"),
      "the token's request on the dashboard");
    expect(teamRow.textContent).toContain("token:payments/ci");
  });

  it("filters the requests page through the address and the API", async () => {
    await go("/requests");
    await until(() => byTestId("requests-table")?.querySelector("[data-request-id=req-token]"), "all requests");
    expect(allByTestId("request-row")).toHaveLength(2);
    setValue(byTestId("requests-filter-kind") as HTMLElement, "quota.set");
    await until(() => allByTestId("request-row").length === 1, "only the quota request");
    expect(window.location.hash).toBe("#/requests?kind=quota.set");
    expect(byTestId("request-row")?.dataset.requestId).toBe("req-token");
    expect(fake.calls.some((c) => c.path === "/api/v1/requests" && c.query.get("kind") === "quota.set")).toBe(true);
    setValue(byTestId("requests-filter-status") as HTMLElement, "failed");
    const empty = await until(() => byTestId("requests-empty"), "no match");
    expect(empty.textContent).toContain("failed · quota.set");
    (byTestId("requests-clear") as HTMLButtonElement).click();
    await until(() => allByTestId("request-row").length === 2, "the filters cleared");
    expect(window.location.hash).toBe("#/requests");
  });

  it("creates a topic with a live policy preview and follows it to applied", async () => {
    await go("/topics/new");
    const name = await until(() => byTestId("topic-name") as HTMLInputElement | null, "the topic form");
    expect(name.value).toBe("payments.");
    expect((byTestId("cluster-select") as HTMLSelectElement).value).toBe("payments-dev");

    // Too many partitions: the preview says denied and the submit button is disabled.
    setValue(name, "payments.invoices.v2");
    setValue(byTestId("partitions") as HTMLElement, "50");
    const preview = await until(() => byTestId("policy-preview")?.dataset.outcome === "denied" && byTestId("policy-preview"),
      "a denied preview");
    expect(preview.textContent).toContain("at most 12 partitions in dev");
    expect((byTestId("submit-request") as HTMLButtonElement).disabled).toBe(true);
    const dryRuns = fake.calls.filter((c) => c.method === "POST" && c.query.get("dry_run") === "true");
    expect(dryRuns.length).toBeGreaterThanOrEqual(1);

    // Client-side validation shows next to the field, without asking the server.
    setValue(byTestId("partitions") as HTMLElement, "0");
    (byTestId("partitions") as HTMLElement).dispatchEvent(new Event("focusout", { bubbles: true }));
    await until(() => byTestId("field-error-partitions"), "the partitions error");
    expect(byTestId("field-error-partitions")?.textContent).toContain("a topic needs at least 1 partition, got 0");
    expect(byTestId("policy-preview")?.dataset.state).toBe("incomplete");

    setValue(byTestId("partitions") as HTMLElement, "6");
    setValue(byTestId("retention-amount") as HTMLElement, "2");
    setValue(byTestId("retention-unit") as HTMLElement, "weeks");
    (await until(() => byTestId("producer-payments.writer"), "producer checkbox")).click();
    (await until(() => byTestId("consumer-payments.reader"), "consumer checkbox")).click();
    const group = await until(() => byTestId("consumer-group-payments.reader") as HTMLInputElement | null, "group field");
    expect(group.value).toBe("payments.reader");
    setValue(byTestId("throughput-amount") as HTMLElement, "1");
    setValue(byTestId("throughput-unit") as HTMLElement, "MiB/s");

    await until(() => byTestId("policy-preview")?.dataset.outcome === "auto_approved", "an auto-approved preview");
    expect(byTestId("preview-summary")?.textContent).toContain("Keep messages for 2 weeks, then delete them.");
    const submit = byTestId("submit-request") as HTMLButtonElement;
    expect(submit.textContent).toBe("Create topic");
    expect(submit.disabled).toBe(false);
    submit.click();

    await until(() => window.location.hash === "#/requests/req-new", "the request page");
    const created = fake.calls.find((c) => c.method === "POST" && c.path === "/api/v1/requests" && !c.query.get("dry_run"));
    expect(created?.headers["Idempotency-Key"]).toBeTruthy();
    expect(created?.body).toEqual({
      kind: "topic.create", cluster: "payments-dev",
      spec: { name: "payments.invoices.v2", partitions: 6, replication_factor: 1,
        config: { "retention.ms": "1209600000", "cleanup.policy": "delete" },
        producers: ["User:payments.writer"], consumers: [{ principal: "User:payments.reader", group: "payments.reader" }],
        expected_throughput: { bytes_per_second: 1048576 } },
    });
    await until(() => byTestId("request-status")?.dataset.status === "applying", "applying");
    await until(() => byTestId("request-status")?.dataset.status === "applied", "applied after a poll", 10_000);
    expect(byTestId("status-timeline")?.querySelector("[data-step=applied]")?.getAttribute("data-state")).toBe("done");
    expect(byTestId("applied-banner")).not.toBeNull();
  });

  it("shows the server's validation errors next to their fields", async () => {
    await go("/topics/new");
    const name = await until(() => byTestId("topic-name") as HTMLInputElement | null, "the topic form");
    setValue(name, "payments.reserved");
    await until(() => byTestId("policy-preview")?.dataset.state === "invalid", "an invalid preview");
    expect(byTestId("field-error-name")?.textContent).toContain("payments.reserved is a reserved name");
    expect(byTestId("preview-invalid")?.textContent).toContain("/spec/config/segment.bytes: unknown config");
    (byTestId("submit-request") as HTMLElement).click();
    await until(() => byTestId("form-banner"), "the banner of errors that belong to no field");
    expect(byTestId("form-banner")?.textContent).toContain("unknown config");
    setValue(name, "payments.fine");
    await until(() => !byTestId("field-error-name"), "the server error to clear once the name changes");
  });

  it("approves a request from the inbox", async () => {
    await go("/approvals");
    const item = await until(() => byTestId("approval-item"), "an inbox item");
    expect(item.textContent).toContain("payments approves access to its topics");
    (item.querySelector("[data-testid=approve-button]") as HTMLElement).click();
    const comment = await until(() => byTestId("approve-comment") as HTMLTextAreaElement | null, "the comment field");
    setValue(comment, "ok for fraud scoring");
    (byTestId("confirm-approve") as HTMLElement).click();
    await until(() => byTestId("approvals-empty"), "an empty inbox");
    expect(fake.calls.find((c) => c.path === "/api/v1/requests/req-pending/approve")?.body).toEqual({ comment: "ok for fraud scoring" });
    expect(byTestId("approvals-done")?.textContent).toContain("approved");
  });

  it("needs a reason to reject, and the requester sees it", async () => {
    fake.requests.set("req-pending", pendingAccess());
    await go("/requests/req-pending");
    const reject = await until(() => byTestId("reject-button"), "the reject button");
    reject.click();
    const reason = await until(() => byTestId("reject-reason") as HTMLTextAreaElement | null, "the reason field");
    (byTestId("confirm-reject") as HTMLElement).click();
    await until(() => byTestId("field-error-reason"), "the missing-reason error");
    expect(fake.calls.some((c) => c.path.endsWith("/reject"))).toBe(false);
    setValue(reason, "use the v2 topic");
    (byTestId("confirm-reject") as HTMLElement).click();
    await until(() => byTestId("request-status")?.dataset.status === "rejected", "rejected");
    expect(byTestId("rejection-reason")?.textContent).toBe("use the v2 topic");
  });

  it("lists topics and shows a topic with drift, grants and a request-access form", async () => {
    await go("/topics?q=invoices");
    await until(() => byTestId("topic-row"), "a catalogue row");
    expect((byTestId("topic-search-input") as HTMLInputElement).value).toBe("invoices");
    await go("/clusters/payments-dev/topics/payments.invoices.v1");
    await until(() => byTestId("drift-item"), "drift");
    expect(byTestId("topic-state")?.textContent).toContain("differs");
    expect(byTestId("grant-row")?.dataset.principal).toBe("User:payments.writer");
    // A prefixed group (kept from a migration's source) reads as its prefix and *.
    const prefixed = allByTestId("grant-row").find((row) => row.dataset.principal === "User:billing.reader");
    expect(prefixed?.querySelector("[data-label=Group]")?.textContent).toBe("billing.*");
    const principal = await until(() => byTestId("access-principal") as HTMLSelectElement | null, "the access form");
    expect([...principal.options].map((o) => o.value)).toEqual(["User:payments.writer", "User:payments.reader"]);
    setValue(byTestId("access-group") as HTMLElement, "payments.auditors");
    await until(() => container.querySelector("[data-testid=request-access] [data-testid=policy-preview][data-state=decided]"),
      "the access preview");
  });

  it("creates a service account and shows its password once, and rotates one", async () => {
    await go("/service-accounts?cluster=payments-dev");
    const name = await until(() => byTestId("sa-name") as HTMLInputElement | null, "the service account form");
    expect(name.value).toBe("payments.");
    (byTestId("create-sa-submit") as HTMLElement).click();
    await until(() => byTestId("field-error-name"), "the empty-name error");
    setValue(name, "payments.invoice-writer");
    (byTestId("create-sa-submit") as HTMLElement).click();
    const password = await until(() => byTestId("sa-password") as HTMLInputElement | null, "the password");
    expect(password.value).toBe("s3cret-once");
    expect(byTestId("copy-password")).not.toBeNull();
    (byTestId("credentials-done") as HTMLElement).click();
    await until(() => !byTestId("sa-password"), "the password to go away");
    (await until(() => byTestId("rotate-payments.writer"), "a rotate button")).click();
    (await until(() => byTestId("confirm-rotate-payments.writer"), "the rotate confirmation")).click();
    await until(() => (byTestId("sa-password") as HTMLInputElement | null)?.value === "rotated-pw", "the rotated password");
    expect(fake.calls.some((c) => c.path === "/api/v1/clusters/payments-dev/service-accounts/User%3Apayments.writer/rotate"
      || c.path === "/api/v1/clusters/payments-dev/service-accounts/User:payments.writer/rotate")).toBe(true);
  });

  it("draws cluster capacity and copes without it", async () => {
    await go("/clusters");
    const cards = await until(() => allByTestId("cluster-card").length === 2 && allByTestId("cluster-card"), "cluster cards");
    expect(cards[0]?.querySelector("[data-testid=capacity-disk] svg")?.getAttribute("aria-label")).toBe("Disk: 9 GiB of 10 GiB (90 %)");
    expect(cards[1]?.querySelector("[data-testid=capacity-unknown]")).not.toBeNull();
  });

  it("shows the audit log with its verified chain and loads older events", async () => {
    await go("/audit");
    const badge = await until(() => byTestId("audit-verify")?.dataset.state === "verified" && byTestId("audit-verify"), "verify");
    expect(badge.textContent).toContain("Chain verified");
    await until(() => allByTestId("audit-row").length === 2, "two events");
    (byTestId("load-more") as HTMLElement).click();
    await until(() => allByTestId("audit-row").length === 3, "three events");
    expect(byTestId("load-more")).toBeNull();
  });

  it("manages notification endpoints: secret once, disabled with its reason, history, test event, delete", async () => {
    await go("/team-settings");
    const reason = await until(() => byTestId("subscription-disabled-reason"), "the disabled endpoint");
    expect(reason.textContent).toContain("disabled after 50 failed deliveries in a row");
    expect(reason.textContent).toContain("3 events wait");
    const url = byTestId("subscription-url") as HTMLInputElement;
    setValue(url, "http://hooks.example.com/new");
    (byTestId("create-subscription-submit") as HTMLElement).click();
    await until(() => byTestId("field-error-url")?.textContent?.includes("must be an https:// URL"), "the URL error");
    setValue(url, "https://hooks.example.com/new");
    (byTestId("create-subscription-submit") as HTMLElement).click();
    const secret = await until(() => byTestId("subscription-secret-value") as HTMLInputElement | null, "the secret");
    expect(secret.value).toBe("whsec_once");
    (byTestId("secret-done") as HTMLElement).click();
    await until(() => allByTestId("subscription").length === 2 && !byTestId("subscription-secret"), "two endpoints");
    expect(container.innerHTML).not.toContain("whsec_once");
    const failing = allByTestId("subscription")[0] as HTMLElement;
    (failing.querySelector("[data-testid=show-history]") as HTMLElement).click();
    await until(() => allByTestId("delivery").length === 2, "the delivery history");
    expect(allByTestId("delivery").map((row) => row.dataset.result)).toEqual(["delivered", "failed"]);
    (failing.querySelector("[data-testid=send-test]") as HTMLElement).click();
    await until(() => fake.calls.some((c) => c.method === "POST" && c.path.endsWith("/sub-failing/test")), "the test event");
    (failing.querySelector("[data-testid=toggle-enabled]") as HTMLElement).click();
    await until(() => !byTestId("subscription-disabled"), "the endpoint enabled again");
    expect(fake.calls.find((c) => c.method === "PATCH")?.body).toEqual({ enabled: true });
    (allByTestId("delete-subscription")[1] as HTMLElement).click();
    (await until(() => byTestId("confirm-delete"), "the delete confirmation")).click();
    await until(() => allByTestId("subscription").length === 1, "one endpoint left");
  });

  it("says when a page does not exist", async () => {
    await go("/nowhere");
    await until(() => byTestId("page-title")?.textContent === "Page not found", "not found");
  });
});
