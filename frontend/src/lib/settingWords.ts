/**
 * Settings in words: a config value, partition count or quota rate as people read it, and the
 * current -> new of a request's changes. Built on lib/units.ts.
 */
import type { RequestChange } from "../api/types";
import { describeRetention, formatBytes, formatNumber } from "./units";

const BYTE_KEYS = new Set(["max.message.bytes", "retention.bytes", "segment.bytes", "segment.index.bytes"]);
const RATE_FIELDS = new Set(["producer_byte_rate", "consumer_byte_rate", "expected_throughput.bytes_per_second"]);

/** The label of a change's field: config keys stay Kafka's names, the rest in words. */
export function fieldLabel(field: string): string {
  if (field.startsWith("config.")) return field.slice("config.".length);
  return {
    partitions: "partitions",
    replication_factor: "replication factor",
    description: "description",
    "expected_throughput.bytes_per_second": "expected throughput",
    producer_byte_rate: "produce quota",
    consumer_byte_rate: "fetch quota",
    request_percentage: "request time quota",
    topic: "topic",
    access: "access",
  }[field] ?? field;
}

/** A value in words; null/undefined is the broker's default (or "none" for a topic or grant). */
export function settingValue(field: string, value: unknown): string {
  const key = field.startsWith("config.") ? field.slice("config.".length) : field;
  if (value === null || value === undefined) {
    return field === "topic" ? "deleted" : field === "access" ? "none" : "default";
  }
  const text = String(value);
  const number = Number(text);
  const numeric = text.trim() !== "" && Number.isFinite(number);
  if (numeric && key.endsWith(".ms")) return number < 0 ? "unlimited" : `${formatNumber(number)} ms (${describeRetention(number)})`;
  if (numeric && (BYTE_KEYS.has(key))) return number < 0 ? "unlimited" : formatBytes(number);
  if (numeric && RATE_FIELDS.has(key)) return `${formatBytes(number)}/s`;
  if (numeric && key === "request_percentage") return `${formatNumber(number)}%`;
  return text;
}

export interface ChangeWords {
  field: string;
  label: string;
  current: string;
  next: string;
  /** grows, shrinks or neither (text) */
  direction: "up" | "down" | "same" | "other";
}

export function describeChange(change: RequestChange): ChangeWords {
  const a = Number(change.current);
  const b = Number(change.new);
  const numbers = change.current !== null && change.new !== null && Number.isFinite(a) && Number.isFinite(b);
  return {
    field: change.field,
    label: fieldLabel(change.field),
    current: settingValue(change.field, change.current),
    next: settingValue(change.field, change.new),
    direction: numbers ? (b > a ? "up" : b < a ? "down" : "same") : "other",
  };
}

/** Only the config keys whose value differs from the current one (the body of a topic.update). */
export function changedConfig(current: Record<string, string>, edited: Record<string, string>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [key, value] of Object.entries(edited)) {
    const trimmed = value.trim();
    const before = current[key];
    if (trimmed === "" && before !== undefined) out[key] = null;
    else if (trimmed !== "" && trimmed !== before) out[key] = trimmed;
  }
  return out;
}
