import { describe, expect, it } from "vitest";
import { usage, percent } from "./capacity";
import { href, matchRoute, parseHash, routes } from "./route";

describe("hash routes", () => {
  it("parses the hash", () => {
    expect(parseHash("").path).toBe("/");
    expect(parseHash("#/").path).toBe("/");
    const location = parseHash("#/topics?q=inv&team=payments");
    expect(location.path).toBe("/topics");
    expect(location.query.get("q")).toBe("inv");
    expect(location.query.get("team")).toBe("payments");
  });

  it("matches patterns and decodes parameters", () => {
    expect(matchRoute("/requests/:id", "/requests/abc")).toEqual({ id: "abc" });
    expect(matchRoute("/requests/:id", "/requests")).toBeNull();
    expect(matchRoute("/clusters/:cluster/topics/:name", routes.topic("payments-dev", "payments.invoices.v1")))
      .toEqual({ cluster: "payments-dev", name: "payments.invoices.v1" });
    expect(matchRoute("/", "/")).toEqual({});
    expect(matchRoute("/x/:id", "/x/%E0%A4%A")).toBeNull();
  });

  it("builds links with encoded segments and only the query that is set", () => {
    expect(href(["clusters", "a b", "topics", "x/y"])).toBe("/clusters/a%20b/topics/x%2Fy");
    expect(routes.topics({ q: "", team: "payments" })).toBe("/topics?team=payments");
    expect(routes.newTopic()).toBe("/topics/new");
    expect(routes.serviceAccounts("payments-dev")).toBe("/service-accounts?cluster=payments-dev");
  });
});

describe("capacity", () => {
  it("computes usage and its tone", () => {
    expect(usage(50, 100)).toMatchObject({ ratio: 0.5, tone: "success" });
    expect(usage(75, 100)?.tone).toBe("warning");
    expect(usage(95, 100)?.tone).toBe("danger");
    expect(usage(150, 100)?.ratio).toBe(1.5);
  });

  it("has nothing to draw without both numbers", () => {
    expect(usage(undefined, 100)).toBeNull();
    expect(usage(10, null)).toBeNull();
    expect(usage(10, 0)).toBeNull();
  });

  it("formats percentages", () => {
    expect(percent(0.5)).toBe("50 %");
    expect(percent(0.042)).toBe("4.2 %");
    expect(percent(0)).toBe("0 %");
  });
});
