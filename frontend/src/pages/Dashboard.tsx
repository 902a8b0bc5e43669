import { api } from "../api/client";
import type { TopicSummary } from "../api/types";
import { RequestTable } from "../components/RequestTable";
import { TopicTable } from "../components/TopicTable";
import { EmptyState, ErrorState, Loading, PageHeader } from "../components/ui";
import { useAsync, useSession, useTitle } from "../hooks";
import { canApproveAnything } from "../lib/permissions";
import { routes } from "../lib/route";
import { Link } from "../router";

export function DashboardPage() {
  const session = useSession();
  useTitle("Dashboard");
  const teams = session.teams.join(",");

  const topics = useAsync(async (signal) => {
    const pages = await Promise.all(session.teams.map((team) => api.topics({ team, limit: 100 }, signal)));
    const all: TopicSummary[] = pages.flatMap((page) => page.items);
    return { items: all, more: pages.some((page) => page.next_cursor) };
  }, [teams]);
  const approver = canApproveAnything(session);
  const mine = useAsync((signal) => api.requests({ mine: true, limit: 10 }, signal), []);
  const awaiting = useAsync(async (signal) => (approver ? api.requests({ awaiting_me: true, limit: 10 }, signal) : null),
    [approver]);
  // The team's requests include those its API tokens made (a token acts for its team, not for a person).
  const teamRequests = useAsync(async (signal) => {
    const pages = await Promise.all(session.teams.map((team) => api.requests({ team, limit: 10 }, signal)));
    const byId = new Map(pages.flatMap((page) => page.items).map((request) => [request.id, request]));
    return [...byId.values()].sort((a, b) => b.created_at.localeCompare(a.created_at)).slice(0, 10);
  }, [teams]);

  return (
    <>
      <PageHeader title="Dashboard">
        <Link to={routes.newTopic()} className="button button-primary" data-testid="dashboard-new-topic">
          New topic
        </Link>
      </PageHeader>
      <p className="lede">
        Signed in as <strong>{session.subject}</strong>
        {session.teams.length ? <> of {session.teams.map((t, i) => <span key={t}>{i ? ", " : ""}<strong>{t}</strong></span>)}</> : null}.
      </p>

      {approver ? <section className="section" aria-labelledby="awaiting-heading" data-testid="dashboard-awaiting">
        <div className="section-header">
          <h2 id="awaiting-heading">Awaiting your approval</h2>
          <Link to={routes.approvals()}>Open the approvals inbox</Link>
        </div>
        {awaiting.loading && !awaiting.data ? <Loading /> : awaiting.error ? (
          <ErrorState error={awaiting.error} onRetry={awaiting.reload} what="your approvals" />
        ) : awaiting.data?.items.length ? (
          <RequestTable requests={awaiting.data.items} caption="Requests awaiting your approval" />
        ) : (
          <EmptyState title="Nothing awaits your approval." />
        )}
      </section> : null}

      <section className="section" aria-labelledby="mine-heading" data-testid="dashboard-my-requests">
        <div className="section-header">
          <h2 id="mine-heading">Your requests</h2>
        </div>
        {mine.loading && !mine.data ? <Loading /> : mine.error ? (
          <ErrorState error={mine.error} onRetry={mine.reload} what="your requests" />
        ) : mine.data?.items.length ? (
          <RequestTable requests={mine.data.items} caption="Your latest requests" showRequester={false} />
        ) : (
          <EmptyState title="You have not asked for anything yet.">
            <Link to={routes.newTopic()}>Request a topic</Link> or find one in the <Link to={routes.topics()}>catalogue</Link>{" "}
            to ask for access.
          </EmptyState>
        )}
      </section>

      {session.teams.length ? (
        <section className="section" aria-labelledby="team-requests-heading" data-testid="dashboard-team-requests">
          <div className="section-header">
            <h2 id="team-requests-heading">Your {session.teams.length > 1 ? "teams'" : "team's"} requests</h2>
            <Link to={routes.requests(session.teams.length === 1 ? { team: session.teams[0] ?? "" } : {})}
              data-testid="dashboard-all-requests">All requests</Link>
          </div>
          {teamRequests.loading && !teamRequests.data ? <Loading /> : teamRequests.error ? (
            <ErrorState error={teamRequests.error} onRetry={teamRequests.reload} what="your team's requests" />
          ) : teamRequests.data?.length ? (
            <RequestTable requests={teamRequests.data} caption="Your teams' latest requests, by people and tokens" />
          ) : (
            <EmptyState title="Your team has not asked for anything yet." />
          )}
        </section>
      ) : null}

      <section className="section" aria-labelledby="topics-heading" data-testid="dashboard-team-topics">
        <div className="section-header">
          <h2 id="topics-heading">Your teams' topics</h2>
          {session.teams.length === 1 ? (
            <Link to={routes.topics({ team: session.teams[0] ?? "" })}>All of them</Link>
          ) : null}
        </div>
        {session.teams.length === 0 ? (
          <EmptyState title="You are in no team yet.">Ask your identity provider's admin to add you to a team group.</EmptyState>
        ) : topics.loading && !topics.data ? <Loading /> : topics.error ? (
          <ErrorState error={topics.error} onRetry={topics.reload} what="your topics" />
        ) : topics.data?.items.length ? (
          <>
            {topics.data.items.some((t) => t.status === "drifted") ? (
              <p className="banner banner-warning" data-testid="dashboard-drifted">
                {topics.data.items.filter((t) => t.status === "drifted").length} of your topics drifted: the cluster
                differs from what Topicdesk set. Open a topic marked drifted to revert, adopt or ignore the difference.
              </p>
            ) : null}
            <TopicTable topics={topics.data.items} caption="Topics your teams own" />
            {topics.data.more ? <p className="muted">Showing the first 100 per team; search the <Link to={routes.topics()}>catalogue</Link> for more.</p> : null}
          </>
        ) : (
          <EmptyState title="Your teams own no topics yet.">
            <Link to={routes.newTopic()}>Request the first one</Link>.
          </EmptyState>
        )}
      </section>
    </>
  );
}
