import { useState } from "react";
import { api } from "../api/client";
import type { DriftAction, DriftItem, TopicRequest } from "../api/types";
import { describeDrift } from "../lib/driftWords";
import { routes } from "../lib/route";
import { Link } from "../router";
import { Badge, Banner, Field, Time, errorMessage } from "./ui";

const IGNORE_DAYS = [7, 30, 90] as const;

/** The topic's differences in words, each with the triage actions the engine offers for it. */
export function DriftPanel({ cluster, drift, scannedAt, mayTriage, onChanged }: {
  cluster: string;
  drift: DriftItem[];
  scannedAt?: string | null | undefined;
  mayTriage: boolean;
  onChanged: () => void;
}) {
  if (!drift.length) {
    return (
      <p data-testid="no-drift">
        {scannedAt ? <>No drift at the last scan (<Time at={scannedAt} />).</> : "No drift found; the cluster has not been scanned yet."}
      </p>
    );
  }
  return (
    <>
      <ul className="drift" data-testid="drift-list">
        {drift.map((item, index) => (
          <DriftEntry key={item.id ?? index} cluster={cluster} item={item} mayTriage={mayTriage} onChanged={onChanged} />
        ))}
      </ul>
      {scannedAt ? <p className="muted small">Scanned <Time at={scannedAt} />.</p> : null}
    </>
  );
}

function DriftEntry({ cluster, item, mayTriage, onChanged }: {
  cluster: string; item: DriftItem; mayTriage: boolean; onChanged: () => void;
}) {
  const words = describeDrift(item);
  const [ignoring, setIgnoring] = useState(false);
  const [reason, setReason] = useState("");
  const [days, setDays] = useState<number>(30);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [requests, setRequests] = useState<TopicRequest[]>([]);

  const triage = async (action: DriftAction) => {
    if (!item.id) return;
    setBusy(true);
    setError(null);
    try {
      const body = action === "ignore"
        ? { action, reason: reason.trim(), expires_at: new Date(Date.now() + days * 86_400_000).toISOString() }
        : { action };
      const result = await api.triageDrift(cluster, item.id, body);
      setRequests(result.requests ?? []);
      setIgnoring(false);
      onChanged();
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(false);
    }
  };

  return (
    <li data-testid="drift-item" data-kind={item.kind} data-state={item.state} className="drift-item">
      <p className="drift-title">
        <strong>{words.title}</strong>{" "}
        {item.state && item.state !== "open" ? <Badge tone={item.state === "ignored" ? "neutral" : "info"}>{item.state}</Badge> : null}
      </p>
      <div className="table-wrap">
        <table className="table stack drift-table">
          <caption className="visually-hidden">{words.title}</caption>
          <thead><tr><th scope="col">Setting</th><th scope="col">Desired</th><th scope="col">Observed on the cluster</th></tr></thead>
          <tbody>
            {words.rows.map((row) => (
              <tr key={row.setting} data-testid="drift-row">
                <th scope="row" data-label="Setting" className="mono">{row.setting}</th>
                <td data-label="Desired">{row.desired}</td>
                <td data-label="Observed">{row.observed}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {item.ignore ? (
        <p className="muted small">Ignored by {item.ignore.by} until <Time at={item.ignore.expires_at} />: “{item.ignore.reason}”</p>
      ) : null}
      {mayTriage && words.actions.length ? (
        <>
          <ul className="triage-actions">
            {words.actions.map(({ action, label, effect }) => (
              <li key={action}>
                <button type="button" className="button button-small" disabled={busy} data-testid={`triage-${action}`}
                  onClick={() => (action === "ignore" ? setIgnoring(true) : void triage(action))}>{label}</button>{" "}
                <span className="small muted">{effect}</span>
              </li>
            ))}
          </ul>
          {ignoring ? (
            <form className="ignore-form" data-testid="ignore-form" onSubmit={(event) => { event.preventDefault(); void triage("ignore"); }}>
              <Field label="Why ignore it" name="ignore-reason" errors={reason.trim() ? undefined : ["a reason is required"]}>
                {(props) => <input {...props} type="text" value={reason} data-testid="ignore-reason" onChange={(e) => setReason(e.target.value)} />}
              </Field>
              <Field label="For" name="ignore-days">
                {(props) => (
                  <select {...props} value={days} data-testid="ignore-days" onChange={(e) => setDays(Number(e.target.value))}>
                    {IGNORE_DAYS.map((d) => <option key={d} value={d}>{d} days</option>)}
                  </select>
                )}
              </Field>
              <button type="submit" className="button button-small" disabled={busy || !reason.trim()} data-testid="ignore-submit">Ignore</button>
            </form>
          ) : null}
        </>
      ) : null}
      {requests.length ? (
        <p className="small" data-testid="adopt-requests">
          Adopting through {requests.map((r) => <Link key={r.id} to={routes.request(r.id)}>{r.kind} ({r.status.replace("_", " ")})</Link>)}
        </p>
      ) : null}
      {error ? <Banner title="The triage did not go through">{error}</Banner> : null}
    </li>
  );
}
