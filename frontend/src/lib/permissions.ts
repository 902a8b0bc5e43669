/**
 * What the signed-in person may do, from /auth/session's teams, roles ("payments:owner") and
 * platform_admin: the portal shows a button or menu item only when the server would allow it. The
 * server stays the authority (a stale session still gets its 403); these mirror api/endpoints.py.
 */

import type { Session, TopicRequest } from "../api/types";

export type Caller = Pick<Session, "subject" | "teams" | "roles" | "platform_admin">;

export function isMember(caller: Caller, team: string | null | undefined): boolean {
  return caller.platform_admin || (!!team && caller.teams.includes(team));
}

export function isOwner(caller: Caller, team: string | null | undefined): boolean {
  return caller.platform_admin || (!!team && caller.roles.includes(`${team}:owner`));
}

/** Teams the caller owns, from the roles ("payments:owner"); platform admins own no team by that alone. */
export function ownedTeams(caller: Pick<Caller, "teams" | "roles">): string[] {
  return caller.teams.filter((team) => caller.roles.includes(`${team}:owner`));
}

/** Approvers are owners of a team (cross-team access, deletions) or platform admins (exceptions). */
export function canApproveAnything(caller: Caller): boolean {
  return caller.platform_admin || ownedTeams(caller).length > 0;
}

/** Rotating a password and deleting an account: an owner of the account's team. */
export function canManageServiceAccount(caller: Caller, team: string): boolean {
  return isOwner(caller, team);
}

/** Creating a service account: any member, named with one of the caller's teams. */
export function canCreateServiceAccount(caller: Caller): boolean {
  return caller.teams.length > 0;
}

/** Cancelling: the requester, or an owner of the requesting team, while it waits for approval. */
export function canCancel(caller: Caller, request: Pick<TopicRequest, "status" | "requested_by" | "requester_team">): boolean {
  if (request.status !== "pending_approval") return false;
  return request.requested_by === caller.subject || isOwner(caller, request.requester_team);
}

/** New topics go on clusters the caller's team owns (platform admins: any). */
export function canRequestTopicOn(caller: Caller, clusterOwner: string): boolean {
  return isMember(caller, clusterOwner);
}

/**
 * The cluster a team page should open on: one the caller's team owns, else the first. Used where
 * the default used to be whichever cluster sorted first (often another team's).
 */
export function defaultCluster<C extends { name: string; owner_team: string }>(caller: Caller, clusters: C[]): string {
  return (clusters.find((cluster) => caller.teams.includes(cluster.owner_team)) ?? clusters[0])?.name ?? "";
}

/** Migrations are listed for a team's members (owning the target or the source) and platform admins. */
export function canSeeMigrations(caller: Caller): boolean {
  return caller.platform_admin || caller.teams.length > 0;
}
