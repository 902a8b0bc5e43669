import { api } from "../api/client";
import { CapacityBar } from "../components/CapacityBar";
import { Badge, EmptyState, ErrorState, Loading, PageHeader } from "../components/ui";
import { useAsync, useSession, useTitle } from "../hooks";
import { routes } from "../lib/route";
import { canRequestTopicOn } from "../lib/permissions";
import { formatBytes, formatNumber } from "../lib/units";
import { Link } from "../router";

const ENV_TONE: Record<string, "danger" | "warning" | "info"> = { prod: "danger", staging: "warning", dev: "info" };

export function ClustersPage() {
  useTitle("Clusters");
  const session = useSession();
  const clusters = useAsync((signal) => api.clusters(signal), []);

  return (
    <>
      <PageHeader title="Clusters" />
      <p className="lede">Each cluster belongs to the team that produces into it. Capacity shows what its topics use of the budget.</p>
      {clusters.loading && !clusters.data ? <Loading label="Loading clusters…" /> : clusters.error ? (
        <ErrorState error={clusters.error} onRetry={clusters.reload} what="the clusters" />
      ) : !clusters.data?.items.length ? (
        <EmptyState title="No cluster is registered yet." testId="clusters-empty" />
      ) : (
        <ul className="cluster-grid" data-testid="clusters">
          {clusters.data.items.map((cluster) => {
            const capacity = cluster.capacity ?? null;
            const own = session.teams.includes(cluster.owner_team);
            return (
              <li key={cluster.name} className="card cluster" data-testid="cluster-card" data-cluster={cluster.name}>
                <div className="cluster-header">
                  <h2 className="mono">{cluster.name}</h2>
                  <Badge tone={ENV_TONE[cluster.environment] ?? "neutral"}>{cluster.environment}</Badge>
                </div>
                <dl className="key-values compact">
                  <div><dt>Owner</dt><dd data-testid="cluster-owner">{cluster.owner_team}{own ? " (your team)" : ""}</dd></div>
                  <div><dt>Bootstrap</dt><dd className="mono break">{cluster.bootstrap_servers}</dd></div>
                  <div><dt>Security</dt><dd>{cluster.security_protocol}{cluster.sasl_mechanism ? `, ${cluster.sasl_mechanism}` : ""}</dd></div>
                </dl>
                <h3 className="small-heading">Capacity</h3>
                {capacity ? (
                  <div className="capacity-list">
                    <CapacityBar label="Partitions" used={capacity.partitions_used} budget={capacity.partition_budget}
                      format={formatNumber} testId="capacity-partitions" />
                    <CapacityBar label="Disk" used={capacity.disk_bytes_used} budget={capacity.disk_budget_bytes}
                      format={formatBytes} testId="capacity-disk" />
                  </div>
                ) : (
                  <p className="muted" data-testid="capacity-unknown">Capacity is not reported for this cluster.</p>
                )}
                <div className="button-row">
                  <Link to={routes.topics({ cluster: cluster.name })} className="button button-small">Topics</Link>
                  {canRequestTopicOn(session, cluster.owner_team) ? (
                    <Link to={routes.newTopic(cluster.name)} className="button button-small">New topic</Link>
                  ) : null}
                  <Link to={routes.serviceAccounts(cluster.name)} className="button button-small">Service accounts</Link>
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}
