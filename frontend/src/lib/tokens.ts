/**
 * Team API tokens in the portal: who may manage them (owners of the team), the expiry choices
 * and a token's state. The server stays the authority; this only decides what to offer.
 */
import type { ApiToken } from "../api/types";

export const EXPIRY_CHOICES: ReadonlyArray<{ days: number; label: string }> = [
  { days: 7, label: "7 days" },
  { days: 30, label: "30 days" },
  { days: 90, label: "90 days" },
  { days: 366, label: "1 year" },
];

export const TOKEN_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

export function validateTokenName(name: string, existing: readonly ApiToken[]): string | null {
  if (!name) return "give the token a name, e.g. ci-deploy";
  if (!TOKEN_NAME.test(name)) return "use 1-100 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit";
  if (existing.some((t) => t.name === name && !t.revoked_at)) return `the team already has a token named ${name}; revoke it first`;
  return null;
}

export type TokenState = "active" | "expired" | "revoked";

export function tokenState(token: Pick<ApiToken, "revoked_at" | "expires_at">, now: Date = new Date()): TokenState {
  if (token.revoked_at) return "revoked";
  if (token.expires_at && new Date(token.expires_at).getTime() <= now.getTime()) return "expired";
  return "active";
}

/** Active tokens first (newest first), then expired and revoked ones. */
export function sortTokens(tokens: readonly ApiToken[], now: Date = new Date()): ApiToken[] {
  const rank: Record<TokenState, number> = { active: 0, expired: 1, revoked: 2 };
  return [...tokens].sort((a, b) => rank[tokenState(a, now)] - rank[tokenState(b, now)]
    || b.created_at.localeCompare(a.created_at));
}
