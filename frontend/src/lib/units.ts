/**
 * Conversions between what people type (7 days, 2 MB/s) and what Kafka and the API take
 * (retention.ms as a string of milliseconds, bytes_per_second as an integer).
 */

export const RETENTION_UNITS = ["hours", "days", "weeks"] as const;
export type RetentionUnit = (typeof RETENTION_UNITS)[number];

export const MS_PER: Record<RetentionUnit, number> = {
  hours: 3_600_000,
  days: 86_400_000,
  weeks: 604_800_000,
};

/** Kafka's "keep forever". */
export const UNLIMITED_RETENTION_MS = -1;

export interface HumanRetention {
  /** null means unlimited (retention.ms = -1). */
  amount: number | null;
  unit: RetentionUnit;
}

/** `{amount: 7, unit: "days"}` -> 604800000. Fractions are rounded to whole milliseconds. */
export function retentionToMs(amount: number, unit: RetentionUnit): number {
  if (!Number.isFinite(amount) || amount < 0) {
    throw new RangeError(`retention must be a positive number, got ${amount}`);
  }
  return Math.round(amount * MS_PER[unit]);
}

/**
 * 604800000 -> {amount: 1, unit: "weeks"}: the largest unit that divides the value exactly,
 * else hours with a fraction (Kafka accepts any millisecond count; we show what we can).
 */
export function msToRetention(ms: number | string): HumanRetention {
  const value = typeof ms === "string" ? Number(ms) : ms;
  if (!Number.isFinite(value)) throw new RangeError(`not a number of milliseconds: ${ms}`);
  if (value < 0) return { amount: null, unit: "days" };
  for (const unit of ["weeks", "days", "hours"] as const) {
    if (value > 0 && value % MS_PER[unit] === 0) return { amount: value / MS_PER[unit], unit };
  }
  return { amount: roundTo(value / MS_PER.hours, 3), unit: "hours" };
}

/** "7 days", "1 week", "36 hours", "unlimited". */
export function describeRetention(ms: number | string): string {
  if (!Number.isFinite(Number(ms)) || (typeof ms === "string" && ms.trim() === "")) return String(ms);
  const { amount, unit } = msToRetention(ms);
  if (amount === null) return "unlimited";
  return `${formatNumber(amount)} ${amount === 1 ? unit.slice(0, -1) : unit}`;
}

export const THROUGHPUT_UNITS = ["KB/s", "MB/s"] as const;
export type ThroughputUnit = (typeof THROUGHPUT_UNITS)[number];

/** Binary multiples, as Kafka's quotas and tools count bytes: 1 KB = 1024 bytes. */
export const BYTES_PER: Record<ThroughputUnit, number> = {
  "KB/s": 1024,
  "MB/s": 1024 * 1024,
};

export function throughputToBytesPerSecond(amount: number, unit: ThroughputUnit): number {
  if (!Number.isFinite(amount) || amount < 0) {
    throw new RangeError(`throughput must be zero or more, got ${amount}`);
  }
  return Math.round(amount * BYTES_PER[unit]);
}

/** 2097152 -> {amount: 2, unit: "MB/s"}; below 1 MB/s it stays in KB/s. */
export function bytesPerSecondToThroughput(bytes: number): { amount: number; unit: ThroughputUnit } {
  if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`not a byte rate: ${bytes}`);
  if (bytes >= BYTES_PER["MB/s"]) return { amount: roundTo(bytes / BYTES_PER["MB/s"], 3), unit: "MB/s" };
  return { amount: roundTo(bytes / BYTES_PER["KB/s"], 3), unit: "KB/s" };
}

const BYTE_UNITS = ["B", "KB", "MB", "GB", "TB", "PB"] as const;

/** 1536 -> "1.5 KB" (binary multiples, like the throughput field). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "–";
  let value = Math.abs(bytes);
  let index = 0;
  while (value >= 1024 && index < BYTE_UNITS.length - 1) {
    value /= 1024;
    index += 1;
  }
  const sign = bytes < 0 ? "-" : "";
  return `${sign}${formatNumber(roundTo(value, value >= 100 ? 0 : 1))} ${BYTE_UNITS[index]}`;
}

export function formatNumber(value: number): string {
  return new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 }).format(value);
}

function roundTo(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/**
 * Parses what a person typed in a number field: "" -> null, "1,5" -> 1.5, "abc" -> NaN.
 */
export function parseAmount(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === "") return null;
  const normalized = trimmed.replace(",", ".");
  if (!/^[+]?(\d+(\.\d*)?|\.\d+)$/.test(normalized)) return Number.NaN;
  return Number(normalized);
}
