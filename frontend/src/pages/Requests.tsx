import { api } from "../api/client";
import { REQUEST_KINDS, REQUEST_STATUSES } from "../api/types";
import { RequestTable } from "../components/RequestTable";
import { Banner, EmptyState, ErrorState, LoadMore, Loading, PageHeader, errorMessage } from "../components/ui";
import { useAsync, usePaged, useSession, useTitle } from "../hooks";
import { canApproveAnything } from "../lib/permissions";
import {
  describeFilters,
  filtersToApi,
  filtersToQuery,
  isFiltered,
  NO_FILTERS,
  parseFilters,
  type RequestFilters,
  SCOPE_LABELS,
  SCOPES,
  teamChoices,
} from "../lib/requestFilters";
import { statusLabel } from "../lib/requestStatus";
import { routes } from "../lib/route";
import { navigate, useLocation } from "../router";

const PAGE_SIZE = 50;

/** Every request the caller may see (their teams' people and tokens, and what is routed to them). */
export function RequestsPage() {
  useTitle("Requests");
  const session = useSession();
  const { query } = useLocation();
  const filters = parseFilters(query);
  const key = JSON.stringify(filters);
  const clusters = useAsync((signal) => api.clusters(signal), []);
  const owners = (clusters.data?.items ?? []).map((c) => c.owner_team);
  const list = usePaged((cursor, signal) => api.requests({ ...filtersToApi(filters), limit: PAGE_SIZE, cursor }, signal),
    [key]);
  const set = (change: Partial<RequestFilters>) =>
    navigate(routes.requests(filtersToQuery({ ...filters, ...change })), { replace: true });
  const scopes = SCOPES.filter((scope) => scope !== "awaiting_me" || canApproveAnything(session) || filters.scope === scope);

  return (
    <>
      <PageHeader title="Requests" />
      <p className="lede">
        Everything your teams asked for — by people and by your teams' API tokens — and what others asked of your teams,
        newest first.
      </p>
      <form className="filters card" role="search" aria-label="Filter requests" data-testid="request-filters"
        onSubmit={(event) => event.preventDefault()}>
        <FilterSelect id="requests-scope" label="Whose" value={filters.scope} testId="requests-filter-scope"
          onChange={(scope) => set({ scope: scope as RequestFilters["scope"] })}
          options={scopes.map((scope) => [scope, SCOPE_LABELS[scope]])} />
        <FilterSelect id="requests-status" label="Status" value={filters.status} testId="requests-filter-status"
          onChange={(status) => set({ status: status as RequestFilters["status"] })}
          options={[["", "Any status"], ...REQUEST_STATUSES.map((s): [string, string] => [s, statusLabel(s)])]} />
        <FilterSelect id="requests-kind" label="Kind" value={filters.kind} testId="requests-filter-kind"
          onChange={(kind) => set({ kind: kind as RequestFilters["kind"] })}
          options={[["", "Any kind"], ...REQUEST_KINDS.map((k): [string, string] => [k, k])]} />
        <FilterSelect id="requests-cluster" label="Cluster" value={filters.cluster} testId="requests-filter-cluster"
          onChange={(cluster) => set({ cluster })}
          options={[["", "All clusters"], ...[...new Set([...(clusters.data?.items ?? []).map((c) => c.name),
            ...(filters.cluster ? [filters.cluster] : [])])].map((c): [string, string] => [c, c])]} />
        <FilterSelect id="requests-team" label="Team" value={filters.team} testId="requests-filter-team"
          onChange={(team) => set({ team })}
          options={[["", "Any team"], ...teamChoices(session.teams, owners, filters.team).map((t): [string, string] =>
            [t, session.teams.includes(t) ? `${t} (yours)` : t])]} />
        {isFiltered(filters) ? (
          <div className="filters-actions">
            <button type="button" className="button button-quiet" data-testid="requests-clear"
              onClick={() => navigate(routes.requests(filtersToQuery(NO_FILTERS)), { replace: true })}>
              Clear filters
            </button>
          </div>
        ) : null}
      </form>
      <div aria-live="polite" className="visually-hidden">
        {list.loading ? "" : `${list.items.length}${list.cursor ? "+" : ""} requests`}
      </div>
      {list.loading && list.items.length === 0 ? <Loading label="Loading requests…" /> : list.error ? (
        <ErrorState error={list.error} onRetry={list.reload} what="the requests" />
      ) : list.items.length === 0 ? (
        <EmptyState title={isFiltered(filters) ? `No request matches: ${describeFilters(filters)}.` : "No requests yet."}
          testId="requests-empty">
          {isFiltered(filters) ? "Widen or clear the filters." : null}
        </EmptyState>
      ) : (
        <RequestTable requests={list.items} caption="Requests, newest first" testId="requests-table" showKind showTeam />
      )}
      {list.moreError ? <Banner title="Could not load more">{errorMessage(list.moreError)}</Banner> : null}
      <LoadMore cursor={list.cursor} loading={list.loadingMore} onMore={list.loadMore} label="Older requests" />
    </>
  );
}

function FilterSelect({ id, label, value, options, onChange, testId }: {
  id: string; label: string; value: string; options: Array<[string, string]>; onChange: (value: string) => void;
  testId: string;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} data-testid={testId} onChange={(event) => onChange(event.target.value)}>
        {options.map(([optionValue, text]) => <option key={optionValue} value={optionValue}>{text}</option>)}
      </select>
    </div>
  );
}
