import { type FormEvent, useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api/client";
import type { NotificationSubscription } from "../api/types";
import { Badge, Banner, CopyButton, EmptyState, ErrorState, Field, Loading, PageHeader, Time, errorMessage } from "../components/ui";
import { useAsync, useSession, useTitle } from "../hooks";
import { routes } from "../lib/route";
import { navigate, useLocation } from "../router";

const EVENT_LABELS: Record<string, string> = {
  "request.awaiting_approval": "A request awaits our approval",
  "request.decided": "Our request was approved, rejected or denied",
  "request.applied": "Our request was applied on the cluster",
  "request.failed": "Our request failed",
  "drift.found": "Drift found on our resources",
  "topic.deletion_scheduled": "A topic we consume is to be deleted",
  "topic.quarantined": "A topic we consume was quarantined",
  "access.expiring": "Access ends soon",
  "migration.step": "A migration we take part in moved a step",
};

/** Team settings: the team's notification endpoints (webhooks), their delivery history and state. */
export function TeamSettingsPage() {
  useTitle("Team settings");
  const session = useSession();
  const { query } = useLocation();
  const requested = query.get("team") ?? "";
  const team = session.teams.includes(requested) ? requested : session.teams[0] ?? "";
  const [created, setCreated] = useState<NotificationSubscription | null>(null);

  return (
    <>
      <PageHeader title="Team settings" />
      <p className="lede">
        Notifications: Topicdesk POSTs events to your endpoints, signed with a secret (header X-Topicdesk-Signature),
        at least once; de-duplicate on the Webhook-Id header. Owners of the team manage them.
      </p>
      {session.teams.length === 0 ? (
        <EmptyState title="You are in no team." />
      ) : (
        <>
          {session.teams.length > 1 ? (
            <div className="card filters">
              <div className="field">
                <label htmlFor="settings-team">Team</label>
                <select id="settings-team" value={team} data-testid="settings-team"
                  onChange={(event) => { setCreated(null); navigate(routes.teamSettings(event.target.value), { replace: true }); }}>
                  {session.teams.map((t) => <option key={t} value={t}>{t}</option>)}
                </select>
              </div>
            </div>
          ) : null}
          {created ? <SecretPanel subscription={created} onClose={() => setCreated(null)} /> : null}
          <CreateSubscription key={team} team={team} onCreated={setCreated} />
          <SubscriptionList key={`list-${team}-${created?.id ?? ""}`} team={team} />
        </>
      )}
    </>
  );
}

function CreateSubscription({ team, onCreated }: { team: string; onCreated: (s: NotificationSubscription) => void }) {
  const types = useAsync((signal) => api.notificationEventTypes(signal), []);
  const [url, setUrl] = useState("");
  const [format, setFormat] = useState<"cloudevents" | "slack">("cloudevents");
  const [description, setDescription] = useState("");
  const [selected, setSelected] = useState<string[]>(["request.applied", "request.failed"]);
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [banner, setBanner] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBanner(null);
    setErrors({});
    setBusy(true);
    try {
      onCreated(await api.createSubscription(team, { url: url.trim(), event_types: selected, format,
        ...(description ? { description } : {}) }));
      setUrl("");
      setDescription("");
    } catch (error) {
      if (error instanceof ApiError && error.status === 422 && error.problem.errors?.length) {
        const byField: Record<string, string[]> = {};
        for (const e of error.problem.errors) {
          const key = e.path.split("/")[1] || "general";
          (byField[key] ??= []).push(e.message);
        }
        setErrors(byField);
      } else {
        setBanner(errorMessage(error));
      }
    } finally {
      setBusy(false);
    }
  };

  const toggle = (type: string) =>
    setSelected((old) => (old.includes(type) ? old.filter((t) => t !== type) : [...old, type]));

  return (
    <form className="card" onSubmit={submit} noValidate data-testid="create-subscription" aria-labelledby="create-sub-heading">
      <h2 id="create-sub-heading">New notification endpoint for {team}</h2>
      {banner ? <Banner title="The endpoint was not added" onDismiss={() => setBanner(null)}>{banner}</Banner> : null}
      {errors.general ? <Banner title="The endpoint was not added">{errors.general.join("; ")}</Banner> : null}
      <Field label="URL" name="url" errors={errors.url} hint="https://… (a Slack incoming-webhook URL for the Slack format)">
        {(props) => (
          <input {...props} type="url" className="mono" value={url} autoComplete="off" spellCheck={false}
            data-testid="subscription-url" onChange={(event) => setUrl(event.target.value)} />
        )}
      </Field>
      <Field label="Format" name="format" errors={errors.format}>
        {(props) => (
          <select {...props} value={format} data-testid="subscription-format"
            onChange={(event) => setFormat(event.target.value === "slack" ? "slack" : "cloudevents")}>
            <option value="cloudevents">CloudEvents 1.0 (JSON)</option>
            <option value="slack">Slack message</option>
          </select>
        )}
      </Field>
      <fieldset className="field" data-testid="subscription-events">
        <legend>Events</legend>
        {(types.data?.event_types ?? Object.keys(EVENT_LABELS)).map((type) => (
          <label key={type} className="checkbox">
            <input type="checkbox" checked={selected.includes(type)} onChange={() => toggle(type)} data-testid={`event-${type}`} />
            {" "}{EVENT_LABELS[type] ?? type} <span className="mono small">{type}</span>
          </label>
        ))}
        {errors.event_types ? <ul className="field-errors">{errors.event_types.map((m) => <li key={m}>{m}</li>)}</ul> : null}
      </fieldset>
      <Field label="Description" name="description" errors={errors.description} hint="Optional, e.g. the channel">
        {(props) => (
          <input {...props} type="text" value={description} onChange={(event) => setDescription(event.target.value)} />
        )}
      </Field>
      <div className="button-row">
        <button type="submit" className="button button-primary" disabled={busy} data-testid="create-subscription-submit">
          {busy ? "Adding…" : "Add endpoint"}
        </button>
      </div>
    </form>
  );
}

function SecretPanel({ subscription, onClose }: { subscription: NotificationSubscription; onClose: () => void }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => ref.current?.focus(), [subscription]);
  return (
    <section ref={ref} tabIndex={-1} className="card credentials" aria-labelledby="secret-heading" data-testid="subscription-secret">
      <h2 id="secret-heading">Signing secret for <span className="mono">{subscription.url}</span></h2>
      <Banner tone="warning" title="Copy the secret now">
        It is shown only this once. Your receiver checks each request's X-Topicdesk-Signature with it (docs/notifications.md).
      </Banner>
      <div className="input-group">
        <input type="text" className="mono" readOnly value={subscription.secret ?? ""} aria-label="Signing secret"
          data-testid="subscription-secret-value" onFocus={(event) => event.currentTarget.select()} />
        <CopyButton text={subscription.secret ?? ""} label="Copy secret" testId="copy-secret" />
      </div>
      <div className="button-row">
        <button type="button" className="button" onClick={onClose} data-testid="secret-done">I have stored it</button>
      </div>
    </section>
  );
}

function SubscriptionList({ team }: { team: string }) {
  const list = useAsync((signal) => api.subscriptions(team, signal), [team]);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);

  const act = async (work: () => Promise<unknown>, done?: string) => {
    setError(null);
    setNotice(null);
    try {
      await work();
      if (done) setNotice(done);
      list.reload();
    } catch (reason) {
      setError(errorMessage(reason));
    }
  };

  return (
    <section className="section" aria-labelledby="subs-heading">
      <h2 id="subs-heading">Notification endpoints of {team}</h2>
      {error ? <Banner title="That did not work" onDismiss={() => setError(null)}>{error}</Banner> : null}
      {notice ? <Banner tone="info" title="Done" onDismiss={() => setNotice(null)}>{notice}</Banner> : null}
      {list.loading && !list.data ? <Loading label="Loading endpoints…" /> : list.error ? (
        <ErrorState error={list.error} onRetry={list.reload} what="the notification endpoints" />
      ) : !list.data?.items.length ? (
        <EmptyState title="No notification endpoints yet." testId="subscriptions-empty" />
      ) : (
        <ul className="plain-list" data-testid="subscriptions">
          {list.data.items.map((sub) => (
            <li key={sub.id} className="card" data-testid="subscription" data-id={sub.id}>
              <p>
                <span className="mono">{sub.url}</span>{" "}
                {sub.enabled ? <Badge tone="success">enabled</Badge> : <Badge tone="danger" testId="subscription-disabled">disabled</Badge>}
                {" "}<Badge tone="neutral">{sub.format}</Badge>
              </p>
              {!sub.enabled && sub.disabled_reason ? (
                <Banner tone="warning" title="Notifications to this endpoint are stopped" testId="subscription-disabled-reason">
                  {sub.disabled_reason}{sub.disabled_at ? <> (<Time at={sub.disabled_at} />)</> : null}.
                  {sub.pending_deliveries ? ` ${sub.pending_deliveries} events wait and are sent when you enable it again.` : ""}
                </Banner>
              ) : null}
              <p className="small">
                {sub.event_types.join(", ")}{sub.description ? ` · ${sub.description}` : ""}
                {" · "}last delivered: {sub.last_delivery_at ? <Time at={sub.last_delivery_at} /> : "never"}
                {sub.consecutive_failures ? ` · ${sub.consecutive_failures} failures in a row` : ""}
                {sub.pending_deliveries ? ` · ${sub.pending_deliveries} waiting` : ""}
              </p>
              <div className="button-row">
                <button type="button" className="button button-small" data-testid="send-test"
                  onClick={() => void act(() => api.sendTestEvent(team, sub.id), "A test event was queued; it shows in the history once sent.")}>
                  Send test event
                </button>
                <button type="button" className="button button-small" data-testid="toggle-enabled"
                  onClick={() => void act(() => api.updateSubscription(team, sub.id, { enabled: !sub.enabled }))}>
                  {sub.enabled ? "Disable" : "Enable again"}
                </button>
                <button type="button" className="button button-small" data-testid="show-history"
                  onClick={() => setOpen(open === sub.id ? null : sub.id)} aria-expanded={open === sub.id}>
                  Delivery history
                </button>
                {confirming === sub.id ? (
                  <>
                    <button type="button" className="button button-danger button-small" data-testid="confirm-delete"
                      onClick={() => void act(() => api.deleteSubscription(team, sub.id)).then(() => setConfirming(null))}>
                      Delete with its history
                    </button>
                    <button type="button" className="button button-quiet button-small" onClick={() => setConfirming(null)}>Keep</button>
                  </>
                ) : (
                  <button type="button" className="button button-small" data-testid="delete-subscription"
                    onClick={() => setConfirming(sub.id)}>
                    Delete
                  </button>
                )}
              </div>
              {open === sub.id ? <DeliveryHistory team={team} id={sub.id} /> : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function DeliveryHistory({ team, id }: { team: string; id: string }) {
  const history = useAsync((signal) => api.deliveries(team, id, signal), [team, id]);
  if (history.loading && !history.data) return <Loading label="Loading deliveries…" />;
  if (history.error) return <ErrorState error={history.error} onRetry={history.reload} what="the delivery history" />;
  if (!history.data?.items.length) return <EmptyState title="Nothing was sent to this endpoint yet." />;
  return (
    <div className="table-wrap">
      <table className="table stack" data-testid="deliveries">
        <caption className="visually-hidden">Delivery attempts, newest first</caption>
        <thead>
          <tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Attempt</th><th scope="col">Result</th><th scope="col">Detail</th></tr>
        </thead>
        <tbody>
          {history.data.items.map((d) => (
            <tr key={`${d.event_id}-${d.attempt}-${d.attempted_at}`} data-testid="delivery" data-result={d.result}>
              <td data-label="When"><Time at={d.attempted_at} /></td>
              <td data-label="Event"><span className="mono small">{d.event_type}</span></td>
              <td data-label="Attempt">{d.attempt}</td>
              <td data-label="Result"><Badge tone={d.result === "delivered" ? "success" : "danger"}>{d.result}</Badge></td>
              <td data-label="Detail" className="small">
                {d.status_code ? `HTTP ${d.status_code}` : ""}{d.error ? ` ${d.error}` : ""} ({d.duration_ms} ms)
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
