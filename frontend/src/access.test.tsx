// @vitest-environment happy-dom
/**
 * The access pages in a DOM against a fake API: API tokens (create shown once, last use, revoke,
 * owners only), a service account's quota (current -> new through the live preview, which says
 * what the requester can do) and its deletion (what goes with it, typed confirmation).
 */
import { createRoot, type Root } from "react-dom/client";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { ApiToken, ServiceAccount } from "./api/types";
import { App } from "./App";

const MIB = 1024 * 1024;
const json = (status: number, body: unknown) =>
  new Response(body === undefined ? null : JSON.stringify(body), {
    status, headers: { "Content-Type": status >= 400 ? "application/problem+json" : "application/json" },
  });

interface Call { method: string; path: string; query: URLSearchParams; body: unknown }

class FakeApi {
  calls: Call[] = [];
  roles = ["payments:owner"];
  tokens: ApiToken[] = [{ id: "t1", team: "payments", name: "ci-old", role: "member", created_by: "alice",
    created_at: "2026-01-01T00:00:00Z", expires_at: "2099-01-01T00:00:00Z", revoked_at: null,
    last_used_at: "2026-02-01T10:00:00Z" }];
  accounts: ServiceAccount[] = [
    { principal: "User:payments.writer", team: "payments", created_at: "2026-01-01T00:00:00Z",
      quota: { producer_byte_rate: 5 * MIB, consumer_byte_rate: null, request_percentage: null, status: "applied" },
      grants: [{ topic: "payments.invoices.v1", access: "produce", status: "applied" },
        { topic: "payments.refunds.v1", access: "consume", group: "payments.writer", status: "applied" }],
      pending_quota_request: null },
  ];

  handle = async (input: string, init: RequestInit = {}): Promise<Response> => {
    const url = new URL(input, "http://portal.test");
    const method = (init.method ?? "GET").toUpperCase();
    const body = init.body ? JSON.parse(String(init.body)) : undefined;
    this.calls.push({ method, path: decodeURIComponent(url.pathname), query: url.searchParams, body });
    const route = `${method} ${decodeURIComponent(url.pathname)}`;
    if (route === "GET /auth/session") {
      return json(200, { subject: "alice", teams: ["payments"], roles: this.roles, platform_admin: false, csrf_token: "c" });
    }
    if (route === "GET /api/v1/clusters") {
      return json(200, { items: [{ name: "payments-dev", environment: "dev", owner_team: "payments",
        bootstrap_servers: "b:1", security_protocol: "SASL_PLAINTEXT", sasl_mechanism: "SCRAM-SHA-512" }], next_cursor: null });
    }
    if (route === "GET /api/v1/requests") return json(200, { items: [], next_cursor: null });
    if (route === "GET /api/v1/clusters/payments-dev/service-accounts") return json(200, { items: this.accounts, next_cursor: null });
    if (route === "DELETE /api/v1/clusters/payments-dev/service-accounts/User:payments.writer") {
      this.accounts = [];
      return json(204, undefined);
    }
    if (route === "POST /api/v1/requests") {
      const rate = (body as { spec: { producer_byte_rate?: number } }).spec.producer_byte_rate ?? 0;
      const decision = rate > 10 * MIB
        ? { outcome: "needs_approval", approvers: ["role:platform_admin"], rules: [{ id: "quota.producer-above-default",
          effect: "require_approval", message: "above the default 10 MiB/s: ask for at most 10 MiB/s, or submit and a platform admin decides." }] }
        : { outcome: "auto_approved", approvers: [], rules: [] };
      if (url.searchParams.get("dry_run") === "true") return json(200, { decision, dry_run: true });
      return json(201, { id: "req-quota", kind: "quota.set", cluster: "payments-dev", spec: (body as { spec: object }).spec,
        requested_by: "alice", created_at: "2026-01-02T00:00:00Z", status: "pending_approval", decision, approvals: [],
        error: null, applied_at: null });
    }
    if (route === "GET /api/v1/requests/req-quota") {
      return json(200, { id: "req-quota", kind: "quota.set", cluster: "payments-dev",
        spec: { principal: "User:payments.writer", producer_byte_rate: 50 * MIB }, requested_by: "alice",
        created_at: "2026-01-02T00:00:00Z", status: "pending_approval",
        decision: { outcome: "needs_approval", approvers: ["role:platform_admin"], rules: [] }, approvals: [], error: null,
        applied_at: null, history: [] });
    }
    if (route === "GET /api/v1/teams/payments/tokens") return json(200, { items: this.tokens, next_cursor: null });
    if (route === "POST /api/v1/teams/payments/tokens") {
      const { name, role } = body as { name: string; role: "member" | "owner" };
      this.tokens = [...this.tokens, { id: "t2", team: "payments", name, role, created_by: "alice",
        created_at: "2026-03-01T00:00:00Z", expires_at: "2099-03-01T00:00:00Z", revoked_at: null, last_used_at: null }];
      return json(201, { id: "t2", team: "payments", name, role, expires_at: "2099-03-01T00:00:00Z", token: "tdk_secret_once" });
    }
    if (route === "DELETE /api/v1/teams/payments/tokens/t2") {
      this.tokens = this.tokens.map((t) => (t.id === "t2" ? { ...t, revoked_at: "2026-03-02T00:00:00Z" } : t));
      return json(204, undefined);
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

async function mount() {
  root?.unmount();
  container?.remove();
  container = document.createElement("div");
  document.body.appendChild(container);
  root = createRoot(container);
  root.render(<App />);
  await until(() => byTestId("user"), "the signed-in layout");
}

beforeAll(async () => {
  fake = new FakeApi();
  vi.stubGlobal("fetch", fake.handle);
  window.location.hash = "#/";
  await mount();
});

afterAll(() => {
  root.unmount();
  vi.unstubAllGlobals();
});

beforeEach(() => {
  fake.calls = [];
});

describe("the access pages", { timeout: 20_000 }, () => {
  it("creates a token shown once with a copy button, lists its last use and revokes it", async () => {
    expect(byTestId("nav-tokens")).not.toBeNull();
    await go("/tokens");
    const old = await until(() => container.querySelector<HTMLElement>("[data-token-name=ci-old]"), "the token list");
    expect(old.querySelector("[data-testid=token-last-used] time")).not.toBeNull();
    (byTestId("create-token-submit") as HTMLElement).click();
    await until(() => byTestId("field-error-token-name"), "the empty-name error");
    setValue(byTestId("token-name") as HTMLElement, "ci-deploy");
    setValue(byTestId("token-role") as HTMLElement, "owner");
    setValue(byTestId("token-expiry") as HTMLElement, "30");
    (byTestId("create-token-submit") as HTMLElement).click();
    const value = await until(() => byTestId("token-value") as HTMLInputElement | null, "the token");
    expect(value.value).toBe("tdk_secret_once");
    expect(byTestId("copy-token")).not.toBeNull();
    expect(fake.calls.find((c) => c.method === "POST")?.body).toEqual({ name: "ci-deploy", role: "owner", expires_in_days: 30 });
    const row = await until(() => container.querySelector<HTMLElement>("[data-token-name=ci-deploy]"), "the new row");
    expect(row.querySelector("[data-testid=token-last-used]")?.textContent).toBe("never");
    (byTestId("token-done") as HTMLElement).click();
    await until(() => !byTestId("token-value"), "the token to go away");
    (byTestId("revoke-ci-deploy") as HTMLElement).click();
    (await until(() => byTestId("confirm-revoke-ci-deploy"), "the revoke confirmation")).click();
    await until(() => container.querySelector("[data-token-name=ci-deploy][data-state=revoked]"), "the revoked token");
    expect(fake.calls.some((c) => c.method === "DELETE" && c.path === "/api/v1/teams/payments/tokens/t2")).toBe(true);
  });

  it("changes a quota showing current and new values, and says a platform admin decides", async () => {
    await go("/service-accounts?cluster=payments-dev");
    const summary = await until(() => byTestId("quota-payments.writer"), "the quota column");
    expect(summary.textContent).toContain("Produce 5 MiB/s");
    (byTestId("set-quota-payments.writer") as HTMLElement).click();
    const produce = await until(() => byTestId("quota-producer_byte_rate") as HTMLInputElement | null, "the quota form");
    expect(produce.value).toBe("5");
    expect(byTestId("quota-current-producer_byte_rate")?.textContent).toBe("5 MiB/s");
    setValue(produce, "50");
    await until(() => container.querySelector("[data-testid=policy-preview][data-outcome=needs_approval]"), "the preview");
    expect(byTestId("preview-summary")?.textContent).toContain("Produce: 5 MiB/s → 50 MiB/s");
    expect(byTestId("preview-next-step")?.textContent).toContain("You can submit now: a platform admin decides");
    const dryRun = fake.calls.find((c) => c.query.get("dry_run") === "true");
    expect(dryRun?.body).toEqual({ kind: "quota.set", cluster: "payments-dev",
      spec: { principal: "User:payments.writer", producer_byte_rate: 50 * MIB } });
    (byTestId("submit-quota") as HTMLElement).click();
    await until(() => window.location.hash === "#/requests/req-quota", "the request page");
  });

  it("deletes a service account after listing what goes and the typed name", async () => {
    await go("/service-accounts?cluster=payments-dev");
    (await until(() => byTestId("delete-payments.writer"), "the delete button")).click();
    await until(() => byTestId("delete-account"), "the delete panel");
    expect(allByTestId("delete-grant").map((li) => li.textContent)).toEqual([
      "produce access to payments.invoices.v1", "consume access to payments.refunds.v1 as group payments.writer"]);
    expect(byTestId("delete-quota")?.textContent).toContain("produce 5 MiB/s");
    const confirm = byTestId("confirm-delete") as HTMLButtonElement;
    expect(confirm.disabled).toBe(true);
    setValue(byTestId("delete-confirm-name") as HTMLElement, "payments.write");
    expect(confirm.disabled).toBe(true);
    setValue(byTestId("delete-confirm-name") as HTMLElement, "payments.writer");
    await until(() => !(byTestId("confirm-delete") as HTMLButtonElement).disabled, "the enabled button");
    (byTestId("confirm-delete") as HTMLElement).click();
    const done = await until(() => byTestId("sa-deleted"), "the deleted banner");
    expect(done.textContent).toContain("2 access grants");
    await until(() => byTestId("sa-empty"), "the empty list");
  });

  it("offers no token page, rotate or delete to a member", async () => {
    fake.roles = ["payments:member"];
    fake.accounts = [{ principal: "User:payments.reader", team: "payments", created_at: "2026-01-01T00:00:00Z", grants: [],
      quota: null }];
    await mount();
    expect(byTestId("nav-tokens")).toBeNull();
    await go("/service-accounts?cluster=payments-dev");
    await until(() => byTestId("sa-row"), "the account row");
    expect(byTestId("rotate-payments.reader")).toBeNull();
    expect(byTestId("delete-payments.reader")).toBeNull();
    expect(byTestId("set-quota-payments.reader")).not.toBeNull();
    await go("/tokens");
    await until(() => byTestId("tokens-not-owner"), "the owners-only note");
  });
});
