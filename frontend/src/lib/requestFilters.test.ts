import { describe, expect, it } from "vitest";
import {
  describeFilters,
  filtersToApi,
  filtersToQuery,
  isFiltered,
  NO_FILTERS,
  parseFilters,
  teamChoices,
} from "./requestFilters";

describe("request filters", () => {
  it("reads the address and drops what the API would refuse", () => {
    const filters = parseFilters(new URLSearchParams(
      "status=failed&kind=quota.set&cluster=payments-dev&team=payments&scope=mine"));
    expect(filters).toEqual({ status: "failed", kind: "quota.set", cluster: "payments-dev", team: "payments", scope: "mine" });
    expect(parseFilters(new URLSearchParams("status=done&kind=topic.rename&team=a%20b&scope=everyone"))).toEqual(NO_FILTERS);
  });

  it("round-trips through the address", () => {
    const filters = { ...NO_FILTERS, kind: "topic.create" as const, scope: "awaiting_me" as const };
    expect(parseFilters(new URLSearchParams(filtersToQuery(filters)))).toEqual(filters);
    expect(filtersToQuery(NO_FILTERS)).toEqual({});
    expect(isFiltered(NO_FILTERS)).toBe(false);
    expect(isFiltered(filters)).toBe(true);
  });

  it("turns scopes into mine / awaiting_me for the API", () => {
    expect(filtersToApi(NO_FILTERS)).toEqual({});
    expect(filtersToApi({ ...NO_FILTERS, scope: "mine", team: "payments" })).toEqual({ mine: true, team: "payments" });
    expect(filtersToApi({ ...NO_FILTERS, scope: "awaiting_me", status: "pending_approval" }))
      .toEqual({ awaiting_me: true, status: "pending_approval" });
  });

  it("describes a filter set in words", () => {
    expect(describeFilters({ status: "pending_approval", kind: "quota.set", cluster: "payments-dev", team: "payments",
      scope: "mine" })).toBe("pending approval · quota.set · on payments-dev · team payments · asked by me");
    expect(describeFilters(NO_FILTERS)).toBe("");
  });

  it("offers the caller's teams first, then other owners", () => {
    expect(teamChoices(["payments"], ["ingest", "payments", "analytics"], "")).toEqual(["payments", "analytics", "ingest"]);
    expect(teamChoices([], ["ingest"], "legacy")).toEqual(["ingest", "legacy"]);
  });
});
