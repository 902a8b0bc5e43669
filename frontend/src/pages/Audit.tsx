import { api } from "../api/client";
import type { AuditEvent, AuditVerification } from "../api/types";
import { Badge, Banner, EmptyState, ErrorState, LoadMore, Loading, PageHeader, Time, errorMessage } from "../components/ui";
import { type AsyncState, useAsync, usePaged, useTitle } from "../hooks";

export function AuditPage() {
  useTitle("Audit log");
  const verification = useAsync((signal) => api.verifyAudit(signal), []);
  const events = usePaged((cursor, signal) => api.audit({ limit: 50, cursor }, signal), []);

  return (
    <>
      <PageHeader title="Audit log">
        <VerifyBadge state={verification} />
      </PageHeader>
      <p className="lede">
        Every decision, approval, change and login, newest first. Each event carries the hash of the one before it, so
        a changed or removed event breaks the chain.
      </p>
      {verification.data && !verification.data.ok ? (
        <Banner title="The audit chain is broken" testId="audit-broken">
          The first event that does not match its hash is <code>{verification.data.first_bad ?? "unknown"}</code>
          {verification.data.problem ? <>: {verification.data.problem}</> : "."}
        </Banner>
      ) : null}
      {events.loading && events.items.length === 0 ? <Loading label="Loading events…" /> : events.error ? (
        <ErrorState error={events.error} onRetry={events.reload} what="the audit log" />
      ) : events.items.length === 0 ? (
        <EmptyState title="No events yet." testId="audit-empty" />
      ) : (
        <div className="table-wrap">
          <table className="table stack" data-testid="audit-table">
            <caption className="visually-hidden">Audit events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Action</th>
                <th scope="col">Subject</th>
                <th scope="col">Actor</th>
                <th scope="col">Team</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {events.items.map((event) => (
                <tr key={event.id} data-testid="audit-row" data-action={event.action}>
                  <td data-label="When"><Time at={event.occurred_at} /></td>
                  <td data-label="Action"><code>{event.action}</code></td>
                  <td data-label="Subject" className="mono break">{event.subject}</td>
                  <td data-label="Actor" className="actor">{event.actor}</td>
                  <td data-label="Team">{event.team ?? "–"}</td>
                  <td data-label="Details"><EventDetails event={event} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {events.moreError ? <Banner title="Could not load more">{errorMessage(events.moreError)}</Banner> : null}
      <LoadMore cursor={events.cursor} loading={events.loadingMore} onMore={events.loadMore} label="Older events" />
    </>
  );
}

function VerifyBadge({ state }: { state: AsyncState<AuditVerification> }) {
  if (state.loading && !state.data) {
    return <span className="muted" role="status" data-testid="audit-verify" data-state="checking">Verifying the chain…</span>;
  }
  if (state.error || !state.data) {
    return (
      <span data-testid="audit-verify" data-state="error">
        <Badge tone="neutral">not verified</Badge>{" "}
        <button type="button" className="button button-small" onClick={state.reload} title={errorMessage(state.error)}>
          Verify again
        </button>
      </span>
    );
  }
  const { ok, events, head } = state.data;
  return (
    <span data-testid="audit-verify" data-state={ok ? "verified" : "broken"} data-ok={String(ok)}>
      <Badge tone={ok ? "success" : "danger"}>{ok ? "✓ Chain verified" : "✗ Chain broken"}</Badge>
      <span className="muted small verify-meta">
        {" "}{formatCount(events)} events{head ? <>, head <code title={head}>{head.slice(0, 12)}</code></> : null}
      </span>
    </span>
  );
}

function formatCount(n: number): string {
  return new Intl.NumberFormat("en-US").format(n);
}

function EventDetails({ event }: { event: AuditEvent }) {
  const data = event.data && Object.keys(event.data).length ? event.data : null;
  if (!data) return <span className="muted">–</span>;
  const entries = Object.entries(data);
  const simple = entries.every(([, v]) => v === null || ["string", "number", "boolean"].includes(typeof v));
  if (simple && entries.length <= 4) {
    return (
      <span className="small">
        {entries.map(([k, v], i) => (
          <span key={k}>{i ? " · " : ""}{k}: <strong>{String(v)}</strong></span>
        ))}
      </span>
    );
  }
  return (
    <details className="raw">
      <summary>{entries.length} fields</summary>
      <pre>{JSON.stringify(data, null, 2)}</pre>
    </details>
  );
}
