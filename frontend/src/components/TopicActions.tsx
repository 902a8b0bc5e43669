import { useState } from "react";
import type { AccessGrant, Decision, RequestSubmission, TopicDetail } from "../api/types";
import { changedConfig, settingValue } from "../lib/settingWords";
import { principalName } from "../lib/validation";
import { ActionForm } from "./ActionForm";
import { ChangeList } from "./ChangeList";
import { Field } from "./ui";

/** Edit the topic's configs: the policy's allow-list, the current value beside the new one; only changed keys are sent. */
export function EditConfig({ topic }: { topic: TopicDetail }) {
  const current = topic.desired.config ?? {};
  const keys = topic.editable_config_keys ?? Object.keys(current).sort();
  const [edited, setEdited] = useState<Record<string, string>>({});
  const [reason, setReason] = useState("");
  const values = Object.fromEntries(keys.map((key) => [key, edited[key] ?? current[key] ?? ""]));
  const changes = changedConfig(current, values);
  const changed = Object.keys(changes);
  const body: RequestSubmission | null = changed.length ? {
    kind: "topic.update", cluster: topic.cluster, spec: { name: topic.name, config: changes },
    ...(reason.trim() ? { reason: reason.trim() } : {}),
  } : null;
  return (
    <ActionForm body={body} issues={0} testId="edit-config" submitLabel="Request the config change"
      summary={changed.map((key) => `${key}: ${settingValue(`config.${key}`, current[key])} → ${settingValue(`config.${key}`, changes[key])}`)}>
      <p className="muted small">
        The settings the policies let a team set here. Leave a field empty for the broker's default.
      </p>
      <div className="table-wrap">
        <table className="table stack config-editor">
          <caption className="visually-hidden">Config settings of {topic.name}</caption>
          <thead><tr><th scope="col">Setting</th><th scope="col">Current</th><th scope="col">New</th></tr></thead>
          <tbody>
            {keys.map((key) => (
              <tr key={key} data-testid="config-row" data-key={key} className={key in changes ? "row-changed" : undefined}>
                <th scope="row" data-label="Setting" className="mono"><label htmlFor={`config-${key}`}>{key}</label></th>
                <td data-label="Current">{settingValue(`config.${key}`, current[key])}</td>
                <td data-label="New">
                  <input id={`config-${key}`} className="mono" type="text" value={values[key]} placeholder="default"
                    data-testid={`config-input-${key}`} autoComplete="off" spellCheck={false}
                    onChange={(event) => setEdited((old) => ({ ...old, [key]: event.target.value }))} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {changed.length ? (
        <ChangeList caption="Your change" changes={changed.map((key) => ({ field: `config.${key}`, current: current[key] ?? null, new: changes[key] }))} />
      ) : <p className="muted" data-testid="config-unchanged">Change a value to see the policy preview.</p>}
      <ReasonField value={reason} onChange={setReason} />
    </ActionForm>
  );
}

/** Add partitions (never fewer), with what it does to key ordering. */
export function AddPartitions({ topic }: { topic: TopicDetail }) {
  const current = topic.desired.partitions;
  const [text, setText] = useState(String(current + 1));
  const [reason, setReason] = useState("");
  const wanted = Number(text);
  const problem = !Number.isInteger(wanted) ? "a whole number" : wanted <= current ? `more than the current ${current}; Kafka cannot remove partitions` : null;
  const body: RequestSubmission | null = problem ? null : {
    kind: "topic.update", cluster: topic.cluster, spec: { name: topic.name, partitions: wanted },
    ...(reason.trim() ? { reason: reason.trim() } : {}),
  };
  return (
    <ActionForm body={body} issues={problem ? 1 : 0} testId="add-partitions" submitLabel="Request more partitions"
      summary={[`partitions: ${current} → ${wanted}`]}>
      <Field label={`Partitions (now ${current})`} name="partitions" errors={problem ? [problem] : undefined}
        hint="Keys map to partitions by hash modulo the count: after the change, a key's new messages may go to another partition than its old ones, so per-key order holds only from then on. Consumers pick the new partitions up on their next rebalance.">
        {(props) => (
          <input {...props} type="number" min={current + 1} value={text} data-testid="partitions-input"
            onChange={(event) => setText(event.target.value)} />
        )}
      </Field>
      <ReasonField value={reason} onChange={setReason} />
    </ActionForm>
  );
}

/** Delete: type the name to confirm; lists the grants and consumer groups that lose the topic (from the dry run's evidence). */
export function DeleteTopic({ topic }: { topic: TopicDetail }) {
  const [typed, setTyped] = useState("");
  const [reason, setReason] = useState("");
  const confirmed = typed.trim() === topic.name;
  const body: RequestSubmission | null = confirmed ? {
    kind: "topic.delete", cluster: topic.cluster, spec: { name: topic.name },
    ...(reason.trim() ? { reason: reason.trim() } : {}),
  } : null;
  return (
    <ActionForm body={body} issues={confirmed ? 0 : 1} testId="delete-topic" submitLabel="Request the deletion" danger
      aboutDecision={(decision) => <DeletionEvidence decision={decision} />}
      summary={[`Quarantine ${topic.name}: its ACLs are removed at once, its data is kept for the grace period, and the owners can undo it until then.`,
        "After the grace period the topic and its data are deleted."]}>
      <div className="banner banner-warning" role="status">
        <strong className="banner-title">Who loses access</strong>
        {topic.access_grants.length ? (
          <ul data-testid="delete-affected-grants">
            {topic.access_grants.map((g) => (
              <li key={`${g.principal}-${g.access}-${g.group ?? ""}`}>
                {principalName(g.principal)} ({g.access}{g.group ? `, group ${g.group}` : ""}{g.team ? `, team ${g.team}` : ""})
              </li>
            ))}
          </ul>
        ) : <p data-testid="delete-affected-grants">No grants.</p>}
        <p className="small">The policy preview shows the usage evidence (consumer groups, last write) the decision is made on.</p>
      </div>
      <Field label={<>Type <span className="mono">{topic.name}</span> to confirm</>} name="confirm"
        errors={typed && !confirmed ? ["the name does not match"] : undefined}>
        {(props) => (
          <input {...props} type="text" className="mono" value={typed} autoComplete="off" spellCheck={false}
            data-testid="delete-confirm" onChange={(event) => setTyped(event.target.value)} />
        )}
      </Field>
      <ReasonField value={reason} onChange={setReason} />
    </ActionForm>
  );
}

/** Revoke one grant (access.revoke). */
export function RevokeGrant({ topic, grant }: { topic: TopicDetail; grant: AccessGrant }) {
  const [reason, setReason] = useState("");
  const body: RequestSubmission = {
    kind: "access.revoke", cluster: topic.cluster,
    spec: { topic: grant.topic, principal: grant.principal, access: grant.access,
      ...(grant.pattern && grant.pattern !== "literal" ? { pattern: grant.pattern } : {}),
      ...(grant.group ? { group: grant.group } : {}),
      ...(grant.transactional_id ? { transactional_id: grant.transactional_id } : {}) },
    ...(reason.trim() ? { reason: reason.trim() } : {}),
  };
  return (
    <ActionForm body={body} issues={0} testId="revoke-grant" submitLabel="Request the revocation" danger
      summary={[`${principalName(grant.principal)} can no longer ${grant.access} ${topic.name} once the ACLs are removed.`]}>
      <p>Revoke <strong className="mono">{principalName(grant.principal)}</strong>'s {grant.access} access
        {grant.group ? <> (group <span className="mono">{grant.group}</span>)</> : null}.</p>
      <ReasonField value={reason} onChange={setReason} />
    </ActionForm>
  );
}

interface Evidence {
  available?: boolean;
  error?: string;
  consumer_groups?: Array<{ group: string; team?: string | null; state?: string; members?: number; lag?: number | null }>;
  days_since_last_write?: number | null;
}

/** The consumer groups and last write the deletion is decided on (the dry run's evidence). */
function DeletionEvidence({ decision }: { decision: Decision }) {
  const evidence = (decision as Decision & { evidence?: Evidence }).evidence;
  if (!evidence) return null;
  if (evidence.available === false) {
    return <p className="small warning-text" data-testid="delete-evidence">Usage evidence unavailable: {evidence.error}</p>;
  }
  const groups = evidence.consumer_groups ?? [];
  return (
    <div className="card small" data-testid="delete-evidence">
      <h3>Consumer groups on the topic</h3>
      {groups.length ? (
        <ul data-testid="delete-affected-groups">
          {groups.map((g) => (
            <li key={g.group}><span className="mono">{g.group}</span>{g.team ? ` (team ${g.team})` : ""}: {g.state?.toLowerCase() ?? "unknown"},
              {" "}{g.members ?? 0} members{g.lag !== undefined && g.lag !== null ? `, lag ${g.lag}` : ""}</li>
          ))}
        </ul>
      ) : <p>No consumer group has committed offsets.</p>}
      <p>{evidence.days_since_last_write === null || evidence.days_since_last_write === undefined
        ? "No write on record." : `Last write ${evidence.days_since_last_write} days ago.`}</p>
    </div>
  );
}

function ReasonField({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  return (
    <Field label="Reason" name="reason" hint="Approvers and the audit log see this.">
      {(props) => (
        <textarea {...props} rows={2} value={value} data-testid="action-reason" onChange={(event) => onChange(event.target.value)} />
      )}
    </Field>
  );
}
