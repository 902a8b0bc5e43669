import { describe, expect, it } from "vitest";
import {
  bytesPerSecondToThroughput,
  describeRetention,
  formatBytes,
  formatConfigValue,
  formatDuration,
  formatRate,
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
    expect(describeRetention("604800000")).toBe("7 days");
    expect(describeRetention("600000")).toBe("10 minutes");
    expect(describeRetention(172_800_000)).toBe("2 days");
    expect(describeRetention(3_600_000)).toBe("1 hour");
    expect(describeRetention("-1")).toBe("unlimited");
    expect(describeRetention("soon")).toBe("soon");
  });
});

describe("throughput", () => {
  it("turns KiB/s and MiB/s into bytes per second (1 KiB = 1024 bytes)", () => {
    expect(throughputToBytesPerSecond(1, "KiB/s")).toBe(1024);
    expect(throughputToBytesPerSecond(2, "MiB/s")).toBe(2_097_152);
    expect(throughputToBytesPerSecond(0.5, "MiB/s")).toBe(524_288);
    expect(throughputToBytesPerSecond(0, "KiB/s")).toBe(0);
    expect(() => throughputToBytesPerSecond(-1, "KiB/s")).toThrow(RangeError);
  });

  it("reads bytes per second back", () => {
    expect(bytesPerSecondToThroughput(2_097_152)).toEqual({ amount: 2, unit: "MiB/s" });
    expect(bytesPerSecondToThroughput(512_000)).toEqual({ amount: 500, unit: "KiB/s" });
    expect(bytesPerSecondToThroughput(1536)).toEqual({ amount: 1.5, unit: "KiB/s" });
  });
});

describe("formatting and parsing", () => {
  it("formats bytes", () => {
    expect(formatBytes(0)).toBe("0 bytes");
    expect(formatBytes(1)).toBe("1 byte");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(16 * 1024 ** 2)).toBe("16 MiB");
    expect(formatBytes(10 * 1024 ** 3)).toBe("10 GiB");
    expect(formatBytes(500 * 1024 ** 4)).toBe("500 TiB");
    // One rounding rule: a value is never 370.8 in one place and 371 in another.
    expect(formatBytes(370.8 * 1024 ** 4)).toBe("371 TiB");
    expect(formatBytes(37.08 * 1024 ** 4)).toBe("37.1 TiB");
  });

  it("formats rates with /s in IEC units", () => {
    expect(formatRate(50 * 1024 ** 2)).toBe("50 MiB/s");
    expect(formatRate(5 * 1024 ** 2)).toBe("5 MiB/s");
    expect(formatRate(512)).toBe("512 bytes/s");
  });

  it("writes durations in words", () => {
    expect(formatDuration(600_000)).toBe("10 minutes");
    expect(formatDuration(604_800_000)).toBe("7 days");
    expect(formatDuration(3_600_000)).toBe("1 hour");
    expect(formatDuration(5_400_000)).toBe("1 hour 30 minutes");
    expect(formatDuration(90_061_000)).toBe("about 1 day 1 hour");
    expect(formatDuration(1500)).toBe("1 second 500 milliseconds");
    expect(formatDuration(0)).toBe("0 seconds");
    expect(formatDuration(31_536_000_000)).toBe("365 days");
  });

  it("turns config values into words by their key's unit", () => {
    expect(formatConfigValue("retention.ms", "600000")).toBe("10 minutes");
    expect(formatConfigValue("retention.ms", "-1")).toBe("unlimited");
    expect(formatConfigValue("max.message.bytes", "16777216")).toBe("16 MiB");
    expect(formatConfigValue("retention.bytes", "-1")).toBe("unlimited");
    expect(formatConfigValue("segment.bytes", "1073741824")).toBe("1 GiB");
    expect(formatConfigValue("cleanup.policy", "delete")).toBe("delete");
    expect(formatConfigValue("min.insync.replicas", "2")).toBe("2");
    expect(formatConfigValue("retention.ms", "soon")).toBe("soon");
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
