import type { ReactNode } from "react";
import { api } from "../api/client";
import type { DriftItem, TopicState } from "../api/types";
import { RequestAccess } from "../components/RequestAccess";
import { RequestTable } from "../components/RequestTable";
import { topicStatusTone } from "../components/TopicTable";
import { Badge, EmptyState, ErrorState, Loading, PageHeader, Time } from "../components/ui";
import { useAsync, useSession, useTitle } from "../hooks";
import { routes } from "../lib/route";
import { formatConfigValue } from "../lib/units";
import { principalName } from "../lib/validation";
import { Link } from "../router";

export function TopicPage({ cluster, name }: { cluster: string; name: string }) {
  useTitle(name);
  const session = useSession();
  const topic = useAsync((signal) => api.topic(cluster, name, signal), [cluster, name]);

  if (topic.loading && !topic.data) {
    return (
      <>
        <PageHeader title={name} />
        <Loading label="Loading the topic…" />
      </>
    );
  }
  if (topic.error || !topic.data) {
    return (
      <>
        <PageHeader title={name} />
        <ErrorState error={topic.error} onRetry={topic.reload} what={`Topic ${name} on ${cluster}`} />
        <p><Link to={routes.topics()}>Back to the catalogue</Link></p>
      </>
    );
  }
  const data = topic.data;
  const ownTeam = session.teams.includes(data.owner_team);

  return (
    <>
      <PageHeader title={<span className="mono">{data.name}</span>}>
        <Badge tone={topicStatusTone(data.status)} testId="topic-status">{data.status ?? "unknown"}</Badge>
      </PageHeader>
      <p className="lede">
        On <strong>{data.cluster}</strong>, owned by <strong>{data.owner_team}</strong>.
        {data.description ? <> {data.description}</> : null}
      </p>
      {data.managed_by ? (
        <p className="muted small" data-testid="topic-managed-by">
          Managed by desired-state file <span className="mono">{data.managed_by}</span>: change it there; the portal
          cannot.
        </p>
      ) : null}
      {data.last_error ? (
        <div className="banner banner-danger" role="alert">
          <strong className="banner-title">The last apply failed</strong> {data.last_error}
        </div>
      ) : null}

      <section className="card" aria-labelledby="state-heading" data-testid="topic-state">
        <h2 id="state-heading">Desired and observed</h2>
        <StateTable desired={data.desired} observed={data.observed} />
        <p className="muted small">
          {data.applied_at ? <>Last applied <Time at={data.applied_at} />. </> : null}
          {data.generation !== undefined && data.observed_generation !== undefined ? (
            data.observed_generation >= data.generation ? "The cluster has every change." : "A change is still on its way to the cluster."
          ) : null}
        </p>
      </section>

      <section className="card" aria-labelledby="drift-heading" data-testid="topic-drift">
        <h2 id="drift-heading">Drift</h2>
        <DriftList drift={data.drift} scannedAt={data.drift_scanned_at} />
      </section>

      <section className="card" aria-labelledby="grants-heading" data-testid="topic-grants">
        <h2 id="grants-heading">Access grants</h2>
        {data.access_grants.length ? (
          <div className="table-wrap">
            <table className="table stack">
              <caption className="visually-hidden">Who may produce to or consume from {data.name}</caption>
              <thead>
                <tr>
                  <th scope="col">Service account</th>
                  <th scope="col">Access</th>
                  <th scope="col">Group / transactional id</th>
                  <th scope="col">Team</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {data.access_grants.map((grant) => (
                  <tr key={`${grant.principal}-${grant.access}-${grant.group ?? ""}`} data-testid="grant-row"
                    data-principal={grant.principal} data-access={grant.access}>
                    <td data-label="Service account" className="mono">{principalName(grant.principal)}</td>
                    <td data-label="Access">{grant.access}</td>
                    <td data-label="Group" className="mono">{grant.group ?? grant.transactional_id ?? "–"}</td>
                    <td data-label="Team">
                      {grant.team ?? "–"}
                      {grant.managed_by ? <div className="small muted mono">file: {grant.managed_by}</div> : null}
                    </td>
                    <td data-label="State">
                      <Badge tone={topicStatusTone(grant.status)}>{grant.status ?? "unknown"}</Badge>
                      {grant.last_error ? <div className="small danger-text">{grant.last_error}</div> : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <EmptyState title="Nobody has access through a grant yet." />
        )}
      </section>

      <section className="card" aria-labelledby="access-heading" data-testid="request-access">
        <h2 id="access-heading">Request access</h2>
        <p className="muted">
          {ownTeam
            ? "Your team owns this topic; you can still give one of your service accounts access here."
            : `${data.owner_team} decides on access to its topics. You will see the request's progress on its page.`}
        </p>
        <RequestAccess topic={data} />
      </section>

      <section className="section" aria-labelledby="history-heading" data-testid="topic-history">
        <h2 id="history-heading">History</h2>
        {data.history.length ? (
          <RequestTable requests={data.history} caption={`Requests about ${data.name}`} />
        ) : (
          <EmptyState title="No requests about this topic." />
        )}
      </section>
    </>
  );
}

function configValue(key: string, value: string | null | undefined): ReactNode {
  if (value === undefined || value === null) return <span className="muted">default</span>;
  const words = formatConfigValue(key, value);
  // The words first; Kafka's raw value stays on hover and for copying into a client config.
  return words === value ? value : <span title={`${key}=${value}`}>{words}</span>;
}

function StateTable({ desired, observed }: { desired: TopicState; observed: TopicState | null | undefined }) {
  const keys = [...new Set([...Object.keys(desired.config ?? {}), ...Object.keys(observed?.config ?? {})])].sort();
  const rows: Array<{ key: string; desired: ReactNode; observed: ReactNode; same: boolean | null }> = [
    { key: "partitions", desired: desired.partitions, observed: observed?.partitions,
      same: observed ? observed.partitions === desired.partitions : null },
    { key: "replication factor", desired: desired.replication_factor, observed: observed?.replication_factor,
      same: observed ? observed.replication_factor === desired.replication_factor : null },
    ...keys.map((key) => {
      const want = desired.config?.[key];
      const got = observed?.config?.[key];
      return { key, desired: configValue(key, want), observed: observed ? configValue(key, got) : undefined,
        same: observed && want !== undefined ? want === got : null };
    }),
  ];
  return (
    <div className="table-wrap">
      <table className="table stack state-table">
        <caption className="visually-hidden">Desired configuration against what the cluster reports</caption>
        <thead>
          <tr>
            <th scope="col">Setting</th>
            <th scope="col">Desired</th>
            <th scope="col">Observed</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.key} className={row.same === false ? "row-drift" : undefined}>
              <th scope="row" data-label="Setting" className="mono">{row.key}</th>
              <td data-label="Desired">{row.desired}</td>
              <td data-label="Observed">
                {observed ? row.observed ?? <span className="muted">default</span> : <span className="muted">not reported</span>}
                {row.same === false ? <Badge tone="warning">differs</Badge> : null}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function DriftList({ drift, scannedAt }: { drift: DriftItem[]; scannedAt?: string | null | undefined }) {
  if (!drift.length) {
    return (
      <p data-testid="no-drift">
        {scannedAt ? <>No drift at the last scan (<Time at={scannedAt} />).</> : "No drift found; the cluster has not been scanned yet."}
      </p>
    );
  }
  return (
    <>
      <ul className="drift" data-testid="drift-list">
        {drift.map((item, index) => {
          const what = item.field ?? item.kind ?? item.resource ?? "difference";
          const observed = item.observed ?? item.actual;
          return (
            <li key={index} data-testid="drift-item">
              <Badge tone="warning">{String(what)}</Badge>{" "}
              {item.message ? <span>{item.message}</span> : null}
              {item.desired !== undefined || observed !== undefined ? (
                <span className="muted">
                  {" "}desired <code>{JSON.stringify(item.desired ?? null)}</code>, observed <code>{JSON.stringify(observed ?? null)}</code>
                </span>
              ) : null}
            </li>
          );
        })}
      </ul>
      {scannedAt ? <p className="muted small">Scanned <Time at={scannedAt} />.</p> : null}
    </>
  );
}
