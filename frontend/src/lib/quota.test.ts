import { describe, expect, it } from "vitest";
import { describeChange, formatQuotaValue, formatRate, formFromQuota, MIB, parseQuotaValue, planQuota } from "./quota";

const applied = (over: Record<string, number | null> = {}) => ({
  producer_byte_rate: 5 * MIB, consumer_byte_rate: null, request_percentage: null, status: "applied", ...over,
});

describe("quota units", () => {
  it("formats byte rates in IEC units per second", () => {
    expect(formatRate(50 * MIB)).toBe("50 MiB/s");
    expect(formatRate(1536)).toBe("1.5 KiB/s");
    expect(formatRate(2 * 1024 * MIB)).toBe("2 GiB/s");
    expect(formatRate(500)).toBe("500 B/s");
    expect(formatRate(null)).toBe("no quota");
    expect(formatQuotaValue("request_percentage", 25)).toBe("25%");
  });

  it("reads what was typed: MiB/s for rates, percent for request time, empty for none", () => {
    expect(parseQuotaValue("producer_byte_rate", "12,5")).toEqual({ value: 12.5 * MIB });
    expect(parseQuotaValue("consumer_byte_rate", " ")).toEqual({ value: null });
    expect(parseQuotaValue("request_percentage", "50")).toEqual({ value: 50 });
    expect(parseQuotaValue("producer_byte_rate", "fast")).toHaveProperty("error");
    expect(parseQuotaValue("producer_byte_rate", "0")).toHaveProperty("error");
    expect(parseQuotaValue("request_percentage", "0")).toHaveProperty("error");
  });

  it("fills the form from the current quota", () => {
    expect(formFromQuota(applied())).toEqual({ producer_byte_rate: "5", consumer_byte_rate: "", request_percentage: "" });
    expect(formFromQuota(null)).toEqual({ producer_byte_rate: "", consumer_byte_rate: "", request_percentage: "" });
  });
});

describe("planQuota", () => {
  it("sends only what changed, shown current -> new, and marks what is above the default", () => {
    const plan = planQuota("User:payments.writer", applied(),
      { producer_byte_rate: "50", consumer_byte_rate: "", request_percentage: "" });
    expect(plan.spec).toEqual({ principal: "User:payments.writer", producer_byte_rate: 50 * MIB });
    expect(plan.changes.map(describeChange)).toEqual(["Produce: 5 MiB/s → 50 MiB/s"]);
    expect(plan.changes[0]?.aboveDefault).toBe(true);
  });

  it("removes a quota with null and asks nothing when nothing changed", () => {
    const removed = planQuota("User:p.w", applied(), { producer_byte_rate: "", consumer_byte_rate: "", request_percentage: "" });
    expect(removed.spec).toEqual({ principal: "User:p.w", producer_byte_rate: null });
    expect(removed.changes.map(describeChange)).toEqual(["Produce: 5 MiB/s → no quota"]);
    const same = planQuota("User:p.w", applied(), formFromQuota(applied()));
    expect(same.spec).toBeNull();
    expect(same.changes).toEqual([]);
  });

  it("keeps bad input out of the spec and says which field", () => {
    const plan = planQuota("User:p.w", null, { producer_byte_rate: "lots", consumer_byte_rate: "10", request_percentage: "" });
    expect(plan.spec).toBeNull();
    expect(Object.keys(plan.errors)).toEqual(["producer_byte_rate"]);
  });
});
