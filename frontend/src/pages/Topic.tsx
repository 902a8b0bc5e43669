import { type ReactNode, useState } from "react";
import { api } from "../api/client";
import type { AccessGrant, TopicDetail, TopicState } from "../api/types";
import { DriftPanel } from "../components/DriftPanel";
import { MigrateTopic } from "../components/MigrateTopic";
import { RequestAccess } from "../components/RequestAccess";
import { AddPartitions, DeleteTopic, EditConfig, RevokeGrant } from "../components/TopicActions";
import { RequestTable } from "../components/RequestTable";
import { topicStatusTone } from "../components/TopicTable";
import { Badge, Banner, EmptyState, ErrorState, Loading, PageHeader, Time, errorMessage } from "../components/ui";
import { useAsync, useSession, useTitle } from "../hooks";
import { canStartMigration, migrationTargets } from "../lib/migration";
import { routes } from "../lib/route";
import { formatConfigValue } from "../lib/units";
import { principalName } from "../lib/validation";
import { Link } from "../router";

export function TopicPage({ cluster, name }: { cluster: string; name: string }) {
  useTitle(name);
  const session = useSession();
  const topic = useAsync((signal) => api.topic(cluster, name, signal), [cluster, name]);
  const clusters = useAsync((signal) => api.clusters(signal), []);
  const [moving, setMoving] = useState(false);
  const [revoking, setRevoking] = useState<AccessGrant | null>(null);

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
  const owner = session.platform_admin || session.roles.includes(`${data.owner_team}:owner`);
  const gone = data.status === "deleted" || data.status === "deleting" || data.status === "quarantined";
  // A member of the owning team changes the topic (the server decides; a file-managed topic is the file's).
  const mayChange = (ownTeam || session.platform_admin) && !gone && !data.managed_by;
  const openDrift = data.drift.filter((item) => item.state !== "ignored");

  return (
    <>
      <PageHeader title={<span className="mono">{data.name}</span>}>
        <Badge tone={topicStatusTone(data.status)} testId="topic-status">{data.status ?? "unknown"}</Badge>
        {openDrift.length && data.status !== "drifted" ? <Badge tone="warning" testId="topic-drifted">drifted</Badge> : null}
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

      <LifecycleBanner topic={data} mayRestore={owner} onRestored={topic.reload} />

      <section className="card" aria-labelledby="state-heading" data-testid="topic-state">
        <h2 id="state-heading">{data.status === "deleted" ? "Last desired state" : "Desired and observed"}</h2>
        <StateTable desired={data.desired} observed={data.observed} />
        <p className="muted small">
          {data.applied_at ? <>Last applied <Time at={data.applied_at} />. </> : null}
          {gone ? null : data.generation !== undefined && data.observed_generation !== undefined ? (
            data.observed_generation < data.generation ? "A change is still on its way to the cluster."
              : openDrift.length ? `The cluster had every change, but differs now: see Drift (${openDrift.length}).`
                : "The cluster has every change."
          ) : null}
        </p>
      </section>

      {data.status === "deleted" ? null : <section className="card" aria-labelledby="drift-heading" data-testid="topic-drift">
        <h2 id="drift-heading">Drift</h2>
        <DriftPanel cluster={data.cluster} drift={data.drift} scannedAt={data.drift_scanned_at} mayTriage={owner}
          onChanged={topic.reload} />
      </section>}

      {mayChange ? <TopicActionsCard topic={data} /> : null}

      {!gone && canStartMigration(session, data.cluster, clusters.data?.items ?? []) ? (
        <section className="card" aria-labelledby="migrate-heading" data-testid="topic-migrate">
          <h2 id="migrate-heading">Move to my team's cluster</h2>
          <p className="muted">
            {data.cluster} is owned by another team. Move this topic to a cluster your team owns: it is mirrored with
            the same name, partitions and configs, and its clients cut over step by step.
          </p>
          <button type="button" className="button" aria-expanded={moving} data-testid="migrate-open"
            onClick={() => setMoving((open) => !open)}>Move to my team's cluster</button>
          {moving ? <MigrateTopic topic={data} targets={migrationTargets(session, data.cluster, clusters.data?.items ?? [])} /> : null}
        </section>
      ) : null}

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
                  {mayChange ? <th scope="col"><span className="visually-hidden">Actions</span></th> : null}
                </tr>
              </thead>
              <tbody>
                {data.access_grants.map((grant) => (
                  <tr key={`${grant.principal}-${grant.access}-${grant.group ?? ""}`} data-testid="grant-row"
                    data-principal={grant.principal} data-access={grant.access}>
                    <td data-label="Service account" className="mono">{principalName(grant.principal)}</td>
                    <td data-label="Access">{grant.access}</td>
                    <td data-label="Group" className="mono">
                      {grant.group && grant.group_pattern === "prefixed"
                        ? <span title={`every group whose name starts with ${grant.group}`}>{grant.group}*</span>
                        : grant.group ?? grant.transactional_id ?? "–"}
                    </td>
                    <td data-label="Team">
                      {grant.team ?? "–"}
                      {grant.managed_by ? <div className="small muted mono">file: {grant.managed_by}</div> : null}
                    </td>
                    <td data-label="State">
                      <Badge tone={topicStatusTone(grant.status)}>{grant.status ?? "unknown"}</Badge>
                      {grant.last_error ? <div className="small danger-text">{grant.last_error}</div> : null}
                    </td>
                    {mayChange ? (
                      <td data-label="Actions">
                        {grant.managed_by ? null : (
                          <button type="button" className="button button-small" data-testid="revoke-open"
                            onClick={() => setRevoking(grant)}>Revoke</button>
                        )}
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <EmptyState title="Nobody has access through a grant yet." />
        )}
        {revoking ? (
          <div className="action-panel" data-testid="revoke-panel">
            <h3>Revoke access <button type="button" className="button-quiet" onClick={() => setRevoking(null)} aria-label="Close">×</button></h3>
            <RevokeGrant key={`${revoking.principal}-${revoking.access}-${revoking.group ?? ""}`} topic={data} grant={revoking} />
          </div>
        ) : null}
      </section>

      {gone ? null : <section className="card" aria-labelledby="access-heading" data-testid="request-access">
        <h2 id="access-heading">Request access</h2>
        <p className="muted">
          {ownTeam
            ? "Your team owns this topic; you can still give one of your service accounts access here."
            : `${data.owner_team} decides on access to its topics. You will see the request's progress on its page.`}
        </p>
        <RequestAccess topic={data} />
      </section>}

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

type ActionTab = "config" | "partitions" | "delete";

/** The owner team's day-2 changes, one at a time, each through the live policy preview. */
function TopicActionsCard({ topic }: { topic: TopicDetail }) {
  const [tab, setTab] = useState<ActionTab | null>(null);
  const tabs: Array<[ActionTab, string]> = [["config", "Edit configs"], ["partitions", "Add partitions"], ["delete", "Delete topic"]];
  return (
    <section className="card" aria-labelledby="actions-heading" data-testid="topic-actions">
      <h2 id="actions-heading">Change this topic</h2>
      <div className="button-row" role="group" aria-label="Changes">
        {tabs.map(([id, label]) => (
          <button key={id} type="button" className={`button${id === "delete" ? " button-danger" : ""}`} aria-pressed={tab === id}
            data-testid={`action-${id}`} onClick={() => setTab(tab === id ? null : id)}>{label}</button>
        ))}
      </div>
      {tab === "config" ? <EditConfig topic={topic} /> : null}
      {tab === "partitions" ? <AddPartitions topic={topic} /> : null}
      {tab === "delete" ? <DeleteTopic topic={topic} /> : null}
    </section>
  );
}

/** Quarantined (restorable until the grace ends), being deleted, or deleted: who and when. */
function LifecycleBanner({ topic, mayRestore, onRestored }: { topic: TopicDetail; mayRestore: boolean; onRestored: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const deletion = topic.deletion;
  if (topic.status !== "quarantined" && topic.status !== "deleting" && topic.status !== "deleted") return null;
  const restore = async () => {
    setBusy(true);
    setError(null);
    try {
      await api.restoreTopic(topic.cluster, topic.name);
      onRestored();
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(false);
    }
  };
  const who = deletion ? (
    <>
      Deletion requested by <strong>{deletion.requested_by ?? "unknown"}</strong>
      {deletion.approved_by.length ? <>, approved by <strong>{deletion.approved_by.join(", ")}</strong></> : deletion.decided_by === "policy" ? ", auto-approved by policy" : null}
      {" "}(<Link to={routes.request(deletion.request_id)}>request</Link>).
    </>
  ) : null;
  return (
    <Banner tone={topic.status === "quarantined" ? "warning" : "neutral"} testId="topic-lifecycle"
      title={topic.status === "quarantined" ? "Quarantined: access removed, data kept"
        : topic.status === "deleting" ? "Being deleted" : "Deleted"}>
      <p>
        {topic.status === "quarantined" && topic.quarantined_until ? <>The topic is deleted after <Time at={topic.quarantined_until} /> unless restored. </> : null}
        {topic.status === "deleted" && topic.deleted_at ? <>The cluster confirmed it gone on <Time at={topic.deleted_at} />. </> : null}
        {who}
      </p>
      {topic.status === "quarantined" && topic.quarantined_grants?.length ? (
        <p className="small">A restore brings back: {topic.quarantined_grants.map((g) => `${principalName(g.principal)} (${g.access})`).join(", ")}.</p>
      ) : null}
      {topic.status === "quarantined" && mayRestore ? (
        <button type="button" className="button" disabled={busy} onClick={restore} data-testid="restore-topic">
          {busy ? "Restoring…" : "Undo: restore the topic"}
        </button>
      ) : null}
      {error ? <p className="danger-text">{error}</p> : null}
    </Banner>
  );
}
