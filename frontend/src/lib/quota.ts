/**
 * Client quotas in the portal: byte rates typed in MiB/s (IEC, like the policies' messages), the
 * change from the current quota to the new one, and the quota.set spec that sends only what changed.
 */
import type { ClientQuota } from "../api/types";

export const MIB = 1024 * 1024;

export type QuotaKey = "producer_byte_rate" | "consumer_byte_rate" | "request_percentage";
export const QUOTA_KEYS: readonly QuotaKey[] = ["producer_byte_rate", "consumer_byte_rate", "request_percentage"];

export const QUOTA_LABEL: Record<QuotaKey, string> = {
  producer_byte_rate: "Produce",
  consumer_byte_rate: "Fetch",
  request_percentage: "Request time",
};

/** The defaults of policies/quota.policy.json: up to these the owner team sets quotas at once. */
export const QUOTA_DEFAULTS: Record<QuotaKey, number> = {
  producer_byte_rate: 10 * MIB,
  consumer_byte_rate: 20 * MIB,
  request_percentage: 25,
};

function trim(value: number): string {
  return new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 }).format(value);
}

/** 52428800 -> "50 MiB/s", 1536 -> "1.5 KiB/s"; null -> "no quota" (the broker's default applies). */
export function formatRate(bytesPerSecond: number | null | undefined): string {
  if (bytesPerSecond === null || bytesPerSecond === undefined) return "no quota";
  if (bytesPerSecond >= 1024 * MIB) return `${trim(bytesPerSecond / (1024 * MIB))} GiB/s`;
  if (bytesPerSecond >= MIB) return `${trim(bytesPerSecond / MIB)} MiB/s`;
  if (bytesPerSecond >= 1024) return `${trim(bytesPerSecond / 1024)} KiB/s`;
  return `${trim(bytesPerSecond)} B/s`;
}

export function formatQuotaValue(key: QuotaKey, value: number | null | undefined): string {
  if (key === "request_percentage") return value === null || value === undefined ? "no quota" : `${trim(value)}%`;
  return formatRate(value);
}

/** What the form holds: text as typed, MiB/s for byte rates and percent for request time. */
export type QuotaForm = Record<QuotaKey, string>;

export function formFromQuota(quota: ClientQuota | null | undefined): QuotaForm {
  const rate = (value: number | null | undefined) => (value === null || value === undefined ? "" : trim(value / MIB).replace(/,/g, ""));
  return {
    producer_byte_rate: rate(quota?.producer_byte_rate),
    consumer_byte_rate: rate(quota?.consumer_byte_rate),
    request_percentage: quota?.request_percentage === null || quota?.request_percentage === undefined
      ? "" : String(quota.request_percentage),
  };
}

/** "" -> null (no quota); "12.5" -> the value in the key's unit (bytes/s or percent); bad text -> an error. */
export function parseQuotaValue(key: QuotaKey, text: string): { value: number | null } | { error: string } {
  const trimmed = text.trim().replace(",", ".");
  if (trimmed === "") return { value: null };
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(trimmed)) return { error: "a number, or empty for no quota" };
  const number = Number(trimmed);
  if (key === "request_percentage") {
    if (number <= 0 || number > 10000) return { error: "more than 0 and at most 10000 (percent of one thread)" };
    return { value: number };
  }
  const bytes = Math.round(number * MIB);
  if (bytes < 1) return { error: "more than 0 MiB/s, or empty for no quota" };
  return { value: bytes };
}

export interface QuotaChange {
  key: QuotaKey;
  current: number | null;
  next: number | null;
  aboveDefault: boolean;
}

export interface QuotaPlan {
  changes: QuotaChange[];
  errors: Partial<Record<QuotaKey, string>>;
  /** The quota.set spec: the principal and only the changed keys (null removes one). */
  spec: Record<string, unknown> | null;
}

export function planQuota(principal: string, current: ClientQuota | null | undefined, form: QuotaForm): QuotaPlan {
  const changes: QuotaChange[] = [];
  const errors: Partial<Record<QuotaKey, string>> = {};
  for (const key of QUOTA_KEYS) {
    const parsed = parseQuotaValue(key, form[key]);
    if ("error" in parsed) {
      errors[key] = parsed.error;
      continue;
    }
    const was = current?.[key] ?? null;
    if (parsed.value !== was) {
      changes.push({ key, current: was, next: parsed.value,
        aboveDefault: parsed.value !== null && parsed.value > QUOTA_DEFAULTS[key] });
    }
  }
  const ok = Object.keys(errors).length === 0 && changes.length > 0;
  return {
    changes,
    errors,
    spec: ok ? { principal, ...Object.fromEntries(changes.map((c) => [c.key, c.next])) } : null,
  };
}

/** "Produce: 5 MiB/s → 50 MiB/s" */
export function describeChange(change: QuotaChange): string {
  return `${QUOTA_LABEL[change.key]}: ${formatQuotaValue(change.key, change.current)} → ${formatQuotaValue(change.key, change.next)}`;
}
