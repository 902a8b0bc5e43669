/**
 * The arithmetic of the portal's hand-drawn SVG charts (components/LagChart.tsx): a "nice" top of
 * the value axis, its ticks, points to SVG coordinates, and the labels in the portal's words. Pure,
 * so the scaling is tested without a browser; the component only draws what these return. No
 * chart library: the strict CSP (script-src/style-src 'self') and no new dependency.
 */

import { formatNumber } from "./units";

/** The smallest 1, 2 or 5 × 10^n at or above `value` (at least 1), so ticks fall on round numbers. */
export function niceCeiling(value: number): number {
  if (!Number.isFinite(value) || value <= 1) return 1;
  const exponent = Math.floor(Math.log10(value));
  const base = 10 ** exponent;
  for (const step of [1, 2, 5, 10]) {
    if (step * base >= value) return step * base;
  }
  return 10 * base;
}

/** `count` + 1 evenly spaced ticks from 0 to `top`, whole numbers when `top` allows. */
export function ticks(top: number, count = 4): number[] {
  const out: number[] = [];
  for (let index = 0; index <= count; index += 1) {
    const value = (top * index) / count;
    out.push(top >= count ? Math.round(value) : Math.round(value * 100) / 100);
  }
  return out;
}

/** Records in short words: 950 -> "950", 12_300 -> "12.3k", 4_500_000 -> "4.5M". */
export function formatCount(value: number): string {
  if (!Number.isFinite(value)) return "–";
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${formatNumber(Math.round(value / 1e8) / 10)}G`;
  if (abs >= 1e6) return `${formatNumber(Math.round(value / 1e5) / 10)}M`;
  if (abs >= 1e4) return `${formatNumber(Math.round(value / 100) / 10)}k`;
  return formatNumber(Math.round(value));
}

/** A time on the chart's axis: "14:05:09" (UTC, as the server measures). */
export function formatClock(at: string): string {
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return at;
  return date.toISOString().slice(11, 19);
}

export interface Box {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export interface Point {
  x: number;
  y: number;
}

export interface SeriesLayout {
  top: number;
  ticks: number[];
  /** One point per sample, in SVG coordinates. */
  points: Point[];
  /** y of a value on the axis. */
  y: (value: number) => number;
  /** Times for the first and last samples (null when there are none). */
  span: [string, string] | null;
}

/**
 * Lays samples out in `box`: x by time (evenly by index when times are equal or unreadable), y from
 * 0 at the bottom to a nice ceiling of the largest value in `values` at the top.
 */
export function layoutSeries(samples: ReadonlyArray<{ at: string }>, values: number[], box: Box,
  ceilingOf: number[] = values): SeriesLayout {
  const top = niceCeiling(Math.max(0, ...ceilingOf.filter(Number.isFinite)));
  const plotWidth = box.width - box.left - box.right;
  const plotHeight = box.height - box.top - box.bottom;
  const y = (value: number) => box.top + plotHeight - (Math.max(0, Math.min(value, top)) / top) * plotHeight;
  const times = samples.map((s) => new Date(s.at).getTime());
  const first = times[0] ?? 0;
  const last = times[times.length - 1] ?? 0;
  const byTime = times.every(Number.isFinite) && last > first;
  const x = (index: number) => {
    if (samples.length <= 1) return box.left + plotWidth;
    const fraction = byTime ? ((times[index] ?? first) - first) / (last - first) : index / (samples.length - 1);
    return box.left + fraction * plotWidth;
  };
  const points = values.map((value, index) => ({ x: round(x(index)), y: round(y(value)) }));
  const span: [string, string] | null = samples.length
    ? [samples[0]?.at ?? "", samples[samples.length - 1]?.at ?? ""] : null;
  return { top, ticks: ticks(top), points, y: (value) => round(y(value)), span };
}

/** "x1,y1 x2,y2 …" for an SVG polyline. */
export function polylinePoints(points: Point[]): string {
  return points.map((p) => `${p.x},${p.y}`).join(" ");
}

/** A bar's length in a track of `width` for `value` against `max` (a visible sliver for any lag above 0). */
export function barLength(value: number, max: number, width: number): number {
  if (!Number.isFinite(value) || value <= 0 || max <= 0) return 0;
  return round(Math.max(2, (Math.min(value, max) / max) * width));
}

/** Whether lag is falling over the last samples: the newest total is below the oldest of them. */
export function trend(history: ReadonlyArray<{ total: number }>, window = 10): "falling" | "rising" | "steady" | "none" {
  if (history.length < 2) return "none";
  const recent = history.slice(-window);
  const first = recent[0]?.total ?? 0;
  const last = recent[recent.length - 1]?.total ?? 0;
  if (last < first) return "falling";
  if (last > first) return "rising";
  return "steady";
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
