import { type FormEvent, useEffect, useState } from "react";
import { api } from "../api/client";
import type { AuditEvent, AuditVerification } from "../api/types";
import { Badge, Banner, EmptyState, ErrorState, LoadMore, Loading, PageHeader, Time, errorMessage } from "../components/ui";
import { type AsyncState, useAsync, usePaged, useTitle } from "../hooks";
import {
  ACTION_FAMILIES,
  type AuditFilters,
  auditFiltersToApi,
  auditFiltersToQuery,
  downloadName,
  isAuditFiltered,
  NO_AUDIT_FILTERS,
  parseAuditFilters,
  requestIdIn,
  subjectLink,
} from "../lib/auditFilters";
import { routes } from "../lib/route";
import { Link, navigate, useLocation } from "../router";

const PAGE_SIZE = 50;
// A download reads the filtered view page by page; past this many events, narrow the filters.
const DOWNLOAD_PAGE = 500;
const DOWNLOAD_MAX_PAGES = 40;

export function AuditPage() {
  useTitle("Audit log");
  const { query } = useLocation();
  const filters = parseAuditFilters(query);
  const key = JSON.stringify(filters);
  const verification = useAsync((signal) => api.verifyAudit(signal), []);
  const events = usePaged((cursor, signal) => api.audit({ ...auditFiltersToApi(filters), limit: PAGE_SIZE, cursor }, signal),
    [key]);
  const set = (change: Partial<AuditFilters>) =>
    navigate(routes.audit(auditFiltersToQuery({ ...filters, ...change })), { replace: true });

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
      <AuditFilterForm key={key} filters={filters} onChange={set} />
      <DownloadButton filters={filters} />
      {events.loading && events.items.length === 0 ? <Loading label="Loading events…" /> : events.error ? (
        <ErrorState error={events.error} onRetry={events.reload} what="the audit log" />
      ) : events.items.length === 0 ? (
        <EmptyState title={isAuditFiltered(filters) ? "No event matches these filters." : "No events yet."}
          testId="audit-empty" />
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
                <tr key={event.id} data-testid="audit-row" data-action={event.action} data-subject={event.subject}>
                  <td data-label="When"><Time at={event.occurred_at} /></td>
                  <td data-label="Action"><code>{event.action}</code></td>
                  <td data-label="Subject" className="mono break"><Subject subject={event.subject} /></td>
                  <td data-label="Actor" className="actor break">{event.actor}</td>
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

function AuditFilterForm({ filters, onChange }: { filters: AuditFilters; onChange: (change: Partial<AuditFilters>) => void }) {
  // Typed fields apply on Enter or "Apply"; choices apply at once.
  const [subject, setSubject] = useState(filters.subject);
  const [request, setRequest] = useState(filters.request);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onChange({ subject: subject.trim(), request: request.trim() });
  };
  return (
    <form className="filters card" role="search" aria-label="Filter the audit log" onSubmit={submit}
      data-testid="audit-filters">
      <div className="field">
        <label htmlFor="audit-subject">Subject or actor</label>
        <input id="audit-subject" type="search" value={subject} placeholder="bob, token:payments/ci, topic:…"
          data-testid="audit-filter-subject" onChange={(event) => setSubject(event.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="audit-request">Request id</label>
        <input id="audit-request" type="search" value={request} className="mono" spellCheck={false}
          data-testid="audit-filter-request" onChange={(event) => setRequest(event.target.value)} />
      </div>
      <div className="field">
        <label htmlFor="audit-action">Action</label>
        <select id="audit-action" value={filters.action} data-testid="audit-filter-action"
          onChange={(event) => onChange({ action: event.target.value })}>
          <option value="">Any action</option>
          {[...new Set([...ACTION_FAMILIES, ...(filters.action ? [filters.action] : [])])].map((action) => (
            <option key={action} value={action}>{action.includes(":") ? action : `${action}:*`}</option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="audit-since">Since</label>
        <input id="audit-since" type="date" value={filters.since.slice(0, 10)} data-testid="audit-filter-since"
          onChange={(event) => onChange({ since: event.target.value })} />
      </div>
      <div className="field field-checkbox">
        <label htmlFor="audit-logins">
          <input id="audit-logins" type="checkbox" checked={filters.showLogins} data-testid="audit-show-logins"
            onChange={(event) => onChange({ showLogins: event.target.checked })} />{" "}
          Show logins and logouts
        </label>
      </div>
      <div className="filters-actions">
        <button type="submit" className="button" data-testid="audit-apply">Apply</button>
        {isAuditFiltered(filters) ? (
          <button type="button" className="button button-quiet" data-testid="audit-clear"
            onClick={() => { setSubject(""); setRequest(""); onChange({ ...NO_AUDIT_FILTERS, showLogins: filters.showLogins }); }}>
            Clear
          </button>
        ) : null}
      </div>
    </form>
  );
}

function DownloadButton({ filters }: { filters: AuditFilters }) {
  const [state, setState] = useState<{ busy: boolean; error: string | null; truncated: boolean }>(
    { busy: false, error: null, truncated: false });
  useEffect(() => setState({ busy: false, error: null, truncated: false }), [JSON.stringify(filters)]);
  const download = async () => {
    setState({ busy: true, error: null, truncated: false });
    try {
      const items: AuditEvent[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page = await api.audit({ ...auditFiltersToApi(filters), limit: DOWNLOAD_PAGE, cursor });
        items.push(...page.items);
        cursor = page.next_cursor;
        pages += 1;
      } while (cursor && pages < DOWNLOAD_MAX_PAGES);
      const body = JSON.stringify({ filters: auditFiltersToApi(filters), exported_at: new Date().toISOString(),
        complete: !cursor, items }, null, 2);
      const url = URL.createObjectURL(new Blob([body], { type: "application/json" }));
      const link = document.createElement("a");
      link.href = url;
      link.download = downloadName(filters);
      document.body.append(link);
      link.click();
      link.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 1000);
      setState({ busy: false, error: null, truncated: Boolean(cursor) });
    } catch (error) {
      setState({ busy: false, error: errorMessage(error), truncated: false });
    }
  };
  return (
    <div className="button-row audit-download">
      <button type="button" className="button button-small" onClick={() => void download()} disabled={state.busy}
        data-testid="audit-download">
        {state.busy ? "Preparing…" : "Download these events as JSON"}
      </button>
      {state.truncated ? (
        <span className="small muted">The file holds the newest {DOWNLOAD_PAGE * DOWNLOAD_MAX_PAGES} events; narrow the
          filters for the rest.</span>
      ) : null}
      {state.error ? <Banner title="The download failed">{state.error}</Banner> : null}
    </div>
  );
}

function Subject({ subject }: { subject: string }) {
  const to = subjectLink(subject);
  return to ? <Link to={to}>{subject}</Link> : <>{subject}</>;
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
  const linked = requestIdIn(data);
  if (linked && !event.subject.startsWith("request:")) {
    return (
      <span className="small">
        request <Link to={routes.request(linked)}>{linked}</Link>
        {Object.keys(data).length > 1 ? <> · <RawDetails data={data} /></> : null}
      </span>
    );
  }
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
  return <RawDetails data={data} />;
}

function RawDetails({ data }: { data: Record<string, unknown> }) {
  return (
    <details className="raw">
      <summary>{Object.keys(data).length} fields</summary>
      <pre>{JSON.stringify(data, null, 2)}</pre>
    </details>
  );
}
