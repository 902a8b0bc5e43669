import type { TopicRequest } from "../api/types";
import { requestTitle } from "../lib/requestStatus";
import { routes } from "../lib/route";
import { Link } from "../router";
import { StatusBadge, Time } from "./ui";

export function RequestTable({ requests, caption, testId, showRequester = true }: {
  requests: TopicRequest[];
  caption: string;
  testId?: string;
  showRequester?: boolean;
}) {
  return (
    <div className="table-wrap">
      <table className="table stack" data-testid={testId}>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Request</th>
            <th scope="col">Cluster</th>
            <th scope="col">Status</th>
            {showRequester ? <th scope="col">Requested by</th> : null}
            <th scope="col">Submitted</th>
          </tr>
        </thead>
        <tbody>
          {requests.map((request) => (
            <tr key={request.id} data-testid="request-row" data-request-id={request.id}>
              <td data-label="Request">
                <Link to={routes.request(request.id)}>{requestTitle(request)}</Link>
              </td>
              <td data-label="Cluster">{request.cluster}</td>
              <td data-label="Status">
                <StatusBadge status={request.status} />
              </td>
              {showRequester ? <td data-label="Requested by">{request.requested_by}</td> : null}
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
