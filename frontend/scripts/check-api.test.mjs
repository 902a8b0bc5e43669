import { describe, expect, it } from "vitest";
import { checkOperations, loadOperations, normalizePath } from "./check-api.mjs";

const operations = [
  { method: "get", path: "/auth/session", auth_flow: true },
  { method: "get", path: "/api/v1/requests/{id}" },
  { method: "post", path: "/api/v1/requests", query: ["dry_run"] },
  { method: "get", path: "/api/v1/topics", query: ["q", "team"] },
];

const documentFor = (paths, servers) => ({ openapi: "3.1.0", info: { title: "t", version: "1" }, paths, ...(servers ? { servers } : {}) });

describe("check-api", () => {
  it("normalizes parameter names", () => {
    expect(normalizePath("/api/v1/requests/{request_id}/")).toBe("/api/v1/requests/{}");
  });

  it("passes a document with every operation (absolute paths, other parameter names)", () => {
    const document = documentFor({
      "/api/v1/requests/{request_id}": { get: {} },
      "/api/v1/requests": { post: { parameters: [{ name: "dry_run", in: "query" }] } },
      "/api/v1/topics": { parameters: [{ $ref: "#/components/parameters/q" }], get: { parameters: [{ name: "team", in: "query" }] } },
    });
    document.components = { parameters: { q: { name: "q", in: "query" } } };
    const result = checkOperations(document, operations);
    expect(result.missing).toEqual([]);
    expect(result.checked).toBe(3);
    expect(result.skipped.map((op) => op.path)).toEqual(["/auth/session"]);
  });

  it("reads paths relative to the server URL", () => {
    const document = documentFor({
      "/requests/{id}": { get: {} },
      "/requests": { post: { parameters: [{ name: "dry_run", in: "query" }] } },
      "/topics": { get: { parameters: [{ name: "q", in: "query" }, { name: "team", in: "query" }] } },
    }, [{ url: "/api/v1" }]);
    expect(checkOperations(document, operations).missing).toEqual([]);
  });

  it("reports missing paths, methods and query parameters", () => {
    const document = documentFor({
      "/api/v1/requests": { get: {} },
      "/api/v1/topics": { get: { parameters: [{ name: "q", in: "query" }] } },
      "/auth/session": { get: {} },
    });
    const result = checkOperations(document, operations);
    expect(result.missing).toEqual([
      { operation: "GET /api/v1/requests/{id}", problem: "path not in the document" },
      { operation: "POST /api/v1/requests", problem: "path has no POST operation" },
      { operation: "GET /api/v1/topics", problem: "query parameter(s) not documented: team" },
    ]);
    expect(result.skipped).toEqual([]);
    expect(checkOperations(document, operations, { checkQuery: false }).missing).toHaveLength(2);
  });

  it("refuses what is not an OpenAPI document", () => {
    expect(() => checkOperations({ hello: 1 }, operations)).toThrow(/no `paths`/);
  });

  it("loads the portal's operation list", async () => {
    const list = await loadOperations();
    expect(list.some((op) => op.path === "/api/v1/requests" && op.method === "post")).toBe(true);
  });
});
