/**
 * The requests page's filters: read from and written to the address (so a filtered list can be
 * shared), and turned into GET /api/v1/requests parameters. Unknown values in the address are
 * dropped rather than sent, so an old link never ends in a 422.
 */

import { REQUEST_KINDS, REQUEST_STATUSES, type RequestKind, type RequestStatus } from "../api/types";
import { statusLabel } from "./requestStatus";

/** Whose requests: all the caller may see, the caller's own, or those waiting for the caller. */
export const SCOPES = ["all", "mine", "awaiting_me"] as const;
export type Scope = (typeof SCOPES)[number];

export interface RequestFilters {
  status: RequestStatus | "";
  kind: RequestKind | "";
  cluster: string;
  team: string;
  scope: Scope;
}

export const NO_FILTERS: RequestFilters = { status: "", kind: "", cluster: "", team: "", scope: "all" };

const NAME = /^[A-Za-z0-9._-]{1,100}$/;

function oneOf<T extends string>(value: string | null, allowed: readonly T[]): T | "" {
  return value && (allowed as readonly string[]).includes(value) ? (value as T) : "";
}

export function parseFilters(query: URLSearchParams): RequestFilters {
  const name = (key: string) => {
    const value = query.get(key) ?? "";
    return NAME.test(value) ? value : "";
  };
  const scope = oneOf(query.get("scope"), SCOPES);
  return {
    status: oneOf(query.get("status"), REQUEST_STATUSES),
    kind: oneOf(query.get("kind"), REQUEST_KINDS),
    cluster: name("cluster"),
    team: name("team"),
    scope: scope || "all",
  };
}

/** The address query of a filter set; "all" and empty values are left out. */
export function filtersToQuery(filters: RequestFilters): Record<string, string> {
  const query: Record<string, string> = {};
  if (filters.status) query.status = filters.status;
  if (filters.kind) query.kind = filters.kind;
  if (filters.cluster) query.cluster = filters.cluster;
  if (filters.team) query.team = filters.team;
  if (filters.scope !== "all") query.scope = filters.scope;
  return query;
}

export interface RequestListQuery {
  status?: string;
  kind?: string;
  cluster?: string;
  team?: string;
  mine?: boolean;
  awaiting_me?: boolean;
}

/** GET /api/v1/requests parameters for a filter set. */
export function filtersToApi(filters: RequestFilters): RequestListQuery {
  const query: RequestListQuery = {};
  if (filters.status) query.status = filters.status;
  if (filters.kind) query.kind = filters.kind;
  if (filters.cluster) query.cluster = filters.cluster;
  if (filters.team) query.team = filters.team;
  if (filters.scope === "mine") query.mine = true;
  if (filters.scope === "awaiting_me") query.awaiting_me = true;
  return query;
}

export function isFiltered(filters: RequestFilters): boolean {
  return Object.keys(filtersToQuery(filters)).length > 0;
}

export const SCOPE_LABELS: Record<Scope, string> = {
  all: "Everything I can see",
  mine: "Asked by me",
  awaiting_me: "Awaiting my approval",
};

/** "pending approval · quota.set · on payments-dev · team payments · asked by me", for the empty state. */
export function describeFilters(filters: RequestFilters): string {
  const parts: string[] = [];
  if (filters.status) parts.push(statusLabel(filters.status).toLowerCase());
  if (filters.kind) parts.push(filters.kind);
  if (filters.cluster) parts.push(`on ${filters.cluster}`);
  if (filters.team) parts.push(`team ${filters.team}`);
  if (filters.scope !== "all") parts.push(SCOPE_LABELS[filters.scope].toLowerCase());
  return parts.join(" · ");
}

/**
 * The teams to offer in the team filter: the caller's first, then the other clusters' owners (a
 * team's requests on another team's topics involve both), and the one in the address.
 */
export function teamChoices(teams: readonly string[], clusterOwners: readonly string[], current: string): string[] {
  const others = [...new Set([...clusterOwners, ...(current ? [current] : [])])].filter((t) => !teams.includes(t)).sort();
  return [...[...teams].sort(), ...others];
}
