import type { Migration, MigrationGroup, MigrationPlan, MigrationVerification, TeamAction } from "../api/types";
import {
  checkResultWords,
  checkWords,
  nextForwardStep,
  ownActionsFirst,
  roleWords,
  stepLabel,
  stepMeaning,
  timelineState,
  timelineStatusWords,
} from "../lib/migration";
import type { Caller } from "../lib/permissions";
import { formatNumber } from "../lib/units";
import { Badge, Time } from "./ui";

/** The forward steps, each with when it was entered and its gate; the next gate's checks pass/fail in words. */
export function MigrationTimeline({ migration }: { migration: Migration }) {
  const next = nextForwardStep(migration.step);
  const gate = migration.gate ?? null;
  return (
    <ol className="timeline" data-testid="migration-timeline">
      {migration.steps.map((entry) => {
        const state = timelineState(entry.status, entry.step);
        const upcoming = entry.step === next && entry.status === "next";
        const checks = upcoming && gate ? gate : entry.gate;
        return (
          <li key={entry.step} className={`step step-${state}`} data-step={entry.step} data-status={entry.status}
            aria-current={entry.status === "current" ? "step" : undefined} data-testid="migration-timeline-step">
            <span className="step-dot" aria-hidden="true" />
            <div>
              <div className="step-label">
                {stepLabel(entry.step)}{" "}
                <span className="small muted step-status">({timelineStatusWords(entry.status, entry.entered_at)})</span>
              </div>
              <div className="step-detail small">{stepMeaning(entry.step)}</div>
              {entry.entered_at ? <div className="step-time muted small">Entered <Time at={entry.entered_at} /></div> : null}
              {checks.length && entry.step !== "planned" ? (
                <div className="gate">
                  <div className="small gate-title">
                    {upcoming ? "Moves on when:" : entry.status === "done" ? "Passed on entry:" : "Needs:"}
                  </div>
                  <ul className="gate-checks" data-testid={upcoming ? "next-gate" : undefined}>
                    {checks.map((check) => {
                      const result = upcoming && gate ? checkResultWords(check, migration.facts) : null;
                      const tone = check.passes === true ? "pass" : check.passes === false ? "fail" : "unknown";
                      return (
                        <li key={`${check.fact}-${check.op}`} className={upcoming && gate ? `check check-${tone}` : "check check-plain"}
                          data-fact={check.fact} data-passes={upcoming && gate ? String(check.passes ?? false) : undefined}>
                          <span className="check-mark" aria-hidden="true">
                            {upcoming && gate ? (check.passes ? "✓" : "✗") : "·"}
                          </span>
                          <span>
                            {checkWords(check)}
                            {result ? <span className="small muted"> — {result}</span> : null}
                          </span>
                        </li>
                      );
                    })}
                  </ul>
                  {upcoming && gate && migration.facts_at ? (
                    <div className="muted small">Measured <Time at={migration.facts_at} /></div>
                  ) : null}
                </div>
              ) : null}
            </div>
          </li>
        );
      })}
      {migration.step === "rolled_back" || migration.step === "failed" ? (
        <li className="step step-failed" data-step={migration.step} data-status="current" aria-current="step"
          data-testid="migration-timeline-step">
          <span className="step-dot" aria-hidden="true" />
          <div>
            <div className="step-label">{stepLabel(migration.step)}</div>
            <div className="step-detail small">{stepMeaning(migration.step)}</div>
            {migration.history.length ? (
              <div className="muted small">
                <Time at={migration.history[migration.history.length - 1]?.at} />
                {migration.history[migration.history.length - 1]?.reason
                  ? <> — {migration.history[migration.history.length - 1]?.reason}</> : null}
              </div>
            ) : null}
          </div>
        </li>
      ) : null}
    </ol>
  );
}

/** "What each team must do now": the viewer's own teams first and highlighted. */
export function TeamActions({ actions, caller }: { actions: TeamAction[] | null; caller: Caller }) {
  if (!actions) return <p className="muted">The driver has not said yet; this fills in as the migration moves.</p>;
  if (actions.length === 0) return <p className="muted">Nothing for any team right now.</p>;
  return (
    <ul className="team-actions">
      {ownActionsFirst(actions, caller).map((action) => {
        const mine = caller.teams.includes(action.team);
        return (
          <li key={`${action.team}-${action.role}`} className={mine ? "team-action team-action-mine" : "team-action"}
            data-testid="team-action" data-team={action.team} data-role={action.role} data-done={String(action.done)}>
            <div className="team-action-head">
              <strong>{action.team}</strong> <span className="muted small">{roleWords(action.role)}</span>
              {mine ? <Badge tone="info">your team</Badge> : null}
              {/* done: nothing due in this step; lines may still say what to prepare for the next. */}
              {action.done ? <Badge tone="success">{action.now.length ? "nothing due yet" : "nothing to do"}</Badge>
                : <Badge tone="warning">to do now</Badge>}
            </div>
            {action.now.length ? (
              <ul className="team-action-now">
                {action.now.map((line) => <li key={line}>{line}</li>)}
              </ul>
            ) : null}
          </li>
        );
      })}
    </ul>
  );
}

function yesNo(value: boolean | null | undefined) {
  if (value === null || value === undefined) return <span className="muted">not measured</span>;
  return value ? <Badge tone="success">yes</Badge> : <Badge tone="warning">not yet</Badge>;
}

function count(value: number | null | undefined) {
  return value === null || value === undefined ? <span className="muted">–</span> : formatNumber(value);
}

/** The moved groups on both sides; before the driver measures them, the plan's groups. */
export function GroupsTable({ groups, plan }: { groups: MigrationGroup[] | null; plan: MigrationPlan | null }) {
  const rows: MigrationGroup[] = groups ?? (plan?.consumer_groups ?? []).map((g) => ({ group: g.group, team: g.team,
    source_members: g.members, target_members: null, offsets_translated: null }));
  if (rows.length === 0) return <p className="muted">No consumer groups move with these topics.</p>;
  return (
    <div className="table-wrap">
      <table className="table stack" data-testid="groups-table">
        <caption className="visually-hidden">Consumer groups moving with the topics</caption>
        <thead>
          <tr>
            <th scope="col">Group</th>
            <th scope="col">Team</th>
            <th scope="col" className="num">Members on the source</th>
            <th scope="col" className="num">Members on the target</th>
            <th scope="col">Offsets translated</th>
            <th scope="col">Ready on the target</th>
            <th scope="col">Translation</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((g) => (
            <tr key={g.group} data-testid="group-row" data-group={g.group}>
              <th scope="row" data-label="Group" className="mono">{g.group}</th>
              <td data-label="Team">{g.team ?? <span className="muted">unknown</span>}</td>
              <td data-label="On the source" className="num">{count(g.source_members)}</td>
              <td data-label="On the target" className="num">{count(g.target_members)}</td>
              <td data-label="Offsets translated">{yesNo(g.offsets_translated)}</td>
              <td data-label="Ready on the target" data-testid="group-ready">{yesNo(g.ready_on_target)}</td>
              <td data-label="Translation" title={g.translation_note || undefined}>
                {g.translation ?? <span className="muted">not measured</span>}
                {g.translation_note ? <div className="muted">{g.translation_note}</div> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function mismatchWords(mismatch: string | Record<string, unknown>): string {
  if (typeof mismatch === "string") return mismatch;
  const where = mismatch.topic !== undefined ? `${String(mismatch.topic)}[${String(mismatch.partition ?? "?")}]` : "";
  const why = mismatch.reason ?? mismatch.message ?? JSON.stringify(mismatch);
  return where ? `${where}: ${String(why)}` : String(why);
}

/** Nothing lost: per partition the counts on both sides and the sampled records compared byte for byte. */
export function VerificationView({ verification }: { verification: MigrationVerification | null }) {
  if (!verification) {
    return <p className="muted" data-testid="verification-pending">
      Not verified yet: before producers switch, every partition's record counts are compared and sampled records
      checked byte for byte.
    </p>;
  }
  return (
    <div data-testid="verification" data-passed={String(verification.passed)}>
      <p>
        <Badge tone={verification.passed ? "success" : "danger"} testId="verification-result">
          {verification.passed ? "passed" : "failed"}
        </Badge>{" "}
        {verification.passed ? "Every partition has the same records on both sides." : "Some partitions differ; producers do not switch."}
        {" "}<span className="muted small">Checked <Time at={verification.at} /></span>
      </p>
      {verification.mismatches.length ? (
        <ul className="danger-text" data-testid="verification-mismatches">
          {verification.mismatches.map((m, index) => <li key={index}>{mismatchWords(m)}</li>)}
        </ul>
      ) : null}
      <div className="table-wrap">
        <table className="table stack">
          <caption className="visually-hidden">Record counts per partition on the source and the target</caption>
          <thead>
            <tr>
              <th scope="col">Partition</th>
              <th scope="col" className="num">Source records</th>
              <th scope="col" className="num">Target records</th>
              <th scope="col" className="num">Sampled</th>
              <th scope="col">Identical</th>
            </tr>
          </thead>
          <tbody>
            {verification.partitions.map((p) => (
              <tr key={`${p.topic}-${p.partition}`} className={p.identical && p.source_count === p.target_count ? undefined : "row-drift"}>
                <th scope="row" data-label="Partition" className="mono">{p.topic}[{p.partition}]</th>
                <td data-label="Source records" className="num">{formatNumber(p.source_count)}</td>
                <td data-label="Target records" className="num">{formatNumber(p.target_count)}</td>
                <td data-label="Sampled" className="num">{formatNumber(p.sampled)}</td>
                <td data-label="Identical">{p.identical ? <Badge tone="success">yes</Badge> : <Badge tone="danger">no</Badge>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
