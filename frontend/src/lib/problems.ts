/**
 * Turns problem+json errors (RFC 9457, with `errors: [{path, message}]`) into messages next to
 * form fields, keyed by JSON pointer, and a list of what belongs to no field (shown as a banner).
 */

import type { Problem } from "../api/types";

export type FieldErrors = Record<string, string[]>;

/**
 * A rule maps a JSON pointer pattern to a form field key. `*` matches one segment; `$1`, `$2`…
 * in the field key are replaced by what the stars matched. A pattern also matches every path
 * below it; the rule with the most segments wins.
 */
export interface PathRule {
  pattern: string;
  field: string;
}

/** "/spec/config/a~1b" -> ["spec", "config", "a/b"]; "" and "/" -> []. */
export function splitPointer(pointer: string): string[] {
  if (pointer === "" || pointer === "/") return [];
  const body = pointer.startsWith("/") ? pointer.slice(1) : pointer;
  return body.split("/").map((segment) => segment.replace(/~1/g, "/").replace(/~0/g, "~"));
}

export function fieldForPath(path: string, rules: readonly PathRule[]): string | null {
  const segments = splitPointer(path);
  let best: { field: string; length: number } | null = null;
  for (const rule of rules) {
    const pattern = splitPointer(rule.pattern);
    if (pattern.length === 0 || pattern.length > segments.length) continue;
    const captured: string[] = [];
    let matches = true;
    for (let index = 0; index < pattern.length; index += 1) {
      const want = pattern[index];
      const got = segments[index] as string;
      if (want === "*") captured.push(got);
      else if (want !== got) {
        matches = false;
        break;
      }
    }
    if (!matches) continue;
    if (best === null || pattern.length > best.length) {
      const field = rule.field.replace(/\$(\d+)/g, (_, n: string) => captured[Number(n) - 1] ?? "");
      best = { field, length: pattern.length };
    }
  }
  return best?.field ?? null;
}

export interface SplitProblem {
  fields: FieldErrors;
  /** Messages for the banner: the problem's detail when no error names a field, and unmatched errors. */
  general: string[];
}

export function splitProblem(problem: Problem, rules: readonly PathRule[]): SplitProblem {
  const fields: FieldErrors = {};
  const general: string[] = [];
  for (const error of problem.errors ?? []) {
    const field = error.path ? fieldForPath(error.path, rules) : null;
    if (field === null) {
      general.push(error.path ? `${error.path}: ${error.message}` : error.message);
    } else {
      (fields[field] ??= []).push(error.message);
    }
  }
  if (Object.keys(fields).length === 0 && general.length === 0) {
    general.push(problemSummary(problem));
  }
  return { fields, general };
}

/** One line for a banner: "Conflict: the request is applied; only pending requests can be approved". */
export function problemSummary(problem: Problem): string {
  const title = problem.title || `HTTP ${problem.status}`;
  return problem.detail && problem.detail !== title ? `${title}: ${problem.detail}` : title;
}

/** Merges client-side messages (one per field) with server ones, without repeating a message. */
export function mergeFieldErrors(...sources: Array<Record<string, string | string[] | null | undefined>>): FieldErrors {
  const merged: FieldErrors = {};
  for (const source of sources) {
    for (const [field, value] of Object.entries(source)) {
      const messages = value === null || value === undefined ? [] : Array.isArray(value) ? value : [value];
      for (const message of messages) {
        const list = (merged[field] ??= []);
        if (!list.includes(message)) list.push(message);
      }
    }
  }
  for (const [field, list] of Object.entries(merged)) if (list.length === 0) delete merged[field];
  return merged;
}

/** Paths of a topic.create request -> the fields of the new-topic form. */
export const TOPIC_CREATE_RULES: readonly PathRule[] = [
  { pattern: "/cluster", field: "cluster" },
  { pattern: "/reason", field: "reason" },
  { pattern: "/spec/name", field: "name" },
  { pattern: "/spec/partitions", field: "partitions" },
  { pattern: "/spec/replication_factor", field: "replication_factor" },
  { pattern: "/spec/config/retention.ms", field: "retention" },
  { pattern: "/spec/config/cleanup.policy", field: "cleanup_policy" },
  { pattern: "/spec/description", field: "description" },
  { pattern: "/spec/producers", field: "producers" },
  { pattern: "/spec/consumers", field: "consumers" },
  { pattern: "/spec/consumers/*/principal", field: "consumers.$1.principal" },
  { pattern: "/spec/consumers/*/group", field: "consumers.$1.group" },
  { pattern: "/spec/expected_throughput", field: "throughput" },
];

/** Paths of an access.grant request -> the fields of the request-access form. */
export const ACCESS_GRANT_RULES: readonly PathRule[] = [
  { pattern: "/reason", field: "reason" },
  { pattern: "/spec/principal", field: "principal" },
  { pattern: "/spec/access", field: "access" },
  { pattern: "/spec/group", field: "group" },
  { pattern: "/spec/transactional_id", field: "transactional_id" },
];

export const SERVICE_ACCOUNT_RULES: readonly PathRule[] = [{ pattern: "/name", field: "name" }];
export const REJECT_RULES: readonly PathRule[] = [{ pattern: "/reason", field: "reason" }];
export const APPROVE_RULES: readonly PathRule[] = [{ pattern: "/comment", field: "comment" }];
