import { useState } from "react";
import type { Cluster, RequestSubmission, TopicDetail } from "../api/types";
import { migrateSpec, type MigrateFormValues, migrateFormIssues } from "../lib/migrateForm";
import { ActionForm } from "./ActionForm";
import { MigrationPlanView } from "./MigrationPlanView";
import { Field } from "./ui";

/**
 * "Move to my team's cluster": a topic.migrate from the topic's cluster to one the caller's team
 * owns. The live dry run shows the policy decision and the plan read from both clusters; submitting
 * opens the request, which both clusters' owners approve.
 */
export function MigrateTopic({ topic, targets }: { topic: TopicDetail; targets: Cluster[] }) {
  const [values, setValues] = useState<MigrateFormValues>({
    target: targets[0]?.name ?? "", selection: "topics", topics: topic.name, prefix: "", groups: "", reason: "",
  });
  const set = (change: Partial<MigrateFormValues>) => setValues((old) => ({ ...old, ...change }));
  const issues = migrateFormIssues(values);
  const body: RequestSubmission | null = Object.keys(issues).length ? null : {
    kind: "topic.migrate", cluster: topic.cluster, spec: migrateSpec(values),
    ...(values.reason.trim() ? { reason: values.reason.trim() } : {}),
  };
  const target = targets.find((c) => c.name === values.target);
  return (
    <ActionForm body={body} issues={Object.keys(issues).length} testId="migrate-topic" wideAbout
      submitLabel="Request the migration"
      summary={[`Mirror to ${values.target} with the same names, partitions and configs`,
        "Consumers, then producers, cut over in gated steps you can watch",
        `Both ${topic.owner_team} (the source's owners) and ${target?.owner_team ?? "the target's owners"} approve first`]}
      aboutDecision={(_, result) => result?.migration_plan !== undefined ? (
        <section className="card" aria-labelledby="migrate-plan-heading" data-testid="migrate-plan">
          <h3 id="migrate-plan-heading">The plan</h3>
          <MigrationPlanView plan={result.migration_plan} />
        </section>
      ) : null}>
      <p className="muted small">
        The topic moves from <strong>{topic.cluster}</strong> to a cluster your team owns. Topic names, group ids and
        positions stay; clients change their bootstrap servers and credentials when the migration tells them to.
      </p>
      <Field label="Target cluster" name="target_cluster" errors={issues.target ? [issues.target] : undefined}>
        {(props) => (
          <select {...props} value={values.target} data-testid="migrate-target" onChange={(e) => set({ target: e.target.value })}>
            {targets.map((c) => <option key={c.name} value={c.name}>{c.name} ({c.owner_team}, {c.environment})</option>)}
          </select>
        )}
      </Field>
      <fieldset className="radio-group">
        <legend>What moves</legend>
        <label className="radio">
          <input type="radio" name="migrate-selection" checked={values.selection === "topics"}
            data-testid="migrate-by-topics" onChange={() => set({ selection: "topics" })} /> These topics
        </label>
        <label className="radio">
          <input type="radio" name="migrate-selection" checked={values.selection === "prefix"}
            data-testid="migrate-by-prefix" onChange={() => set({ selection: "prefix" })} /> Every topic with a prefix
        </label>
      </fieldset>
      {values.selection === "topics" ? (
        <Field label="Topics" name="topics" hint="One per line or separated by commas." errors={issues.topics ? [issues.topics] : undefined}>
          {(props) => (
            <textarea {...props} rows={2} className="mono" value={values.topics} data-testid="migrate-topics"
              spellCheck={false} onChange={(e) => set({ topics: e.target.value })} />
          )}
        </Field>
      ) : (
        <Field label="Prefix" name="prefix" hint="At least 2 characters, e.g. payments." errors={issues.prefix ? [issues.prefix] : undefined}>
          {(props) => (
            <input {...props} type="text" className="mono" value={values.prefix} data-testid="migrate-prefix"
              autoComplete="off" spellCheck={false} onChange={(e) => set({ prefix: e.target.value })} />
          )}
        </Field>
      )}
      <Field label="Extra consumer groups (optional)" name="consumer_groups"
        hint="Groups that read these topics but have not committed yet; groups with commits are found on the source.">
        {(props) => (
          <input {...props} type="text" className="mono" value={values.groups} data-testid="migrate-groups"
            autoComplete="off" spellCheck={false} onChange={(e) => set({ groups: e.target.value })} />
        )}
      </Field>
      <Field label="Reason" name="reason" hint="Shown to the approvers and in the audit log.">
        {(props) => (
          <input {...props} type="text" value={values.reason} data-testid="migrate-reason"
            onChange={(e) => set({ reason: e.target.value })} />
        )}
      </Field>
    </ActionForm>
  );
}
