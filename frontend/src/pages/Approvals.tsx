import { useState } from "react";
import { api } from "../api/client";
import type { TopicRequest } from "../api/types";
import { ApprovalActions } from "../components/ApprovalActions";
import { ChangeList, ImpactView } from "../components/ChangeList";
import { DecisionRules } from "../components/PolicyPreview";
import { SpecView } from "../components/SpecView";
import { Banner, EmptyState, ErrorState, LoadMore, Loading, PageHeader, Time, errorMessage } from "../components/ui";
import { useAsync, useTitle } from "../hooks";
import { requestTitle, statusLabel } from "../lib/requestStatus";
import { routes } from "../lib/route";
import { Link } from "../router";

export function ApprovalsPage() {
  useTitle("Approvals");
  const first = useAsync((signal) => api.requests({ awaiting_me: true, limit: 20 }, signal), []);
  const [more, setMore] = useState<{ items: TopicRequest[]; cursor: string | null } | null>(null);
  const [done, setDone] = useState<Array<{ request: TopicRequest }>>([]);
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<string | null>(null);

  const decided = new Set(done.map((d) => d.request.id));
  const items = [...(first.data?.items ?? []), ...(more?.items ?? [])].filter((r) => !decided.has(r.id));
  const cursor = more ? more.cursor : first.data?.next_cursor ?? null;

  const loadMore = async () => {
    if (!cursor) return;
    setLoadingMore(true);
    setMoreError(null);
    try {
      const page = await api.requests({ awaiting_me: true, limit: 20, cursor });
      setMore((old) => ({ items: [...(old?.items ?? []), ...page.items], cursor: page.next_cursor }));
    } catch (error) {
      setMoreError(errorMessage(error));
    } finally {
      setLoadingMore(false);
    }
  };

  return (
    <>
      <PageHeader title="Approvals" />
      <p className="lede">Requests that wait for you: approve them, or reject them with a reason the requester can act on.</p>
      <div aria-live="polite" data-testid="approvals-done">
        {done.map(({ request }) => (
          <Banner key={request.id} tone={request.status === "rejected" ? "neutral" : "success"}
            onDismiss={() => setDone((old) => old.filter((d) => d.request.id !== request.id))}>
            <Link to={routes.request(request.id)}>{requestTitle(request)}</Link>: {statusLabel(request.status).toLowerCase()}.
          </Banner>
        ))}
      </div>
      {first.loading && !first.data ? <Loading label="Loading what awaits you…" /> : first.error ? (
        <ErrorState error={first.error} onRetry={first.reload} what="the approvals inbox" />
      ) : items.length === 0 ? (
        <EmptyState title="Nothing awaits your approval." testId="approvals-empty">
          You will find requests here when another team asks for access to your topics, or when a change needs a
          platform admin.
        </EmptyState>
      ) : (
        <ul className="inbox" data-testid="approvals-inbox">
          {items.map((request) => (
            <li key={request.id} className="card inbox-item" data-testid="approval-item" data-request-id={request.id}>
              <article aria-labelledby={`approval-${request.id}`}>
                <h2 id={`approval-${request.id}`} className="inbox-title">
                  <Link to={routes.request(request.id)}>{requestTitle(request)}</Link>
                </h2>
                <p className="muted small">
                  {request.requested_by}
                  {request.requester_team ? ` (${request.requester_team})` : ""} · {request.cluster} ·{" "}
                  <Time at={request.created_at} />
                </p>
                {request.reason ? <p className="reason">“{request.reason}”</p> : null}
                {request.changes ? (
                  <>
                    <h3 className="small-heading">Current → new</h3>
                    <ChangeList changes={request.changes} />
                  </>
                ) : null}
                {request.impact ? (
                  <>
                    <h3 className="small-heading">Impact</h3>
                    <ImpactView impact={request.impact} />
                  </>
                ) : null}
                <h3 className="small-heading">Why it needs you</h3>
                <DecisionRules decision={request.decision} />
                <details className="inbox-spec">
                  <summary>Details</summary>
                  <SpecView request={request} />
                </details>
                <ApprovalActions request={request}
                  onDone={(updated) => setDone((old) => [{ request: updated }, ...old])} />
              </article>
            </li>
          ))}
        </ul>
      )}
      {moreError ? <Banner title="Could not load more">{moreError}</Banner> : null}
      <LoadMore cursor={cursor} loading={loadingMore} onMore={loadMore} />
    </>
  );
}
