import type { MigrationPlan } from "../api/types";

/** A topic.migrate's plan, shown before anyone approves it. */
export function MigrationPlanView({ plan }: { plan: MigrationPlan | null | undefined }) {
  if (!plan) {
    return <p className="muted" data-testid="migration-plan">No plan: the clusters could not be read.</p>;
  }
  return (
    <div data-testid="migration-plan">
      <p>
        From <strong>{plan.source}</strong> to <strong>{plan.target}</strong>; topic names are kept.
      </p>
      <h3>Target topics</h3>
      <table>
        <thead>
          <tr><th>Topic</th><th>Partitions</th><th>Replication</th><th>Configs</th><th>Adjusted or refused</th></tr>
        </thead>
        <tbody>
          {plan.topics.map((topic) => (
            <tr key={topic.name}>
              <td>{topic.name}</td>
              <td>{topic.partitions}</td>
              <td>{topic.replication_factor}</td>
              <td>{Object.entries(topic.config).map(([key, value]) => `${key}=${value}`).join(", ") || "defaults"}</td>
              <td>
                {topic.adjustments.map((a) => (
                  <div key={a.field}>{`${a.field}: ${String(a.source)} → ${String(a.target)} (${a.reason})`}</div>
                ))}
                {topic.refusals.map((reason) => <div key={reason} className="error">Refused: {reason}</div>)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {plan.missing_topics.length ? <p className="error">Not on the source: {plan.missing_topics.join(", ")}</p> : null}
      <h3>Grants re-created on the target</h3>
      <ul>
        {plan.grants.map((g) => (
          <li key={`${g.principal}-${g.topic}-${g.access}-${g.group ?? ""}`}>
            {g.principal} {g.access}s {g.topic}{g.group ? ` (group ${g.group})` : ""}
          </li>
        ))}
      </ul>
      <h3>Service accounts</h3>
      <ul>
        {plan.service_accounts.map((s) => (
          <li key={s.principal}>
            {s.principal}: {s.exists_on_target ? "already on the target" : "new SCRAM credentials, shown once to " + s.team}
          </li>
        ))}
      </ul>
      <h3>Consumer groups to move</h3>
      <ul>
        {plan.consumer_groups.map((g) => (
          <li key={g.group}>
            {g.group} ({g.members} members, lag {g.lag ?? "unknown"}){g.discovered ? "" : " — named, no commits yet"}
          </li>
        ))}
      </ul>
      <h3>What each team changes</h3>
      <ul>
        {plan.team_changes.map((c) => (
          <li key={c.team}><strong>{c.team}</strong>: {c.change.join("; ")}. Unchanged: {c.unchanged}.</li>
        ))}
      </ul>
      {plan.notes.length ? <ul>{plan.notes.map((n) => <li key={n} className="muted">{n}</li>)}</ul> : null}
    </div>
  );
}
