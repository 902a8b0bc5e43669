import { describe, expect, it } from "vitest";
import {
  bytesPerSecondToThroughput,
  describeRetention,
  formatBytes,
  msToRetention,
  parseAmount,
  retentionToMs,
  throughputToBytesPerSecond,
} from "./units";

describe("retention", () => {
  it("turns human units into retention.ms", () => {
    expect(retentionToMs(1, "hours")).toBe(3_600_000);
    expect(retentionToMs(7, "days")).toBe(604_800_000);
    expect(retentionToMs(2, "weeks")).toBe(1_209_600_000);
    expect(retentionToMs(1.5, "days")).toBe(129_600_000);
  });

  it("rejects negative and non-numbers", () => {
    expect(() => retentionToMs(-1, "days")).toThrow(RangeError);
    expect(() => retentionToMs(Number.NaN, "days")).toThrow(RangeError);
  });

  it("reads retention.ms back in the largest exact unit", () => {
    expect(msToRetention(604_800_000)).toEqual({ amount: 1, unit: "weeks" });
    expect(msToRetention("259200000")).toEqual({ amount: 3, unit: "days" });
    expect(msToRetention(36 * 3_600_000)).toEqual({ amount: 36, unit: "hours" });
    expect(msToRetention(5_400_000)).toEqual({ amount: 1.5, unit: "hours" });
    expect(msToRetention(-1)).toEqual({ amount: null, unit: "days" });
  });

  it("round-trips every unit", () => {
    for (const unit of ["hours", "days", "weeks"] as const) {
      for (const amount of [1, 2, 5, 13]) {
        const back = msToRetention(retentionToMs(amount, unit));
        expect(retentionToMs(back.amount ?? 0, back.unit)).toBe(retentionToMs(amount, unit));
      }
    }
  });

  it("describes retention in words", () => {
    expect(describeRetention("604800000")).toBe("1 week");
    expect(describeRetention(172_800_000)).toBe("2 days");
    expect(describeRetention(3_600_000)).toBe("1 hour");
    expect(describeRetention("-1")).toBe("unlimited");
    expect(describeRetention("soon")).toBe("soon");
  });
});

describe("throughput", () => {
  it("turns KB/s and MB/s into bytes per second (1 KB = 1024 bytes)", () => {
    expect(throughputToBytesPerSecond(1, "KB/s")).toBe(1024);
    expect(throughputToBytesPerSecond(2, "MB/s")).toBe(2_097_152);
    expect(throughputToBytesPerSecond(0.5, "MB/s")).toBe(524_288);
    expect(throughputToBytesPerSecond(0, "KB/s")).toBe(0);
    expect(() => throughputToBytesPerSecond(-1, "KB/s")).toThrow(RangeError);
  });

  it("reads bytes per second back", () => {
    expect(bytesPerSecondToThroughput(2_097_152)).toEqual({ amount: 2, unit: "MB/s" });
    expect(bytesPerSecondToThroughput(512_000)).toEqual({ amount: 500, unit: "KB/s" });
    expect(bytesPerSecondToThroughput(1536)).toEqual({ amount: 1.5, unit: "KB/s" });
  });
});

describe("formatting and parsing", () => {
  it("formats bytes", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.5 KB");
    expect(formatBytes(10 * 1024 ** 3)).toBe("10 GB");
    expect(formatBytes(500 * 1024 ** 4)).toBe("500 TB");
  });

  it("parses typed amounts", () => {
    expect(parseAmount("")).toBeNull();
    expect(parseAmount("  ")).toBeNull();
    expect(parseAmount("7")).toBe(7);
    expect(parseAmount("1,5")).toBe(1.5);
    expect(parseAmount(".5")).toBe(0.5);
    expect(parseAmount("abc")).toBeNaN();
    expect(parseAmount("-3")).toBeNaN();
    expect(parseAmount("1e3")).toBeNaN();
  });
});
