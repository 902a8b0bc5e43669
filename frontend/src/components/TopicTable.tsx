import type { TopicSummary } from "../api/types";
import { routes } from "../lib/route";
import { describeRetention } from "../lib/units";
import { Link } from "../router";
import { Badge } from "./ui";

export function topicStatusTone(status: string | undefined) {
  if (status === "applied") return "success";
  if (status === "error") return "danger";
  if (status === "drifted") return "warning";
  return status ? "info" : "neutral";
}

export function TopicTable({ topics, caption, testId }: { topics: TopicSummary[]; caption: string; testId?: string }) {
  return (
    <div className="table-wrap">
      <table className="table stack" data-testid={testId}>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Topic</th>
            <th scope="col">Cluster</th>
            <th scope="col">Owner</th>
            <th scope="col" className="num">Partitions</th>
            <th scope="col">Retention</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {topics.map((topic) => {
            const retention = topic.config?.["retention.ms"];
            return (
              <tr key={`${topic.cluster}/${topic.name}`} data-testid="topic-row" data-topic={topic.name} data-status={topic.status}>
                <td data-label="Topic">
                  <Link to={routes.topic(topic.cluster, topic.name)} className="mono">
                    {topic.name}
                  </Link>
                  {topic.description ? <div className="muted small">{topic.description}</div> : null}
                </td>
                <td data-label="Cluster">{topic.cluster}</td>
                <td data-label="Owner">{topic.owner_team}</td>
                <td data-label="Partitions" className="num">
                  {topic.partitions}
                </td>
                <td data-label="Retention">{retention !== undefined ? describeRetention(retention) : "broker default"}</td>
                <td data-label="State">
                  <Badge tone={topicStatusTone(topic.status)}>{topic.status ?? "unknown"}</Badge>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
