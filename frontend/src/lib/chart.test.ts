import { describe, expect, it } from "vitest";
import { barLength, formatClock, formatCount, layoutSeries, niceCeiling, polylinePoints, ticks, trend } from "./chart";

const BOX = { width: 100, height: 60, left: 10, right: 10, top: 10, bottom: 10 };

describe("niceCeiling", () => {
  it("rounds up to 1, 2 or 5 times a power of ten", () => {
    expect([0, 1, 3, 7, 10, 11, 199, 200, 201, 4500, 50_001].map(niceCeiling))
      .toEqual([1, 1, 5, 10, 10, 20, 200, 200, 500, 5000, 100_000]);
  });
  it("never goes below 1 nor breaks on bad input", () => {
    expect(niceCeiling(-5)).toBe(1);
    expect(niceCeiling(Number.NaN)).toBe(1);
  });
});

describe("ticks", () => {
  it("spreads whole numbers from 0 to the top", () => {
    expect(ticks(1000)).toEqual([0, 250, 500, 750, 1000]);
    expect(ticks(1)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });
});

describe("layoutSeries", () => {
  const samples = [{ at: "2026-12-01T10:00:00Z" }, { at: "2026-12-01T10:00:10Z" }, { at: "2026-12-01T10:00:40Z" }];

  it("puts 0 at the bottom, the nice ceiling at the top and x by time", () => {
    const layout = layoutSeries(samples, [400, 100, 0], BOX);
    expect(layout.top).toBe(500);
    expect(layout.points).toEqual([{ x: 10, y: 18 }, { x: 30, y: 42 }, { x: 90, y: 50 }]);
    expect(layout.y(500)).toBe(10);
    expect(layout.span).toEqual(["2026-12-01T10:00:00Z", "2026-12-01T10:00:40Z"]);
  });

  it("scales a second series against the first one's ceiling", () => {
    const layout = layoutSeries(samples, [40, 10, 0], BOX, [400, 100, 0]);
    expect(layout.top).toBe(500);
    expect(layout.points[0]?.y).toBeCloseTo(46.8, 1);
  });

  it("spaces evenly when the times do not differ, and places one sample at the right edge", () => {
    const same = [{ at: "x" }, { at: "x" }, { at: "x" }];
    expect(layoutSeries(same, [1, 1, 1], BOX).points.map((p) => p.x)).toEqual([10, 50, 90]);
    expect(layoutSeries([{ at: "2026-12-01T10:00:00Z" }], [5], BOX).points).toEqual([{ x: 90, y: 10 }]);
    expect(layoutSeries([], [], BOX).span).toBeNull();
  });

  it("all zeros draw on the axis, not off the chart", () => {
    expect(layoutSeries(samples, [0, 0, 0], BOX).points.every((p) => p.y === 50)).toBe(true);
  });
});

describe("formatting", () => {
  it("shortens counts", () => {
    expect([0, 950, 9999, 12_300, 4_500_000, 2_100_000_000].map(formatCount)).toEqual(["0", "950", "9,999", "12.3k", "4.5M", "2.1G"]);
  });
  it("shows UTC clock times", () => {
    expect(formatClock("2026-12-01T14:05:09.123Z")).toBe("14:05:09");
    expect(formatClock("soon")).toBe("soon");
  });
  it("writes polyline points", () => {
    expect(polylinePoints([{ x: 1, y: 2 }, { x: 3.5, y: 4 }])).toBe("1,2 3.5,4");
  });
});

describe("barLength", () => {
  it("is proportional, with a visible sliver for any lag and none for zero", () => {
    expect(barLength(50, 100, 200)).toBe(100);
    expect(barLength(1, 1_000_000, 200)).toBe(2);
    expect(barLength(0, 100, 200)).toBe(0);
    expect(barLength(500, 100, 200)).toBe(200);
  });
});

describe("trend", () => {
  it("says whether lag falls over the recent samples", () => {
    expect(trend([{ total: 10 }, { total: 3 }])).toBe("falling");
    expect(trend([{ total: 1 }, { total: 3 }])).toBe("rising");
    expect(trend([{ total: 0 }, { total: 0 }])).toBe("steady");
    expect(trend([{ total: 5 }])).toBe("none");
  });
});
