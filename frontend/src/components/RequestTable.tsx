import type { TopicRequest } from "../api/types";
import { requestTitle } from "../lib/requestStatus";
import { routes } from "../lib/route";
import { Link } from "../router";
import { StatusBadge, Time } from "./ui";

/** The team on each side: "payments" when it asked about its own things, "ingest → payments" across teams. */
function teams(request: TopicRequest): string {
  const asking = request.requester_team ?? "";
  const owning = request.owner_team ?? "";
  if (!asking || !owning || asking === owning) return asking || owning || "–";
  return `${asking} → ${owning}`;
}

export function RequestTable({ requests, caption, testId, showRequester = true, showKind = false, showTeam = false }: {
  requests: TopicRequest[];
  caption: string;
  testId?: string;
  showRequester?: boolean;
  showKind?: boolean;
  showTeam?: boolean;
}) {
  return (
    <div className="table-wrap">
      <table className="table stack" data-testid={testId}>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Request</th>
            {showKind ? <th scope="col">Kind</th> : null}
            <th scope="col">Cluster</th>
            {showTeam ? <th scope="col">Team</th> : null}
            <th scope="col">Status</th>
            {showRequester ? <th scope="col">Requested by</th> : null}
            <th scope="col">Submitted</th>
          </tr>
        </thead>
        <tbody>
          {requests.map((request) => (
            <tr key={request.id} data-testid="request-row" data-request-id={request.id} data-kind={request.kind}
              data-status={request.status}>
              <td data-label="Request">
                <Link to={routes.request(request.id)}>{requestTitle(request)}</Link>
              </td>
              {showKind ? <td data-label="Kind"><code>{request.kind}</code></td> : null}
              <td data-label="Cluster">{request.cluster}</td>
              {showTeam ? <td data-label="Team">{teams(request)}</td> : null}
              <td data-label="Status">
                <StatusBadge status={request.status} />
              </td>
              {showRequester ? <td data-label="Requested by" className="actor" data-testid="request-requester">
                {request.requested_by}</td> : null}
              <td data-label="Submitted">
                <Time at={request.created_at} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
