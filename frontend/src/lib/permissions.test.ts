import { describe, expect, it } from "vitest";
import {
  canApproveAnything,
  canCancel,
  canCreateServiceAccount,
  canManageServiceAccount,
  canRequestTopicOn,
  defaultCluster,
  isMember,
  isOwner,
  ownedTeams,
  type Caller,
} from "./permissions";

const bob: Caller = { subject: "bob", teams: ["payments"], roles: ["payments:member"], platform_admin: false };
const alice: Caller = { subject: "alice", teams: ["payments"], roles: ["payments:owner"], platform_admin: false };
const erin: Caller = { subject: "erin", teams: [], roles: ["platform_admin"], platform_admin: true };
const nobody: Caller = { subject: "x", teams: [], roles: [], platform_admin: false };

describe("roles", () => {
  it("tells members from owners, per team", () => {
    expect(isMember(bob, "payments")).toBe(true);
    expect(isOwner(bob, "payments")).toBe(false);
    expect(isOwner(alice, "payments")).toBe(true);
    expect(isOwner(alice, "ingest")).toBe(false);
    expect(isMember(bob, undefined)).toBe(false);
  });

  it("names the teams the caller owns (tokens, service accounts, migrations); an admin owns none by that alone", () => {
    expect(ownedTeams({ teams: ["payments", "ingest"], roles: ["ingest:owner", "payments:member"] })).toEqual(["ingest"]);
    expect(ownedTeams(alice)).toEqual(["payments"]);
    expect(ownedTeams(bob)).toEqual([]);
    expect(ownedTeams(erin)).toEqual([]);
  });

  it("lets platform admins do what any owner may", () => {
    expect(isOwner(erin, "payments")).toBe(true);
    expect(canManageServiceAccount(erin, "ingest")).toBe(true);
  });
});

describe("what the portal offers", () => {
  it("shows approvals only to owners and platform admins", () => {
    expect(canApproveAnything(bob)).toBe(false);
    expect(canApproveAnything(nobody)).toBe(false);
    expect(canApproveAnything(alice)).toBe(true);
    expect(canApproveAnything(erin)).toBe(true);
  });

  it("offers rotate/delete to owners of the account's team only", () => {
    expect(canManageServiceAccount(bob, "payments")).toBe(false);
    expect(canManageServiceAccount(alice, "payments")).toBe(true);
    expect(canManageServiceAccount(alice, "ingest")).toBe(false);
    expect(canCreateServiceAccount(bob)).toBe(true);
    expect(canCreateServiceAccount(nobody)).toBe(false);
  });

  it("offers cancel to the requester or an owner of the requesting team, while pending", () => {
    const request = { status: "pending_approval" as const, requested_by: "token:payments/ci", requester_team: "payments" };
    expect(canCancel(bob, request)).toBe(false);
    expect(canCancel(alice, request)).toBe(true);
    expect(canCancel({ ...bob, subject: "token:payments/ci" }, request)).toBe(true);
    expect(canCancel(alice, { ...request, status: "applied" })).toBe(false);
  });

  it("offers new topics on the caller's teams' clusters", () => {
    expect(canRequestTopicOn(bob, "payments")).toBe(true);
    expect(canRequestTopicOn(bob, "ingest")).toBe(false);
    expect(canRequestTopicOn(erin, "ingest")).toBe(true);
  });

  it("opens on a cluster of the caller's own team", () => {
    const clusters = [{ name: "ingest-dev", owner_team: "ingest" }, { name: "payments-dev", owner_team: "payments" }];
    expect(defaultCluster(bob, clusters)).toBe("payments-dev");
    expect(defaultCluster(erin, clusters)).toBe("ingest-dev");
    expect(defaultCluster(bob, [])).toBe("");
  });
});
