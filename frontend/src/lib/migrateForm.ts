/**
 * The topic.migrate form's values and the spec they make (schemas/topic.migrate.json: topics or a
 * prefix of at least 2 characters, never both; optional consumer_groups).
 */

export interface MigrateFormValues {
  target: string;
  selection: "topics" | "prefix";
  topics: string;
  prefix: string;
  groups: string;
  reason: string;
}

/** "a, b\nc" -> ["a", "b", "c"], without blanks or repeats. */
export function splitNames(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean))];
}

export function migrateFormIssues(values: MigrateFormValues): Partial<Record<"target" | "topics" | "prefix", string>> {
  const issues: Partial<Record<"target" | "topics" | "prefix", string>> = {};
  if (!values.target) issues.target = "choose the cluster the topics move to";
  if (values.selection === "topics" && splitNames(values.topics).length === 0) issues.topics = "name at least one topic";
  if (values.selection === "prefix" && values.prefix.trim().length < 2) issues.prefix = "at least 2 characters";
  return issues;
}

export function migrateSpec(values: MigrateFormValues): Record<string, unknown> {
  const groups = splitNames(values.groups);
  return {
    target_cluster: values.target,
    ...(values.selection === "topics" ? { topics: splitNames(values.topics) } : { prefix: values.prefix.trim() }),
    ...(groups.length ? { consumer_groups: groups } : {}),
  };
}
