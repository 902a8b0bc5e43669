import { describe, expect, it } from "vitest";
import {
  auditFiltersToApi,
  auditFiltersToQuery,
  downloadName,
  isAuditFiltered,
  NO_AUDIT_FILTERS,
  parseAuditFilters,
  requestIdIn,
  subjectLink,
} from "./auditFilters";

describe("audit filters", () => {
  it("hides logins unless asked, and reads a date as midnight UTC", () => {
    expect(auditFiltersToApi(NO_AUDIT_FILTERS)).toEqual({ hide_logins: true });
    expect(auditFiltersToApi({ ...NO_AUDIT_FILTERS, showLogins: true, since: "2026-12-01" }))
      .toEqual({ since: "2026-12-01T00:00:00Z" });
  });

  it("sends the request id rather than a subject when both are set", () => {
    expect(auditFiltersToApi({ ...NO_AUDIT_FILTERS, subject: "bob", request: "r1", action: "request" }))
      .toEqual({ request: "r1", action: "request", hide_logins: true });
  });

  it("round-trips through the address and drops bad values", () => {
    const filters = { subject: "token:payments/ci", action: "request:approve", request: "", since: "2026-12-01",
      showLogins: true };
    expect(parseAuditFilters(new URLSearchParams(auditFiltersToQuery(filters)))).toEqual(filters);
    expect(parseAuditFilters(new URLSearchParams("action=DROP TABLE&since=yesterday"))).toEqual(NO_AUDIT_FILTERS);
    expect(isAuditFiltered(NO_AUDIT_FILTERS)).toBe(false);
    expect(isAuditFiltered({ ...NO_AUDIT_FILTERS, showLogins: true })).toBe(false);
    expect(isAuditFiltered(filters)).toBe(true);
  });

  it("links requests and topics", () => {
    expect(subjectLink("request:abc")).toBe("/requests/abc");
    expect(subjectLink("topic:payments-dev/payments.invoices.v1")).toBe("/clusters/payments-dev/topics/payments.invoices.v1");
    expect(subjectLink("user:alice")).toBeNull();
    expect(subjectLink("topic:broken")).toBeNull();
    expect(requestIdIn({ request_id: "r9" })).toBe("r9");
    expect(requestIdIn({})).toBeNull();
  });

  it("names a download after its filters", () => {
    expect(downloadName(NO_AUDIT_FILTERS)).toBe("audit.json");
    expect(downloadName({ ...NO_AUDIT_FILTERS, action: "request:approve", since: "2026-12-01T10:00:00Z" }))
      .toBe("audit-request-approve-since-2026-12-01.json");
  });
});
