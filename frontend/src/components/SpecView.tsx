import type { ReactNode } from "react";
import type { TopicRequest } from "../api/types";
import { describeRetention, formatConfigValue, formatRate } from "../lib/units";
import { principalName } from "../lib/validation";
import { KeyValues } from "./ui";

/** The spec of a request in words, with the raw JSON one click away. */
export function SpecView({ request }: { request: TopicRequest }) {
  const spec = request.spec as Record<string, unknown>;
  const rows: Array<[string, ReactNode]> = [["Kind", <code key="k">{request.kind}</code>], ["Cluster", request.cluster]];
  const add = (label: string, value: unknown, render: (v: never) => ReactNode = (v) => String(v)) => {
    if (value !== undefined && value !== null && value !== "") rows.push([label, render(value as never)]);
  };
  add("Topic", spec.name ?? spec.topic, (v: string) => <code>{v}</code>);
  add("Principal", spec.principal, (v: string) => <code>{principalName(v)}</code>);
  add("Access", spec.access);
  add("Consumer group", spec.group, (v: string) => <code>{v}</code>);
  add("Transactional id", spec.transactional_id, (v: string) => <code>{v}</code>);
  // quota.set: a number sets the quota, null removes it (back to the broker default).
  const quota = (label: string, key: string, render: (v: number) => string) => {
    if (key in spec) rows.push([label, spec[key] === null ? "removed (broker default)" : render(Number(spec[key]))]);
  };
  quota("Produce quota", "producer_byte_rate", (v) => `${formatRate(v)} per broker`);
  quota("Fetch quota", "consumer_byte_rate", (v) => `${formatRate(v)} per broker`);
  quota("Request time quota", "request_percentage", (v) => `${v}% of a thread per broker`);
  add("Partitions", spec.partitions);
  add("Replication factor", spec.replication_factor);
  const config = (spec.config ?? {}) as Record<string, string | null>;
  if (config["retention.ms"] != null) add("Retention", describeRetention(config["retention.ms"]));
  add("Cleanup policy", config["cleanup.policy"]);
  const others = Object.entries(config).filter(([key]) => key !== "retention.ms" && key !== "cleanup.policy");
  if (others.length) {
    add("Other configs", others.map(([k, v]) => `${k} = ${v === null ? "(default)" : formatConfigValue(k, v)}`).join(", "));
  }
  if (Array.isArray(spec.producers) && spec.producers.length) {
    add("Producers", (spec.producers as string[]).map(principalName).join(", "));
  }
  if (Array.isArray(spec.consumers) && spec.consumers.length) {
    add("Consumers", (spec.consumers as Array<{ principal: string; group: string }>)
      .map((c) => `${principalName(c.principal)} (group ${c.group})`).join(", "));
  }
  const throughput = spec.expected_throughput as { bytes_per_second?: number } | undefined;
  if (throughput?.bytes_per_second !== undefined) add("Expected throughput", formatRate(throughput.bytes_per_second));
  add("Description", spec.description);
  add("Reason", request.reason);
  return (
    <>
      <KeyValues rows={rows} />
      <details className="raw">
        <summary>Request as JSON</summary>
        <pre>{JSON.stringify({ kind: request.kind, cluster: request.cluster, spec: request.spec }, null, 2)}</pre>
      </details>
    </>
  );
}
