import type { RequestChange, RequestImpact } from "../api/types";
import { describeChange } from "../lib/settingWords";
import { formatBytes, formatNumber } from "../lib/units";
import { principalName } from "../lib/validation";

/** Current -> new of every field a request changes. */
export function ChangeList({ changes, caption = "What changes" }: { changes: RequestChange[]; caption?: string }) {
  if (!changes.length) return <p className="muted" data-testid="changes-none">Nothing changes.</p>;
  return (
    <div className="table-wrap">
      <table className="table stack change-table" data-testid="changes">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Setting</th>
            <th scope="col">Current</th>
            <th scope="col">New</th>
          </tr>
        </thead>
        <tbody>
          {changes.map((change) => {
            const words = describeChange(change);
            return (
              <tr key={change.field} data-testid="change-row" data-field={change.field} data-direction={words.direction}>
                <th scope="row" data-label="Setting" className="mono">{words.label}</th>
                <td data-label="Current" data-testid="change-current">{words.current}</td>
                <td data-label="New" data-testid="change-new">
                  <span aria-hidden="true">→ </span>
                  <strong>{words.next}</strong>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function budgetLine(label: string, b: { used: number; after: number; budget: number | null }, format: (n: number) => string) {
  if (b.after === b.used) return null;
  const over = b.budget !== null && b.after > b.budget;
  return (
    <li data-testid="impact-budget" className={over ? "danger-text" : undefined}>
      {label}: {format(b.used)} → <strong>{format(b.after)}</strong>
      {b.budget !== null ? <> of {format(b.budget)} ({formatNumber(Math.round((b.after / b.budget) * 100))}%)</> : null}
      {over ? " — over the cluster's budget" : null}
    </li>
  );
}

/** Who consumes the topic, and the cluster's budgets after the change. */
export function ImpactView({ impact }: { impact: RequestImpact }) {
  return (
    <ul className="impact" data-testid="impact">
      <li data-testid="impact-consumers">
        {impact.consumers.length
          ? <>Consumed by {impact.consumers.map((c) => `${principalName(c.principal)}${c.group ? ` (group ${c.group})` : ""}`).join(", ")}
            {impact.consuming_teams.length ? <> — teams {impact.consuming_teams.join(", ")}</> : null}</>
          : "Nobody consumes this topic through a grant."}
      </li>
      {budgetLine("Partition replicas on the cluster", impact.partition_replicas, formatNumber)}
      {budgetLine("Expected disk on the cluster", impact.disk_bytes, formatBytes)}
    </ul>
  );
}
