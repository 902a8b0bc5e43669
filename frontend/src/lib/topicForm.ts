/**
 * The new-topic form as pure data: its values, their checks and the topic.create request they make.
 */

import type { CleanupPolicy, RequestSubmission, TopicCreateSpec } from "../api/types";
import {
  formatBytes,
  formatNumber,
  retentionToMs,
  throughputToBytesPerSecond,
  parseAmount,
  type RetentionUnit,
  type ThroughputUnit,
  UNLIMITED_RETENTION_MS,
} from "./units";
import {
  teamPrefix,
  validateGroupId,
  validatePartitions,
  validateReplicationFactor,
  validateRetentionAmount,
  validateThroughputAmount,
  validateTopicName,
  principalName,
} from "./validation";

export interface ConsumerRow {
  principal: string;
  group: string;
}

export interface TopicFormValues {
  cluster: string;
  /** The team that owns the cluster, and so the topic. */
  team: string;
  name: string;
  partitions: string;
  replicationFactor: string;
  retentionAmount: string;
  retentionUnit: RetentionUnit;
  retentionUnlimited: boolean;
  cleanupPolicy: CleanupPolicy;
  producers: string[];
  consumers: ConsumerRow[];
  throughputAmount: string;
  throughputUnit: ThroughputUnit;
  description: string;
  reason: string;
}

export function initialTopicForm(cluster = "", team = ""): TopicFormValues {
  return {
    cluster,
    team,
    name: team ? teamPrefix(team) : "",
    partitions: "3",
    replicationFactor: "1",
    retentionAmount: "7",
    retentionUnit: "days",
    retentionUnlimited: false,
    cleanupPolicy: "delete",
    producers: [],
    consumers: [],
    throughputAmount: "",
    throughputUnit: "KiB/s",
    description: "",
    reason: "",
  };
}

/**
 * Switching cluster moves the name to the new owner's prefix, keeping what was typed after the
 * old one; producers and consumers are another team's service accounts then, so they are cleared.
 */
export function changeCluster(values: TopicFormValues, cluster: string, team: string): TopicFormValues {
  const oldPrefix = values.team ? teamPrefix(values.team) : "";
  const rest = oldPrefix && values.name.startsWith(oldPrefix) ? values.name.slice(oldPrefix.length) : values.name;
  const newPrefix = team ? teamPrefix(team) : "";
  const name = !newPrefix || rest.startsWith(newPrefix) ? rest : newPrefix + rest;
  const sameTeam = team === values.team;
  return {
    ...values,
    cluster,
    team,
    name,
    producers: sameTeam ? values.producers : [],
    consumers: sameTeam ? values.consumers : [],
  };
}

/** A consumer group name to start from: the service account's name plus the topic's last part. */
export function suggestGroup(principal: string): string {
  return principalName(principal);
}

export type TopicFormErrors = Record<string, string>;

export function validateTopicForm(values: TopicFormValues): TopicFormErrors {
  const errors: TopicFormErrors = {};
  const put = (field: string, message: string | null) => {
    if (message) errors[field] = message;
  };
  if (!values.cluster) errors.cluster = "choose a cluster your team owns";
  put("name", validateTopicName(values.name, values.team || undefined));
  put("partitions", validatePartitions(values.partitions));
  put("replication_factor", validateReplicationFactor(values.replicationFactor));
  if (!values.retentionUnlimited) put("retention", validateRetentionAmount(values.retentionAmount));
  put("throughput", validateThroughputAmount(values.throughputAmount));
  const seen = new Set<string>();
  values.consumers.forEach((consumer, index) => {
    put(`consumers.${index}.group`, validateGroupId(consumer.group));
    if (seen.has(consumer.principal)) errors[`consumers.${index}.principal`] = `${consumer.principal} is listed twice`;
    seen.add(consumer.principal);
  });
  if (values.description.length > 2000) errors.description = "descriptions are at most 2000 characters";
  if (values.reason.length > 2000) errors.reason = "a reason is at most 2000 characters";
  return errors;
}

export function buildTopicSpec(values: TopicFormValues): TopicCreateSpec {
  const retention = values.retentionUnlimited
    ? UNLIMITED_RETENTION_MS
    : retentionToMs(parseAmount(values.retentionAmount) ?? 0, values.retentionUnit);
  const spec: TopicCreateSpec = {
    name: values.name.trim(),
    partitions: Number(parseAmount(values.partitions)),
    replication_factor: Number(parseAmount(values.replicationFactor)),
    config: { "retention.ms": String(retention), "cleanup.policy": values.cleanupPolicy },
  };
  if (values.description.trim()) spec.description = values.description.trim();
  if (values.producers.length) spec.producers = [...values.producers];
  if (values.consumers.length) {
    spec.consumers = values.consumers.map((c) => ({ principal: c.principal, group: c.group.trim() }));
  }
  const throughput = parseAmount(values.throughputAmount);
  if (throughput !== null && !Number.isNaN(throughput)) {
    spec.expected_throughput = { bytes_per_second: throughputToBytesPerSecond(throughput, values.throughputUnit) };
  }
  return spec;
}

export function buildTopicRequest(values: TopicFormValues): RequestSubmission {
  const body: RequestSubmission = { kind: "topic.create", cluster: values.cluster, spec: buildTopicSpec(values) };
  if (values.reason.trim()) body.reason = values.reason.trim();
  return body;
}

/**
 * What submitting the form will do, in plain words, for the preview panel. Assumes the values
 * passed validateTopicForm; anything unreadable is left out rather than guessed.
 */
export function describeTopicPlan(values: TopicFormValues): string[] {
  const lines: string[] = [];
  const partitions = parseAmount(values.partitions);
  const rf = parseAmount(values.replicationFactor);
  if (!values.name || partitions === null || rf === null || Number.isNaN(partitions) || Number.isNaN(rf)) return lines;
  lines.push(`Create ${values.name} on ${values.cluster || "the cluster"} with ${partitions} ` +
    `${partitions === 1 ? "partition" : "partitions"} and replication factor ${rf}.`);
  const amount = parseAmount(values.retentionAmount);
  const retentionMs = values.retentionUnlimited ? -1
    : amount !== null && !Number.isNaN(amount) && amount > 0 ? retentionToMs(amount, values.retentionUnit) : null;
  const kept = retentionMs === null ? null : retentionMs < 0 ? "forever" : `for ${formatRetention(amount ?? 0, values.retentionUnit)}`;
  if (values.cleanupPolicy === "compact") {
    lines.push("Keep the latest message for each key (compacted).");
  } else if (values.cleanupPolicy === "compact,delete") {
    lines.push(`Keep the latest message for each key, and nothing older than ${kept ?? "the retention"}.`);
  } else if (kept) {
    lines.push(`Keep messages ${kept}, then delete them.`);
  }
  for (const producer of values.producers) lines.push(`Let ${principalName(producer)} produce to it.`);
  for (const consumer of values.consumers) {
    lines.push(`Let ${principalName(consumer.principal)} consume it as group ${consumer.group || "…"}.`);
  }
  const throughput = parseAmount(values.throughputAmount);
  if (throughput !== null && !Number.isNaN(throughput) && throughput > 0) {
    const bytes = throughputToBytesPerSecond(throughput, values.throughputUnit);
    let line = `Expect ${formatNumber(throughput)} ${values.throughputUnit} (${formatNumber(bytes)} bytes/s)`;
    if (retentionMs !== null && retentionMs > 0 && values.cleanupPolicy !== "compact") {
      line += `: up to ${formatBytes(estimateDiskBytes(bytes, retentionMs, rf))} on disk with retention and replication`;
    }
    lines.push(`${line}.`);
  }
  return lines;
}

function formatRetention(amount: number, unit: RetentionUnit): string {
  return `${formatNumber(amount)} ${amount === 1 ? unit.slice(0, -1) : unit}`;
}

/** bytes/s x retention x replication factor: the disk a topic can fill (the server's capacity check). */
export function estimateDiskBytes(bytesPerSecond: number, retentionMs: number, replicationFactor: number): number {
  return bytesPerSecond * (retentionMs / 1000) * replicationFactor;
}
