import { api } from "../api/client";
import type { Migration } from "../api/types";
import { Badge, Banner, EmptyState, ErrorState, LoadMore, Loading, PageHeader, Time, errorMessage } from "../components/ui";
import { usePaged, useTitle } from "../hooks";
import { shortList, stepLabel, stepTone } from "../lib/migration";
import { routes } from "../lib/route";
import { Link } from "../router";

const PAGE_SIZE = 50;

/** Topic migrations the caller may see: of their teams (owning the target or the source), all for platform admins. */
export function MigrationsPage() {
  useTitle("Migrations");
  const list = usePaged((cursor, signal) => api.migrations({ limit: PAGE_SIZE, cursor }, signal), []);
  return (
    <>
      <PageHeader title="Migrations" />
      <p className="lede">
        Topics moving from one cluster to another — from the shared monolith to the producing team's own cluster —
        with their step, newest first. A migration starts as a <code>topic.migrate</code> request from the topic's page.
      </p>
      {list.loading && list.items.length === 0 ? <Loading label="Loading migrations…" /> : list.error ? (
        <ErrorState error={list.error} onRetry={list.reload} what="the migrations" />
      ) : list.items.length === 0 ? (
        <EmptyState title="No migrations yet." testId="migrations-empty">
          Open a topic on a shared cluster and choose “Move to my team's cluster”.
        </EmptyState>
      ) : <MigrationTable migrations={list.items} />}
      {list.moreError ? <Banner title="Could not load more">{errorMessage(list.moreError)}</Banner> : null}
      <LoadMore cursor={list.cursor} loading={list.loadingMore} onMore={list.loadMore} label="Older migrations" />
    </>
  );
}

export function MigrationTable({ migrations }: { migrations: Migration[] }) {
  return (
    <div className="table-wrap">
      <table className="table stack" data-testid="migrations-table">
        <caption className="visually-hidden">Migrations, newest first</caption>
        <thead>
          <tr>
            <th scope="col">From → to</th>
            <th scope="col">Topics</th>
            <th scope="col">Step</th>
            <th scope="col">Owner</th>
            <th scope="col">Updated</th>
          </tr>
        </thead>
        <tbody>
          {migrations.map((m) => (
            <tr key={m.id} data-testid="migration-row" data-migration-id={m.id} data-step={m.step}>
              <td data-label="From → to">
                <Link to={routes.migration(m.id)}>{m.source_cluster} → {m.target_cluster}</Link>
              </td>
              <td data-label="Topics" className="mono" title={m.topics.join(", ")}>{shortList(m.topics)}</td>
              <td data-label="Step"><Badge tone={stepTone(m.step)} testId="migration-step">{stepLabel(m.step)}</Badge></td>
              <td data-label="Owner">{m.owner_team}</td>
              <td data-label="Updated"><Time at={m.updated_at} /></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
