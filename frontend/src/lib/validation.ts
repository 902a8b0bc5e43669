/**
 * Client-side checks that mirror the server's schemas (schemas/common.json and its x-messages),
 * so a person sees the same words before and after submitting. The server stays the judge:
 * these only save a round trip.
 */

import { parseAmount } from "./units";

export const TOPIC_NAME_MAX = 249;
export const PARTITIONS_MAX = 10_000;
export const REPLICATION_FACTOR_MAX = 10;
const NAME_CHARS = /^[a-zA-Z0-9._-]*$/;
const GROUP_ID = /^[a-zA-Z0-9._-]+$/;
const PRINCIPAL_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,248}$/;

/** The prefix every topic and principal of a team starts with: "payments." */
export function teamPrefix(team: string): string {
  return `${team}.`;
}

export function validateTopicName(name: string, team?: string): string | null {
  if (name.length === 0) return "a topic name cannot be empty";
  if (name === "." || name === "..") return "'.' and '..' are not valid topic names";
  if (!NAME_CHARS.test(name)) {
    return `${name} has characters Kafka does not allow in a topic name: use only a-z, A-Z, 0-9, '.', '_' and '-'`;
  }
  if (name.length > TOPIC_NAME_MAX) {
    return `topic names are at most ${TOPIC_NAME_MAX} characters long; this one has ${name.length}`;
  }
  if (team !== undefined && team !== "") {
    const prefix = teamPrefix(team);
    if (!name.startsWith(prefix)) return `topic names start with the team name and a dot: ${prefix}…`;
    if (name.length === prefix.length) return `add a name after ${prefix}`;
  }
  return null;
}

function wholeNumber(text: string): number | null | "invalid" {
  const value = parseAmount(text);
  if (value === null) return null;
  if (Number.isNaN(value) || !Number.isInteger(value)) return "invalid";
  return value;
}

export function validatePartitions(text: string): string | null {
  const value = wholeNumber(text);
  if (value === null) return "how many partitions? at least 1";
  if (value === "invalid") return `partitions is a whole number, got ${text.trim()}`;
  if (value < 1) return `a topic needs at least 1 partition, got ${value}`;
  if (value > PARTITIONS_MAX) return `${value} partitions is more than the ${PARTITIONS_MAX} a topic may have`;
  return null;
}

export function validateReplicationFactor(text: string): string | null {
  const value = wholeNumber(text);
  if (value === null) return "the replication factor is required";
  if (value === "invalid") return `the replication factor is a whole number, got ${text.trim()}`;
  if (value < 1) return `the replication factor is at least 1, got ${value}`;
  if (value > REPLICATION_FACTOR_MAX) return `the replication factor is at most ${REPLICATION_FACTOR_MAX}, got ${value}`;
  return null;
}

export function validateRetentionAmount(text: string): string | null {
  const value = parseAmount(text);
  if (value === null) return "how long should messages be kept?";
  if (Number.isNaN(value)) return `retention is a number, got ${text.trim()}`;
  if (value <= 0) return "retention must be more than 0 (or choose unlimited)";
  return null;
}

export function validateThroughputAmount(text: string): string | null {
  const value = parseAmount(text);
  if (value === null) return null; // optional
  if (Number.isNaN(value)) return `throughput is a number, got ${text.trim()}`;
  if (value < 0) return "throughput cannot be negative";
  return null;
}

export function validateGroupId(group: string): string | null {
  if (group.trim() === "") {
    return "consume access needs the consumer group the principal will use, e.g. payments.invoice-readers";
  }
  if (!GROUP_ID.test(group)) {
    return `${group} is not a consumer group id Topicdesk accepts: use only a-z, A-Z, 0-9, '.', '_' and '-'`;
  }
  if (group.length > TOPIC_NAME_MAX) return `consumer group ids are at most ${TOPIC_NAME_MAX} characters long`;
  return null;
}

/** A service account name such as "payments.invoice-writer" (the principal is "User:" + name). */
export function validateServiceAccountName(name: string, team: string): string | null {
  if (name.trim() === "") return "a service account needs a name";
  if (!PRINCIPAL_NAME.test(name)) {
    return `${name} is not a service account name: letters, digits, '.', '_' and '-', starting with a letter or digit`;
  }
  const prefix = teamPrefix(team);
  if (!name.startsWith(prefix)) return `service account names start with the team name and a dot: ${prefix}…`;
  if (name.length === prefix.length) return `add a name after ${prefix}`;
  return null;
}

export function validateRejectionReason(reason: string): string | null {
  return reason.trim() === "" ? "a rejection needs a reason the requester can act on" : null;
}

/** "User:payments.writer" -> "payments.writer". */
export function principalName(principal: string): string {
  return principal.startsWith("User:") ? principal.slice("User:".length) : principal;
}

/** The team a principal belongs to by its prefix: "User:payments.writer" -> "payments". */
export function principalTeam(principal: string): string {
  const name = principalName(principal);
  const dot = name.indexOf(".");
  return dot > 0 ? name.slice(0, dot) : "";
}
