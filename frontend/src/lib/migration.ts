/**
 * The words and rules of the migration pages (issue 15): what each step means to the people doing
 * it, a gate check in a sentence, who may roll back or say producers switched (mirroring
 * api/endpoints.py and services/migration_cutover; the server stays the authority), and who may
 * start one from a topic page.
 */

import type { Cluster, GateCheck, Migration, MigrationStep, TeamAction } from "../api/types";
import type { Tone } from "./requestStatus";
import { type Caller, isOwner, ownedTeams } from "./permissions";
import { formatNumber } from "./units";

export const FORWARD_STEPS = ["planned", "mirroring", "consumers_cut_over", "producers_cut_over",
  "source_quarantined", "done"] as const;
export const TERMINAL_STEPS: readonly string[] = ["done", "rolled_back", "failed"];

const STEP_LABEL: Record<string, string> = {
  planned: "Planned",
  mirroring: "Mirroring",
  consumers_cut_over: "Consumers cut over",
  producers_cut_over: "Producers cut over",
  source_quarantined: "Source quarantined",
  done: "Done",
  rolled_back: "Rolled back",
  failed: "Failed",
};

/** What happens while the migration is at the step, for the timeline. */
const STEP_MEANING: Record<string, string> = {
  planned: "Approved; the target topics, grants and service accounts are being created.",
  mirroring: "MirrorMaker copies every record to the target and translates the groups' offsets.",
  consumers_cut_over: "Consumers move to the target, starting from their translated offsets.",
  producers_cut_over: "Writes to the source are closed, the mirror drains and counts are verified; producers switch.",
  source_quarantined: "Producers write to the target; the mirror is stopped.",
  done: "The source topics' access is removed; the target holds the topics.",
  rolled_back: "Stopped and undone: clients stay on the source, the target topics are kept.",
  failed: "Stopped on an error; nothing moves until someone acts.",
};

export function stepLabel(step: MigrationStep): string {
  return STEP_LABEL[step] ?? step.replace(/_/g, " ");
}

export function stepMeaning(step: MigrationStep): string {
  return STEP_MEANING[step] ?? "";
}

export function isTerminal(step: MigrationStep): boolean {
  return TERMINAL_STEPS.includes(step);
}

export function stepTone(step: MigrationStep): Tone {
  if (step === "done") return "success";
  if (step === "failed") return "danger";
  if (step === "rolled_back") return "neutral";
  if (step === "planned") return "info";
  return "warning";
}

/** A timeline entry's status in words, for screen readers and the small print beside the dot. */
export function timelineStatusWords(status: string, enteredAt: string | null | undefined): string {
  switch (status) {
    case "done":
      return enteredAt ? "done" : "done (skipped over)";
    case "current":
      return "in progress now";
    case "next":
      return "not yet";
    case "skipped":
      return "not reached";
    default:
      return status;
  }
}

/** The class names of the request timeline (styles.css): done, current, upcoming, failed. */
export function timelineState(status: string, step: MigrationStep): "done" | "current" | "upcoming" | "failed" {
  if (status === "done") return "done";
  if (status === "current") return step === "done" ? "done" : "current";
  if (status === "skipped") return "failed";
  return "upcoming";
}

const FACT_UNIT: Record<string, string> = {
  max_partition_lag: "records",
  groups_active_on_source: "groups",
};

function valueWords(value: unknown, fact: string): string {
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number") return `${formatNumber(value)}${FACT_UNIT[fact] ? ` ${FACT_UNIT[fact]}` : ""}`;
  if (value === null || value === undefined) return "not measured";
  return String(value);
}

/**
 * A gate check in words: its description, and for a number the bound ("at most 1,000 records").
 * Booleans need no bound: the description says what must be true.
 */
export function checkWords(check: GateCheck): string {
  // A description that names its bound already ("above 1000 records") needs no second one.
  if (typeof check.value === "number" && !new RegExp(`\\b${check.value}\\b`).test(check.description)) {
    const bound = check.op === "<=" ? "at most" : check.op === ">=" ? "at least" : "exactly";
    return `${check.description} (${bound} ${valueWords(check.value, check.fact)})`;
  }
  return check.description;
}

/** "passes", "fails (measured: 1,204 records)", or "not measured yet". */
export function checkResultWords(check: GateCheck, facts: Record<string, unknown> | null | undefined): string {
  const measured = facts?.[check.fact];
  if (check.passes === true) return "passes";
  if (measured === undefined || measured === null) return "not measured yet";
  return `fails (measured: ${valueWords(measured, check.fact)})`;
}

/** The step the migration moves to next on the forward path (null at the end or off it). */
export function nextForwardStep(step: MigrationStep): MigrationStep | null {
  const index = (FORWARD_STEPS as readonly string[]).indexOf(step);
  if (index < 0 || index === FORWARD_STEPS.length - 1) return null;
  return FORWARD_STEPS[index + 1] ?? null;
}

/** The teams on either side: the target's owner (the migration's owner team) and the source cluster's owner. */
export function sideTeams(migration: Pick<Migration, "owner_team" | "source_cluster">, clusters: Cluster[]): string[] {
  const source = clusters.find((c) => c.name === migration.source_cluster)?.owner_team;
  return [...new Set([migration.owner_team, ...(source ? [source] : [])])];
}

/** Roll back: while the step allows it, an owner of the source's or the target's owner team, or a platform admin. */
export function canRollBackMigration(caller: Caller, migration: Pick<Migration, "can_roll_back" | "owner_team" |
  "source_cluster" | "step">, clusters: Cluster[]): boolean {
  if (!migration.can_roll_back || isTerminal(migration.step)) return false;
  return caller.platform_admin || sideTeams(migration, clusters).some((team) => isOwner(caller, team));
}

/** "Producers switched": an owner of the owning (target) team, once writes to the source are closed. */
export function canSayProducersSwitched(caller: Caller,
  migration: Pick<Migration, "owner_team" | "step" | "producers_switched_by">): boolean {
  return migration.step === "producers_cut_over" && !migration.producers_switched_by && isOwner(caller, migration.owner_team);
}

/** A lag report with at least one measurement (the server sends nulls before the first). */
export function measuredLag(lag: Migration["lag"]): lag is NonNullable<Migration["lag"]> & { measured_at: string; total: number; max: number } {
  return !!lag && lag.measured_at !== null && lag.total !== null && lag.max !== null;
}

/**
 * The clusters a topic can move to from the caller's point of view: those the caller's owned teams
 * own, other than the one the topic is on.
 */
export function migrationTargets(caller: Caller, topicCluster: string, clusters: Cluster[]): Cluster[] {
  const owned = ownedTeams(caller);
  return clusters.filter((c) => c.name !== topicCluster && owned.includes(c.owner_team));
}

/** "Move to my team's cluster" shows on a topic on a cluster none of the caller's teams owns. */
export function canStartMigration(caller: Caller, topicCluster: string, clusters: Cluster[]): boolean {
  const here = clusters.find((c) => c.name === topicCluster);
  if (!here || caller.teams.includes(here.owner_team)) return false;
  return migrationTargets(caller, topicCluster, clusters).length > 0;
}

const ROLE_WORDS: Record<string, string> = {
  producer: "produces to the topics",
  consumer: "consumes the topics",
  owner: "owns the target",
  source_owner: "owns the source cluster",
};

export function roleWords(role: string): string {
  return ROLE_WORDS[role] ?? role;
}

/** The viewer's own teams first (in the order the server sent them), then the others. */
export function ownActionsFirst(actions: TeamAction[], caller: Caller): TeamAction[] {
  const mine = actions.filter((a) => caller.teams.includes(a.team));
  return [...mine, ...actions.filter((a) => !caller.teams.includes(a.team))];
}

/** "a, b and 3 more" for a list of topic names in a table cell. */
export function shortList(items: string[], shown = 2): string {
  if (items.length <= shown) return items.join(", ");
  return `${items.slice(0, shown).join(", ")} and ${items.length - shown} more`;
}

/** What the mirror's clean-up removed on one cluster, in words ("target: 9 ACLs, the user, 5 internal topics"). */
export function cleanupWords(side: { acls?: number; user?: string; topics?: string[] } | undefined, cluster: string): string {
  if (!side) return `${cluster}: nothing to remove`;
  const parts: string[] = [];
  if (side.acls) parts.push(`${side.acls} ACL${side.acls === 1 ? "" : "s"}`);
  if (side.user) parts.push("the user");
  if (side.topics?.length) parts.push(`${side.topics.length} internal topic${side.topics.length === 1 ? "" : "s"}`);
  return `${cluster}: ${parts.length ? parts.join(", ") : "nothing to remove"}`;
}
