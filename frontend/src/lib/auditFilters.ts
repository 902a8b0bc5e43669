/**
 * The audit page's filters (in the address, so a filtered view can be shared), the links an
 * event's subject and data lead to, and the file a download writes.
 */

import { routes } from "./route";

export interface AuditFilters {
  subject: string;
  action: string;
  request: string;
  /** A date (YYYY-MM-DD, from midnight UTC) or a full RFC 3339 time. */
  since: string;
  showLogins: boolean;
}

export const NO_AUDIT_FILTERS: AuditFilters = { subject: "", action: "", request: "", since: "", showLogins: false };

/** The families the action filter offers; the API also takes any exact action. */
export const ACTION_FAMILIES = ["request", "topic", "access_grant", "service_account", "token", "cluster", "auth"] as const;

const ACTION = /^[a-z][a-z_]*(:[a-z][a-z_]*)?$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function sinceIsValid(value: string): boolean {
  return DATE.test(value) ? !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) : !Number.isNaN(Date.parse(value));
}

export function parseAuditFilters(query: URLSearchParams): AuditFilters {
  const text = (key: string, max: number) => (query.get(key) ?? "").trim().slice(0, max);
  const action = text("action", 64);
  const since = text("since", 40);
  return {
    subject: text("subject", 600),
    action: ACTION.test(action) ? action : "",
    request: text("request", 32),
    since: since && sinceIsValid(since) ? since : "",
    showLogins: query.get("logins") === "shown",
  };
}

export function auditFiltersToQuery(filters: AuditFilters): Record<string, string> {
  const query: Record<string, string> = {};
  if (filters.subject) query.subject = filters.subject;
  if (filters.action) query.action = filters.action;
  if (filters.request) query.request = filters.request;
  if (filters.since) query.since = filters.since;
  if (filters.showLogins) query.logins = "shown";
  return query;
}

export interface AuditQuery {
  subject?: string;
  action?: string;
  request?: string;
  since?: string;
  hide_logins?: boolean;
}

/** GET /api/v1/audit parameters: logins are left out unless shown; a date means from its midnight UTC. */
export function auditFiltersToApi(filters: AuditFilters): AuditQuery {
  const query: AuditQuery = {};
  // The API refuses subject and request together; the request id is the narrower one.
  if (filters.request) query.request = filters.request;
  else if (filters.subject) query.subject = filters.subject;
  if (filters.action) query.action = filters.action;
  if (filters.since) query.since = DATE.test(filters.since) ? `${filters.since}T00:00:00Z` : filters.since;
  if (!filters.showLogins) query.hide_logins = true;
  return query;
}

export function isAuditFiltered(filters: AuditFilters): boolean {
  return Boolean(filters.subject || filters.action || filters.request || filters.since);
}

/** Where an event's subject leads in the portal, if anywhere: its request, its topic. */
export function subjectLink(subject: string): string | null {
  const [kind, rest = ""] = splitOnce(subject, ":");
  if (!rest) return null;
  if (kind === "request") return routes.request(rest);
  if (kind === "topic") {
    const [cluster, name] = splitOnce(rest, "/");
    return cluster && name ? routes.topic(cluster, name) : null;
  }
  return null;
}

function splitOnce(text: string, separator: string): [string, string] {
  const index = text.indexOf(separator);
  return index < 0 ? [text, ""] : [text.slice(0, index), text.slice(index + 1)];
}

/** A request id an event's data names (a quarantine's, a drift adoption's), to link it. */
export function requestIdIn(data: Record<string, unknown> | null | undefined): string | null {
  const value = data?.request_id;
  return typeof value === "string" && value ? value : null;
}

/** "audit-request-approve-since-2026-12-01.json": the filters in the name, so downloads tell apart. */
export function downloadName(filters: AuditFilters): string {
  const parts = ["audit"];
  if (filters.action) parts.push(filters.action.replace(/[^a-z_]/g, "-"));
  if (filters.request) parts.push(`request-${filters.request}`);
  if (filters.subject) parts.push(filters.subject.replace(/[^A-Za-z0-9._-]+/g, "-").slice(0, 60));
  if (filters.since) parts.push(`since-${filters.since.slice(0, 10)}`);
  return `${parts.join("-").replace(/-+/g, "-")}.json`;
}
