import { afterEach, describe, expect, it, vi } from "vitest";
import { api, ApiError, expand, loginUrl, setCsrfToken, setUnauthenticatedHandler } from "./client";

type Call = { url: string; init: RequestInit };

function mockFetch(status: number, body: unknown, contentType = "application/json") {
  const calls: Call[] = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return new Response(status === 204 ? null : text, { status, headers: { "Content-Type": contentType } });
  });
  return calls;
}

afterEach(() => {
  vi.unstubAllGlobals();
  setUnauthenticatedHandler(null);
});

describe("expand", () => {
  it("fills and encodes path parameters and drops empty query values", () => {
    expect(expand("/api/v1/clusters/{cluster}/service-accounts/{principal}/rotate",
      { cluster: "payments-dev", principal: "User:payments.writer" }))
      .toBe("/api/v1/clusters/payments-dev/service-accounts/User%3Apayments.writer/rotate");
    expect(expand("/api/v1/topics", {}, { q: "", team: "payments", cursor: null, mine: false, limit: 50 }))
      .toBe("/api/v1/topics?team=payments&limit=50");
    expect(() => expand("/api/v1/requests/{id}")).toThrow(/missing path parameter id/);
  });

  it("builds the login address with where to come back", () => {
    expect(loginUrl("/#/requests/abc")).toBe("/auth/login?next=%2F%23%2Frequests%2Fabc");
  });
});

describe("calls", () => {
  it("sends the CSRF token and an idempotency key on writes, not on reads", async () => {
    setCsrfToken("csrf-123");
    const calls = mockFetch(201, { id: "r1" });
    await api.submit({ kind: "topic.delete", cluster: "c", spec: { name: "x" } }, "key-1");
    await api.request("r1");
    const [write, read] = calls;
    expect(write?.url).toBe("/api/v1/requests");
    expect(write?.init.method).toBe("POST");
    expect((write?.init.headers as Record<string, string>)["X-CSRF-Token"]).toBe("csrf-123");
    expect((write?.init.headers as Record<string, string>)["Idempotency-Key"]).toBe("key-1");
    expect((write?.init.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
    expect(JSON.parse(String(write?.init.body))).toEqual({ kind: "topic.delete", cluster: "c", spec: { name: "x" } });
    expect(write?.init.credentials).toBe("same-origin");
    expect(read?.init.method).toBe("GET");
    expect((read?.init.headers as Record<string, string>)["X-CSRF-Token"]).toBeUndefined();
  });

  it("asks for a dry run with ?dry_run=true", async () => {
    const calls = mockFetch(200, { decision: { outcome: "auto_approved", rules: [], approvers: [] } });
    const result = await api.dryRun({ kind: "topic.delete", cluster: "c", spec: { name: "x" } });
    expect(calls[0]?.url).toBe("/api/v1/requests?dry_run=true");
    expect(result.decision.outcome).toBe("auto_approved");
  });

  it("turns problem+json into ApiError with its field errors", async () => {
    mockFetch(422, { type: "about:blank", title: "Unprocessable", status: 422, detail: "bad",
      errors: [{ path: "/spec/partitions", message: "too few" }] }, "application/problem+json");
    const error = await api.submit({ kind: "topic.delete", cluster: "c", spec: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(422);
    expect((error as ApiError).problem.errors).toEqual([{ path: "/spec/partitions", message: "too few" }]);
  });

  it("makes a problem out of an error page that is not JSON", async () => {
    mockFetch(502, "<html>Bad Gateway</html>", "text/html");
    const error = (await api.clusters().catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(502);
    expect(error.problem.detail).toMatch(/try again/);
  });

  it("tells the app when the session has ended", async () => {
    const ended = vi.fn();
    setUnauthenticatedHandler(ended);
    mockFetch(401, { type: "about:blank", title: "Unauthorized", status: 401 });
    await api.clusters().catch(() => undefined);
    expect(ended).toHaveBeenCalledOnce();
    ended.mockClear();
    await api.session().catch(() => undefined);
    expect(ended).not.toHaveBeenCalled();
  });

  it("reports a network failure as a problem", async () => {
    vi.stubGlobal("fetch", async () => {
      throw new TypeError("Failed to fetch");
    });
    const error = (await api.clusters().catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(0);
    expect(error.problem.title).toBe("Network error");
  });

  it("sends approve and reject bodies", async () => {
    const calls = mockFetch(200, { id: "r1" });
    await api.approve("r1", "fine");
    await api.approve("r1");
    await api.reject("r1", "use v2");
    expect(calls.map((c) => [c.url, c.init.body])).toEqual([
      ["/api/v1/requests/r1/approve", JSON.stringify({ comment: "fine" })],
      ["/api/v1/requests/r1/approve", JSON.stringify({})],
      ["/api/v1/requests/r1/reject", JSON.stringify({ reason: "use v2" })],
    ]);
  });
});
