/**
 * A drift item in words: which setting, what Topicdesk wants, what the cluster has, and what each
 * triage action would do — instead of codes like `acl_extra` and raw JSON.
 */
import type { DriftAction, DriftItem } from "../api/types";
import { settingValue } from "./settingWords";

export interface DriftRow {
  setting: string;
  desired: string;
  observed: string;
}

export interface DriftWords {
  title: string;
  rows: DriftRow[];
  actions: Array<{ action: DriftAction; label: string; effect: string }>;
}

interface Binding {
  principal?: string;
  operation?: string;
  resource_type?: string;
  resource_name?: string;
  pattern?: string;
  permission?: string;
}

function binding(value: unknown): string {
  const b = (value ?? {}) as Binding;
  const what = `${String(b.operation ?? "?").toLowerCase()} on ${String(b.resource_type ?? "").toLowerCase()} ${b.resource_name ?? "?"}`;
  return `${b.principal ?? "?"} may ${what}${b.pattern && String(b.pattern).toLowerCase() !== "literal" ? ` (${String(b.pattern).toLowerCase()})` : ""}`;
}

function configRows(desired: unknown, observed: unknown): DriftRow[] {
  const want = (desired ?? {}) as Record<string, unknown>;
  const have = (observed ?? {}) as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(want), ...Object.keys(have)])].sort();
  return keys.map((key) => ({
    setting: key,
    desired: desired === null || desired === undefined ? "not set by Topicdesk" : settingValue(`config.${key}`, want[key]),
    observed: settingValue(`config.${key}`, have[key]),
  }));
}

const TITLES: Record<string, string> = {
  topic_missing: "The topic is missing on the cluster",
  partitions_differ: "The partition count differs",
  replication_factor_differs: "The replication factor differs",
  config_differs: "Settings differ from what Topicdesk set",
  config_unmanaged: "The cluster has settings Topicdesk never set",
  acl_missing: "A grant's ACL is missing on the cluster",
  acl_extra: "The cluster has an ACL no grant asks for",
  quota_missing: "A quota is missing on the cluster",
  quota_differs: "A quota differs",
  quota_extra: "The cluster has a quota no request set",
  service_account_missing: "A service account's credential is missing",
};

function rowsFor(item: DriftItem): DriftRow[] {
  const desired = item.expected ?? item.desired;
  const observed = item.actual ?? item.observed;
  switch (item.kind) {
    case "partitions_differ":
      return [{ setting: "partitions", desired: String(desired), observed: String(observed) }];
    case "replication_factor_differs":
      return [{ setting: "replication factor", desired: String(desired), observed: String(observed) }];
    case "config_differs":
    case "config_unmanaged":
      return configRows(desired, observed);
    case "topic_missing":
      return [{ setting: "topic", desired: "exists", observed: "missing" }];
    case "acl_missing":
      return [{ setting: "ACL", desired: binding(desired), observed: "missing" }];
    case "acl_extra":
      return [{ setting: "ACL", desired: "none", observed: binding(observed) }];
    case "quota_missing":
    case "quota_differs":
    case "quota_extra": {
      const want = (desired ?? {}) as Record<string, unknown>;
      const have = (observed ?? {}) as Record<string, unknown>;
      return [...new Set([...Object.keys(want), ...Object.keys(have)])].sort().map((field) => ({
        setting: field.replace(/_/g, " "), desired: settingValue(field, want[field]), observed: settingValue(field, have[field]),
      }));
    }
    default:
      return [{ setting: item.kind ?? "difference", desired: JSON.stringify(desired ?? null), observed: JSON.stringify(observed ?? null) }];
  }
}

function effectOf(item: DriftItem, action: DriftAction): string {
  const kind = item.kind ?? "";
  if (action === "ignore") return "Stop counting this difference as drift until the expiry you set, or until the cluster shows another value.";
  if (action === "revert") {
    if (kind === "topic_missing") return "Re-create the topic (empty) with its desired settings.";
    if (kind === "partitions_differ") return "Add the missing partitions.";
    if (kind === "acl_missing") return "Re-create the ACL the grant needs.";
    if (kind.startsWith("quota")) return "Set the quota back to the desired rates.";
    return "Set the cluster back to the desired values.";
  }
  if (kind === "topic_missing") return "Request the topic's deletion, so Topicdesk stops expecting it.";
  if (kind === "acl_missing") return "Request the revocation of the grant that needs this ACL.";
  if (kind.startsWith("quota")) return "Request a quota change to the rates the cluster has.";
  return "Request a topic update that makes the desired state what the cluster has (through policy and approval).";
}

const LABELS: Record<DriftAction, string> = { revert: "Revert", adopt: "Adopt", ignore: "Ignore" };

export function describeDrift(item: DriftItem): DriftWords {
  return {
    title: TITLES[item.kind ?? ""] ?? item.message ?? "A difference",
    rows: rowsFor(item),
    actions: (item.actions ?? []).map((action) => ({ action, label: LABELS[action], effect: effectOf(item, action) })),
  };
}
