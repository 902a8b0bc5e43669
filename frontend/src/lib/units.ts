/**
 * Conversions between what people type (7 days, 2 MiB/s) and what Kafka and the API take
 * (retention.ms as a string of milliseconds, bytes_per_second as an integer), and the one way the
 * portal writes sizes, rates and durations: IEC binary units (KiB, MiB, GiB, TiB; rates with "/s"),
 * because Kafka's quotas, configs and budgets count in powers of 1024, and durations in words.
 * Every page and component formats through these functions, so one screen never shows 50 MiB/s
 * beside 50 MB/s.
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

/** "7 days", "36 hours", "10 minutes", "unlimited" (retention.ms = -1). */
export function describeRetention(ms: number | string): string {
  if (!Number.isFinite(Number(ms)) || (typeof ms === "string" && ms.trim() === "")) return String(ms);
  return Number(ms) < 0 ? "unlimited" : formatDuration(Number(ms));
}

const DURATION_UNITS: ReadonlyArray<[string, number]> = [
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
  ["second", 1000],
  ["millisecond", 1],
];

function plural(amount: number, unit: string): string {
  return `${formatNumber(amount)} ${amount === 1 ? unit : `${unit}s`}`;
}

/**
 * 600000 -> "10 minutes", 604800000 -> "7 days", 5400000 -> "1 hour 30 minutes",
 * 90061000 -> "about 1 day 1 hour": the largest unit, and the next one when it adds something.
 * Days, not weeks: retention policies and Kafka's docs count in days.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return String(ms);
  if (ms === 0) return "0 seconds";
  const index = DURATION_UNITS.findIndex(([, size]) => ms >= size);
  const [unit, size] = DURATION_UNITS[index] as [string, number];
  const whole = Math.floor(ms / size);
  const rest = ms - whole * size;
  if (rest === 0) return plural(whole, unit);
  const next = DURATION_UNITS[index + 1];
  if (!next) return plural(whole, unit);
  const [nextUnit, nextSize] = next;
  const part = Math.floor(rest / nextSize);
  const exact = rest === part * nextSize;
  const text = part ? `${plural(whole, unit)} ${plural(part, nextUnit)}` : plural(whole, unit);
  return exact ? text : `about ${text}`;
}

export const THROUGHPUT_UNITS = ["KiB/s", "MiB/s"] as const;
export type ThroughputUnit = (typeof THROUGHPUT_UNITS)[number];

/** Binary multiples, as Kafka's quotas and tools count bytes: 1 KiB = 1024 bytes. */
export const BYTES_PER: Record<ThroughputUnit, number> = {
  "KiB/s": 1024,
  "MiB/s": 1024 * 1024,
};

export function throughputToBytesPerSecond(amount: number, unit: ThroughputUnit): number {
  if (!Number.isFinite(amount) || amount < 0) {
    throw new RangeError(`throughput must be zero or more, got ${amount}`);
  }
  return Math.round(amount * BYTES_PER[unit]);
}

/** 2097152 -> {amount: 2, unit: "MiB/s"}; below 1 MiB/s it stays in KiB/s. */
export function bytesPerSecondToThroughput(bytes: number): { amount: number; unit: ThroughputUnit } {
  if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`not a byte rate: ${bytes}`);
  if (bytes >= BYTES_PER["MiB/s"]) return { amount: roundTo(bytes / BYTES_PER["MiB/s"], 3), unit: "MiB/s" };
  return { amount: roundTo(bytes / BYTES_PER["KiB/s"], 3), unit: "KiB/s" };
}

const BYTE_UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"] as const;

/** 1536 -> "1.5 KiB", 16777216 -> "16 MiB": one decimal below 100, none above, so 370.8 TiB and 371 TiB never meet. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return "–";
  let value = Math.abs(bytes);
  let index = 0;
  while (value >= 1024 && index < BYTE_UNITS.length - 1) {
    value /= 1024;
    index += 1;
  }
  const sign = bytes < 0 ? "-" : "";
  const amount = roundTo(value, value >= 100 ? 0 : 1);
  return `${sign}${formatNumber(amount)} ${index === 0 && amount === 1 ? "byte" : BYTE_UNITS[index]}`;
}

/** 52428800 -> "50 MiB/s". */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/**
 * A topic config value in words where Kafka's unit is known from the key: `*.ms` as a duration,
 * `*.bytes` (max.message.bytes, retention.bytes, segment.bytes) as a size, -1 as "unlimited".
 * Anything else, or a value that is not an integer, is shown as it is.
 */
export function formatConfigValue(key: string, value: string): string {
  if (!/^-?\d+$/.test(value.trim())) return value;
  const number = Number(value);
  if (key.endsWith(".ms")) return number < 0 ? "unlimited" : formatDuration(number);
  if (key.endsWith(".bytes")) return number < 0 ? "unlimited" : formatBytes(number);
  return value;
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
