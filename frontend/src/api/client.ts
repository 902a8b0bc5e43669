/**
 * The portal's only way to the server: same-origin fetch with the cookie session, the CSRF
 * header on every write, and problem+json turned into ApiError.
 */

import type {
  ApiToken,
  AuditEvent,
  CreatedApiToken,
  LogoutResult,
  Migration,
  NotificationDelivery,
  NotificationEventTypes,
  NotificationSubscription,
  NotificationSubscriptionInput,
  AuditVerification,
  Cluster,
  DryRunResult,
  Page,
  Problem,
  RequestSubmission,
  ServiceAccount,
  ServiceAccountCredentials,
  Session,
  TopicDetail,
  TopicRequest,
  TopicSummary,
} from "./types";

export class ApiError extends Error {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = "ApiError";
    this.problem = problem;
  }

  get status(): number {
    return this.problem.status;
  }
}

let csrfToken = "";
let onUnauthenticated: (() => void) | null = null;

export function setCsrfToken(token: string): void {
  csrfToken = token;
}

/** Called when the session ends under us (a 401 from /api/v1), so the app can ask to sign in. */
export function setUnauthenticatedHandler(handler: (() => void) | null): void {
  onUnauthenticated = handler;
}

type Query = Record<string, string | number | boolean | null | undefined>;

/** Fills a path template: ("/api/v1/requests/{id}", {id: "a/b"}) gives /api/v1/requests/a%2Fb. */
export function expand(template: string, params: Record<string, string> = {}, query: Query = {}): string {
  const path = template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined) throw new Error(`missing path parameter ${key} for ${template}`);
    return encodeURIComponent(value);
  });
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "" || value === false) continue;
    search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

async function toProblem(response: Response): Promise<Problem> {
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text) as Partial<Problem>;
    if (body && typeof body === "object" && typeof body.title === "string") {
      return { type: body.type ?? "about:blank", title: body.title, status: body.status ?? response.status,
        ...(body.detail !== undefined ? { detail: body.detail } : {}),
        ...(body.errors !== undefined ? { errors: body.errors } : {}) };
    }
  } catch {
    // not JSON: a proxy's or server's error page
  }
  return {
    type: "about:blank",
    title: response.statusText || `HTTP ${response.status}`,
    status: response.status,
    detail: response.status >= 500 ? "the server had a problem; try again in a moment" : undefined,
  } as Problem;
}

export interface CallOptions {
  body?: unknown;
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export async function call<T>(method: "GET" | "POST" | "PATCH" | "DELETE", url: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json, application/problem+json" };
  if (method !== "GET") {
    headers["X-CSRF-Token"] = csrfToken;
    if (options.body !== undefined) headers["Content-Type"] = "application/json";
  }
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      credentials: "same-origin",
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError({ type: "about:blank", title: "Network error", status: 0,
      detail: "the server could not be reached; check your connection and try again" });
  }
  if (!response.ok) {
    const problem = await toProblem(response);
    if (response.status === 401 && url.startsWith("/api/") && onUnauthenticated) onUnauthenticated();
    throw new ApiError(problem);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

const get = <T>(url: string, signal?: AbortSignal) => call<T>("GET", url, signal ? { signal } : {});
const post = <T>(url: string, body?: unknown, extra: Omit<CallOptions, "body"> = {}) =>
  call<T>("POST", url, { ...extra, body });

export function loginUrl(next: string): string {
  return expand("/auth/login", {}, { next });
}

export const api = {
  session: (signal?: AbortSignal) => get<Session>("/auth/session", signal),
  logout: () => post<LogoutResult | undefined>("/auth/logout"),

  clusters: (signal?: AbortSignal) => get<Page<Cluster>>(expand("/api/v1/clusters"), signal),
  serviceAccounts: (cluster: string, signal?: AbortSignal) =>
    get<Page<ServiceAccount>>(expand("/api/v1/clusters/{cluster}/service-accounts", { cluster }), signal),
  createServiceAccount: (cluster: string, name: string, idempotencyKey?: string) =>
    post<ServiceAccountCredentials>(expand("/api/v1/clusters/{cluster}/service-accounts", { cluster }), { name },
      idempotencyKey ? { idempotencyKey } : {}),
  rotateServiceAccount: (cluster: string, principal: string) =>
    post<ServiceAccountCredentials>(
      expand("/api/v1/clusters/{cluster}/service-accounts/{principal}/rotate", { cluster, principal }),
    ),
  deleteServiceAccount: (cluster: string, principal: string) =>
    call<undefined>("DELETE", expand("/api/v1/clusters/{cluster}/service-accounts/{principal}", { cluster, principal })),

  tokens: (team: string, signal?: AbortSignal) =>
    get<Page<ApiToken>>(expand("/api/v1/teams/{team}/tokens", { team }), signal),
  createToken: (team: string, body: { name: string; role: "member" | "owner"; expires_in_days: number }) =>
    post<CreatedApiToken>(expand("/api/v1/teams/{team}/tokens", { team }), body),
  revokeToken: (team: string, tokenId: string) =>
    call<undefined>("DELETE", expand("/api/v1/teams/{team}/tokens/{token_id}", { team, token_id: tokenId })),

  requests: (query: { status?: string; kind?: string; cluster?: string; team?: string; mine?: boolean;
    awaiting_me?: boolean; limit?: number; cursor?: string | null }, signal?: AbortSignal) => get<Page<TopicRequest>>(expand("/api/v1/requests", {}, query), signal),
  request: (id: string, signal?: AbortSignal) => get<TopicRequest>(expand("/api/v1/requests/{id}", { id }), signal),
  dryRun: (body: RequestSubmission, signal?: AbortSignal) =>
    call<DryRunResult>("POST", expand("/api/v1/requests", {}, { dry_run: true }), signal ? { body, signal } : { body }),
  submit: (body: RequestSubmission, idempotencyKey?: string) =>
    post<TopicRequest>(expand("/api/v1/requests"), body, idempotencyKey ? { idempotencyKey } : {}),
  approve: (id: string, comment?: string) =>
    post<TopicRequest>(expand("/api/v1/requests/{id}/approve", { id }), comment ? { comment } : {}),
  reject: (id: string, reason: string) => post<TopicRequest>(expand("/api/v1/requests/{id}/reject", { id }), { reason }),
  cancel: (id: string) => post<TopicRequest>(expand("/api/v1/requests/{id}/cancel", { id })),

  topics: (query: { q?: string; cluster?: string; team?: string; limit?: number; cursor?: string | null },
    signal?: AbortSignal) => get<Page<TopicSummary>>(expand("/api/v1/topics", {}, query), signal),
  topic: (cluster: string, name: string, signal?: AbortSignal) =>
    get<TopicDetail>(expand("/api/v1/clusters/{cluster}/topics/{name}", { cluster, name }), signal),

  notificationEventTypes: (signal?: AbortSignal) =>
    get<NotificationEventTypes>(expand("/api/v1/notifications/event-types"), signal),
  subscriptions: (team: string, signal?: AbortSignal) =>
    get<Page<NotificationSubscription>>(expand("/api/v1/teams/{team}/notifications/subscriptions", { team }), signal),
  createSubscription: (team: string, body: NotificationSubscriptionInput) =>
    post<NotificationSubscription>(expand("/api/v1/teams/{team}/notifications/subscriptions", { team }), body),
  updateSubscription: (team: string, id: string, body: { enabled?: boolean }) =>
    call<NotificationSubscription>("PATCH",
      expand("/api/v1/teams/{team}/notifications/subscriptions/{id}", { team, id }), { body }),
  deleteSubscription: (team: string, id: string) =>
    call<undefined>("DELETE", expand("/api/v1/teams/{team}/notifications/subscriptions/{id}", { team, id })),
  deliveries: (team: string, id: string, signal?: AbortSignal) =>
    get<Page<NotificationDelivery>>(
      expand("/api/v1/teams/{team}/notifications/subscriptions/{id}/deliveries", { team, id }, { limit: 50 }), signal),
  sendTestEvent: (team: string, id: string) =>
    post<{ event_id: string; detail: string }>(
      expand("/api/v1/teams/{team}/notifications/subscriptions/{id}/test", { team, id })),
  restoreTopic: (cluster: string, name: string) =>
    post<Record<string, unknown>>(expand("/api/v1/clusters/{cluster}/topics/{name}/restore", { cluster, name })),
  triageDrift: (cluster: string, itemId: string,
    body: { action: "revert" | "adopt" | "ignore"; reason?: string; expires_at?: string }) =>
    post<{ item: unknown; requests?: TopicRequest[] }>(
      expand("/api/v1/clusters/{cluster}/drift/{item_id}/triage", { cluster, item_id: itemId }), body),

  migrations: (query: { limit?: number; cursor?: string | null }, signal?: AbortSignal) =>
    get<Page<Migration>>(expand("/api/v1/migrations", {}, query), signal),
  migration: (id: string, signal?: AbortSignal) => get<Migration>(expand("/api/v1/migrations/{id}", { id }), signal),
  rollBackMigration: (id: string, reason: string) =>
    post<Migration>(expand("/api/v1/migrations/{id}/rollback", { id }), { reason }),
  producersSwitched: (id: string) => post<Migration>(expand("/api/v1/migrations/{id}/producers-switched", { id }), {}),

  audit: (query: { since?: string; subject?: string; request?: string; action?: string; hide_logins?: boolean;
    limit?: number; cursor?: string | null }, signal?: AbortSignal) =>
    get<Page<AuditEvent>>(expand("/api/v1/audit", {}, query), signal),
  verifyAudit: (signal?: AbortSignal) => get<AuditVerification>(expand("/api/v1/audit/verify"), signal),
};

/** A fresh Idempotency-Key, so a retried click cannot create a second request. */
export function newIdempotencyKey(): string {
  if (typeof crypto !== "undefined" && "randomUUID" in crypto) return crypto.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}
