import { type ReactNode, useEffect, useState } from "react";
import { api, ApiError } from "../api/client";
import type { Migration } from "../api/types";
import { LagHistoryChart, PartitionLagBars } from "../components/LagChart";
import { MigrationActions } from "../components/MigrationActions";
import { MigrationPlanView } from "../components/MigrationPlanView";
import { GroupsTable, MigrationTimeline, TeamActions, VerificationView } from "../components/MigrationParts";
import { Badge, Banner, ErrorState, KeyValues, Loading, PageHeader, Time, errorMessage } from "../components/ui";
import { useAsync, useSession, useTitle } from "../hooks";
import { cleanupWords, isTerminal, measuredLag, stepLabel, stepTone } from "../lib/migration";
import { routes } from "../lib/route";
import { formatNumber } from "../lib/units";
import { Link } from "../router";

export const MIGRATION_POLL_MS = 3000;

/** One migration: its steps, the mirror's lag, what each team must do, verification, and the owners' actions. */
export function MigrationPage({ id }: { id: string }) {
  const session = useSession();
  const clusters = useAsync((signal) => api.clusters(signal), []);
  const [migration, setMigration] = useState<Migration | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [pollError, setPollError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  useTitle(migration ? `Migration ${migration.source_cluster} → ${migration.target_cluster}` : "Migration");

  // Refresh every few seconds until the migration ends; a failed refresh is retried, a 404 stops.
  useEffect(() => {
    let timer: number | undefined;
    let stopped = false;
    let loaded = false;
    const controller = new AbortController();
    const poll = async () => {
      try {
        const next = await api.migration(id, controller.signal);
        if (stopped) return;
        loaded = true;
        setMigration(next);
        setLoadError(null);
        setPollError(null);
        if (isTerminal(next.step)) return;
      } catch (error) {
        if (stopped) return;
        if (!loaded || (error instanceof ApiError && [401, 403, 404].includes(error.status))) {
          setLoadError(error);
          return;
        }
        setPollError(errorMessage(error));
      }
      timer = window.setTimeout(poll, MIGRATION_POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [id, attempt]);

  if (!migration) {
    return (
      <>
        <PageHeader title="Migration" />
        {loadError ? (
          <ErrorState error={loadError} what="This migration" onRetry={() => { setLoadError(null); setAttempt((n) => n + 1); }} />
        ) : <Loading label="Loading the migration…" />}
      </>
    );
  }

  const m = migration;
  const ended = isTerminal(m.step);
  const lag = measuredLag(m.lag) ? m.lag : null;
  return (
    <>
      <PageHeader title={<>{m.source_cluster} → {m.target_cluster}</>} testId="page-title">
        <span aria-live="polite" data-testid="migration-step" data-step={m.step}>
          <span className="visually-hidden">Step: </span>
          <Badge tone={stepTone(m.step)}>{stepLabel(m.step)}</Badge>
        </span>
      </PageHeader>
      <p className="lede">
        Moving <strong className="mono">{m.topics.join(", ") || "no topics"}</strong> for <strong>{m.owner_team}</strong>,
        started <Time at={m.created_at} /> by <Link to={routes.request(m.request_id)}>its request</Link>.{" "}
        {!ended ? <span className="muted" data-testid="live-note">This page updates itself every few seconds.</span> : null}
      </p>
      {pollError ? <Banner tone="warning" title="Lost touch with the server; retrying">{pollError}</Banner> : null}
      {m.last_error ? (
        <Banner tone={m.step === "failed" ? "danger" : "warning"} title={m.step === "failed" ? "The migration failed"
          : "The last step attempt failed; it is retried"} testId="migration-error">
          {m.last_error}
        </Banner>
      ) : null}
      {m.step === "rolled_back" ? (
        <Banner tone="neutral" title="Rolled back" testId="migration-rolled-back">
          The mirror was stopped and producers may write to the source again; the target topics were kept.
        </Banner>
      ) : null}
      {m.step === "done" ? (
        <Banner tone="success" title="Done" testId="migration-done">
          The topics live on {m.target_cluster}; their access on {m.source_cluster} is removed.
        </Banner>
      ) : null}

      <div className="columns">
        <section className="card" aria-labelledby="steps-heading" data-testid="migration-steps">
          <h2 id="steps-heading">Steps</h2>
          <MigrationTimeline migration={m} />
          <MigrationActions migration={m} clusters={clusters.data?.items ?? []} onChanged={setMigration} />
        </section>
        <section className="card" aria-labelledby="teams-heading" data-testid="team-actions">
          <h2 id="teams-heading">What each team must do now</h2>
          <TeamActions actions={m.team_actions ?? null} caller={session} />
        </section>
      </div>

      <section className="card" aria-labelledby="lag-heading" data-testid="migration-lag">
        <h2 id="lag-heading">Mirror and lag</h2>
        <KeyValues rows={[
          ["Mirror", m.mirror ? <span data-testid="mirror-state" data-state={m.mirror.state}>
            {m.mirror.state} <span className="muted">({m.mirror.engine})</span>
            {m.mirror.detail ? <span className="small muted"> — {m.mirror.detail}</span> : null}</span>
            : <span className="muted" data-testid="mirror-state">not started</span>],
          ["Runs as", m.mirror?.principal ? <span data-testid="mirror-principal" data-access={m.mirror.access ?? ""}>
            <code>{m.mirror.principal}</code>{" "}
            <span className="muted">{m.mirror.access === "revoked" ? "(revoked: its ACLs and login are gone)"
              : "(its own least-privilege ACLs on both clusters)"}</span></span> : "–"],
          ...(m.mirror?.cleanup ? [["Cleaned up", <span data-testid="mirror-cleanup">
            {cleanupWords(m.mirror.cleanup.target, "target")}; {cleanupWords(m.mirror.cleanup.source, "source")}
            {m.mirror.cleanup.at ? <> — <Time at={m.mirror.cleanup.at} /></> : null}</span>] as [string, ReactNode]] : []),
          ["Total lag", lag ? <span data-testid="lag-total" data-total={lag.total}>{formatNumber(lag.total)} records</span>
            : <span className="muted">not measured yet</span>],
          ["Largest partition", lag ? `${formatNumber(lag.max)} records` : "–"],
          ["Measured", lag ? <Time at={lag.measured_at} /> : "–"],
        ]} />
        {lag ? (
          <>
            <h3>Lag over time</h3>
            <LagHistoryChart lag={lag} />
            <h3>Per partition</h3>
            <PartitionLagBars lag={lag} />
          </>
        ) : <p className="muted">Lag is measured once mirroring starts.</p>}
      </section>

      <section className="card" aria-labelledby="groups-heading" data-testid="migration-groups">
        <h2 id="groups-heading">Consumer groups</h2>
        <GroupsTable groups={m.groups ?? null} plan={m.plan} />
      </section>

      <section className="card" aria-labelledby="verification-heading" data-testid="migration-verification">
        <h2 id="verification-heading">Verification</h2>
        <VerificationView verification={m.verification} />
      </section>

      <section className="card" aria-labelledby="plan-heading">
        <details>
          <summary><h2 id="plan-heading" className="inline-heading">The approved plan</h2></summary>
          <MigrationPlanView plan={m.plan} />
        </details>
      </section>
    </>
  );
}
