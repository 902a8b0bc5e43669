import { describe, expect, it } from "vitest";
import type { ApiToken } from "../api/types";
import { sortTokens, tokenState, validateTokenName } from "./tokens";

const token = (over: Partial<ApiToken>): ApiToken => ({
  id: "t", team: "payments", name: "ci", role: "member", created_at: "2026-01-01T00:00:00Z",
  expires_at: null, revoked_at: null, last_used_at: null, ...over,
});
const now = new Date("2026-06-01T00:00:00Z");

describe("tokens", () => {
  it("tells active, expired and revoked tokens apart and lists active ones first", () => {
    const expired = token({ id: "e", expires_at: "2026-05-01T00:00:00Z" });
    const revoked = token({ id: "r", revoked_at: "2026-02-01T00:00:00Z", created_at: "2026-03-01T00:00:00Z" });
    const active = token({ id: "a", expires_at: "2026-09-01T00:00:00Z" });
    expect([tokenState(expired, now), tokenState(revoked, now), tokenState(active, now)]).toEqual(["expired", "revoked", "active"]);
    expect(sortTokens([revoked, expired, active], now).map((t) => t.id)).toEqual(["a", "e", "r"]);
  });

  it("checks a new token's name as the server does", () => {
    expect(validateTokenName("", [])).toMatch(/name/);
    expect(validateTokenName("CI Deploy", [])).toMatch(/lowercase/);
    expect(validateTokenName("ci", [token({})])).toMatch(/already has/);
    expect(validateTokenName("ci", [token({ revoked_at: "2026-02-01T00:00:00Z" })])).toBeNull();
  });
});
