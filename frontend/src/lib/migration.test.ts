import { describe, expect, it } from "vitest";
import type { Cluster, TeamAction } from "../api/types";
import {
  canRollBackMigration,
  canSayProducersSwitched,
  canStartMigration,
  checkResultWords,
  checkWords,
  cleanupWords,
  isTerminal,
  measuredLag,
  migrationTargets,
  nextForwardStep,
  ownActionsFirst,
  shortList,
  sideTeams,
  stepLabel,
  timelineState,
  timelineStatusWords,
} from "./migration";
import { migrateFormIssues, migrateSpec, splitNames } from "./migrateForm";
import { canSeeMigrations, type Caller } from "./permissions";

const cluster = (name: string, owner_team: string): Cluster => ({ name, owner_team, environment: "dev",
  bootstrap_servers: "", security_protocol: "SASL_PLAINTEXT", sasl_mechanism: "SCRAM-SHA-512" });
const CLUSTERS = [cluster("legacy-monolith", "platform"), cluster("payments-dev", "payments"), cluster("ingest-dev", "ingest")];

const alice: Caller = { subject: "alice", teams: ["payments"], roles: ["payments:owner"], platform_admin: false };
const bob: Caller = { subject: "bob", teams: ["payments"], roles: ["payments:member"], platform_admin: false };
const dave: Caller = { subject: "dave", teams: ["ingest"], roles: ["ingest:member"], platform_admin: false };
const pat: Caller = { subject: "pat", teams: ["platform"], roles: ["platform:owner"], platform_admin: false };
const erin: Caller = { subject: "erin", teams: [], roles: ["platform_admin"], platform_admin: true };
const nobody: Caller = { subject: "x", teams: [], roles: [], platform_admin: false };

const migration = { owner_team: "payments", source_cluster: "legacy-monolith", can_roll_back: true, step: "mirroring" };

describe("steps in words", () => {
  it("labels steps and knows the ends", () => {
    expect(stepLabel("consumers_cut_over")).toBe("Consumers cut over");
    expect(stepLabel("something_new")).toBe("something new");
    expect(["done", "rolled_back", "failed"].every(isTerminal)).toBe(true);
    expect(isTerminal("producers_cut_over")).toBe(false);
    expect(nextForwardStep("mirroring")).toBe("consumers_cut_over");
    expect(nextForwardStep("done")).toBeNull();
    expect(nextForwardStep("rolled_back")).toBeNull();
  });

  it("says each timeline status in words and maps it to the timeline's classes", () => {
    expect(timelineStatusWords("done", "2026-12-01T10:00:00Z")).toBe("done");
    expect(timelineStatusWords("done", null)).toBe("done (skipped over)");
    expect(timelineStatusWords("current", null)).toBe("in progress now");
    expect(timelineStatusWords("next", null)).toBe("not yet");
    expect(timelineStatusWords("skipped", null)).toBe("not reached");
    expect(timelineState("current", "mirroring")).toBe("current");
    expect(timelineState("current", "done")).toBe("done");
    expect(timelineState("skipped", "done")).toBe("failed");
    expect(timelineState("next", "done")).toBe("upcoming");
  });

  it("says a gate check and its result", () => {
    const lag = { fact: "max_partition_lag", op: "<=", value: 1000, description: "every partition is close behind" };
    expect(checkWords(lag)).toBe("every partition is close behind (at most 1,000 records)");
    expect(checkWords({ ...lag, description: "no partition lags above 1000 records" })).toBe("no partition lags above 1000 records");
    expect(checkWords({ fact: "mirror_running", op: "==", value: true, description: "the mirror runs" })).toBe("the mirror runs");
    expect(checkResultWords({ ...lag, passes: true }, { max_partition_lag: 3 })).toBe("passes");
    expect(checkResultWords({ ...lag, passes: false }, { max_partition_lag: 1204 })).toBe("fails (measured: 1,204 records)");
    expect(checkResultWords({ ...lag, passes: false }, {})).toBe("not measured yet");
    expect(checkResultWords({ fact: "mirror_running", op: "==", value: true, description: "", passes: false },
      { mirror_running: false })).toBe("fails (measured: no)");
  });
});

describe("who may do what", () => {
  it("lets owners of either side and platform admins roll back, while the step allows it", () => {
    expect(sideTeams(migration, CLUSTERS)).toEqual(["payments", "platform"]);
    expect(canRollBackMigration(alice, migration, CLUSTERS)).toBe(true);
    expect(canRollBackMigration(pat, migration, CLUSTERS)).toBe(true);
    expect(canRollBackMigration(erin, migration, CLUSTERS)).toBe(true);
    expect(canRollBackMigration(bob, migration, CLUSTERS)).toBe(false);
    expect(canRollBackMigration(dave, migration, CLUSTERS)).toBe(false);
    expect(canRollBackMigration(alice, { ...migration, can_roll_back: false, step: "producers_cut_over" }, CLUSTERS)).toBe(false);
    expect(canRollBackMigration(erin, { ...migration, step: "rolled_back" }, CLUSTERS)).toBe(false);
  });

  it("lets the owning team's owners say producers switched, only at producers_cut_over", () => {
    const atProducers = { ...migration, step: "producers_cut_over" };
    expect(canSayProducersSwitched(alice, atProducers)).toBe(true);
    expect(canSayProducersSwitched(erin, atProducers)).toBe(true);
    expect(canSayProducersSwitched(bob, atProducers)).toBe(false);
    expect(canSayProducersSwitched(pat, atProducers)).toBe(false);
    expect(canSayProducersSwitched(alice, migration)).toBe(false);
    expect(canSayProducersSwitched(alice, { ...atProducers, producers_switched_by: "alice" })).toBe(false);
  });

  it("tells a measured lag from the server's empty one", () => {
    expect(measuredLag(null)).toBe(false);
    expect(measuredLag({ measured_at: null, total: null, max: null, partitions: [], history: [] })).toBe(false);
    expect(measuredLag({ measured_at: "2026-12-01T10:00:00Z", total: 0, max: 0, partitions: [], history: [] })).toBe(true);
  });

  it("offers Move to my team's cluster to owners of a team with a cluster, on another team's cluster", () => {
    expect(migrationTargets(alice, "legacy-monolith", CLUSTERS).map((c) => c.name)).toEqual(["payments-dev"]);
    expect(canStartMigration(alice, "legacy-monolith", CLUSTERS)).toBe(true);
    expect(canStartMigration(alice, "payments-dev", CLUSTERS)).toBe(false);
    expect(canStartMigration(bob, "legacy-monolith", CLUSTERS)).toBe(false);
    expect(canStartMigration(erin, "legacy-monolith", CLUSTERS)).toBe(false);
    expect(canStartMigration(alice, "unknown", CLUSTERS)).toBe(false);
  });

  it("lists migrations for team members and platform admins", () => {
    expect([alice, bob, erin, nobody].map(canSeeMigrations)).toEqual([true, true, true, false]);
  });

  it("puts the viewer's teams first", () => {
    const actions: TeamAction[] = [
      { team: "platform", role: "source_owner", now: [], done: true },
      { team: "billing", role: "consumer", now: ["restart"], done: false },
      { team: "payments", role: "owner", now: ["switch"], done: false },
    ];
    expect(ownActionsFirst(actions, alice).map((a) => a.team)).toEqual(["payments", "platform", "billing"]);
  });

  it("shortens topic lists", () => {
    expect(shortList(["a"])).toBe("a");
    expect(shortList(["a", "b", "c", "d"])).toBe("a, b and 2 more");
  });
});

describe("the topic.migrate form", () => {
  const values = { target: "payments-dev", selection: "topics" as const, topics: "a, b\nb", prefix: "", groups: " g1 ,g2", reason: "" };

  it("builds the spec from topics or a prefix", () => {
    expect(splitNames(" a,, b\n a ")).toEqual(["a", "b"]);
    expect(migrateSpec(values)).toEqual({ target_cluster: "payments-dev", topics: ["a", "b"], consumer_groups: ["g1", "g2"] });
    expect(migrateSpec({ ...values, selection: "prefix", prefix: " payments. ", groups: "" }))
      .toEqual({ target_cluster: "payments-dev", prefix: "payments." });
  });

  it("names what is missing", () => {
    expect(migrateFormIssues(values)).toEqual({});
    expect(migrateFormIssues({ ...values, target: "", topics: " , " })).toEqual({
      target: "choose the cluster the topics move to", topics: "name at least one topic" });
    expect(migrateFormIssues({ ...values, selection: "prefix", prefix: "p" })).toEqual({ prefix: "at least 2 characters" });
  });
});

describe("the mirror's clean-up in words", () => {
  it("counts what was removed on each cluster", () => {
    expect(cleanupWords({ acls: 9, user: "User:topicdesk-mirror-m1", topics: ["a", "b"] }, "target"))
      .toBe("target: 9 ACLs, the user, 2 internal topics");
    expect(cleanupWords({ acls: 1, topics: [] }, "source")).toBe("source: 1 ACL");
    expect(cleanupWords({}, "source")).toBe("source: nothing to remove");
    expect(cleanupWords(undefined, "source")).toBe("source: nothing to remove");
  });
});
