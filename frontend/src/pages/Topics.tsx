import { type FormEvent, useEffect, useState } from "react";
import { api } from "../api/client";
import { TopicTable } from "../components/TopicTable";
import { Banner, EmptyState, ErrorState, LoadMore, Loading, PageHeader, errorMessage } from "../components/ui";
import { useAsync, usePaged, useTitle } from "../hooks";
import { routes } from "../lib/route";
import { navigate, useLocation } from "../router";

const SEARCH_DEBOUNCE_MS = 300;

export function TopicsPage() {
  useTitle("Topics");
  const { query } = useLocation();
  const q = query.get("q") ?? "";
  const cluster = query.get("cluster") ?? "";
  const team = query.get("team") ?? "";
  const [text, setText] = useState(q);
  const clusters = useAsync((signal) => api.clusters(signal), []);
  const teams = [...new Set((clusters.data?.items ?? []).map((c) => c.owner_team))].sort();

  // Typing searches after a short pause; the address keeps the search so it can be shared.
  useEffect(() => {
    if (text === q) return;
    const timer = window.setTimeout(() => navigate(routes.topics({ q: text, cluster, team }), { replace: true }),
      SEARCH_DEBOUNCE_MS);
    return () => window.clearTimeout(timer);
  }, [text, q, cluster, team]);

  const list = usePaged((cursor, signal) => api.topics({ q, cluster, team, limit: 50, cursor }, signal), [q, cluster, team]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    navigate(routes.topics({ q: text, cluster, team }), { replace: true });
  };
  const filtered = Boolean(q || cluster || team);

  return (
    <>
      <PageHeader title="Topics" />
      <p className="lede">Every topic on every cluster. Open one to see its state and grants, or to request access.</p>
      <form className="filters card" role="search" onSubmit={submit} data-testid="topic-search">
        <div className="field">
          <label htmlFor="topic-q">Search</label>
          <input id="topic-q" type="search" value={text} placeholder="name or description" data-testid="topic-search-input"
            onChange={(event) => setText(event.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="topic-cluster">Cluster</label>
          <select id="topic-cluster" value={cluster} data-testid="topic-filter-cluster"
            onChange={(event) => navigate(routes.topics({ q: text, cluster: event.target.value, team }), { replace: true })}>
            <option value="">All clusters</option>
            {(clusters.data?.items ?? []).map((c) => (
              <option key={c.name} value={c.name}>
                {c.name}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="topic-team">Owner team</label>
          <select id="topic-team" value={team} data-testid="topic-filter-team"
            onChange={(event) => navigate(routes.topics({ q: text, cluster, team: event.target.value }), { replace: true })}>
            <option value="">All teams</option>
            {[...new Set([...teams, ...(team ? [team] : [])])].map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div className="filters-actions">
          <button type="submit" className="button">Search</button>
          {filtered ? (
            <button type="button" className="button button-quiet" onClick={() => { setText(""); navigate(routes.topics(), { replace: true }); }}>
              Clear
            </button>
          ) : null}
        </div>
      </form>
      <div aria-live="polite" className="visually-hidden">
        {list.loading ? "" : `${list.items.length}${list.cursor ? "+" : ""} topics`}
      </div>
      {list.loading && list.items.length === 0 ? <Loading label="Searching topics…" /> : list.error ? (
        <ErrorState error={list.error} onRetry={list.reload} what="the topics" />
      ) : list.items.length === 0 ? (
        <EmptyState title={filtered ? "No topic matches." : "There are no topics yet."} testId="topics-empty">
          {filtered ? "Try another word, or clear the filters." : null}
        </EmptyState>
      ) : (
        <TopicTable topics={list.items} caption="Topics" testId="topics-table" />
      )}
      {list.moreError ? <Banner title="Could not load more">{errorMessage(list.moreError)}</Banner> : null}
      <LoadMore cursor={list.cursor} loading={list.loadingMore} onMore={list.loadMore} />
    </>
  );
}
