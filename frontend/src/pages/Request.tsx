import { useEffect, useState } from "react";
import { api, ApiError } from "../api/client";
import type { TopicRequest } from "../api/types";
import { ApprovalActions } from "../components/ApprovalActions";
import { ChangeList, ImpactView } from "../components/ChangeList";
import { MigrationPlanView } from "../components/MigrationPlanView";
import { DecisionRules, DecisionSummary } from "../components/PolicyPreview";
import { SpecView } from "../components/SpecView";
import { Banner, ErrorState, Loading, PageHeader, StatusBadge, Time, errorMessage } from "../components/ui";
import { useSession, useTitle } from "../hooks";
import { canCancel } from "../lib/permissions";
import { isFinal, requestTimeline, requestTitle } from "../lib/requestStatus";
import { routes } from "../lib/route";
import { Link } from "../router";

export const POLL_INTERVAL_MS = 2000;

export function RequestPage({ id }: { id: string }) {
  const session = useSession();
  const [request, setRequest] = useState<TopicRequest | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [pollError, setPollError] = useState<string | null>(null);
  const [attempt, setAttempt] = useState(0);
  const [mayDecide, setMayDecide] = useState(false);
  const [cancelState, setCancelState] = useState<{ busy: boolean; error: string | null }>({ busy: false, error: null });
  useTitle(request ? requestTitle(request) : "Request");

  // Poll every 2 s until the request reaches a final status; a failed poll is retried.
  useEffect(() => {
    let timer: number | undefined;
    let stopped = false;
    let loaded = false;
    const controller = new AbortController();
    const poll = async () => {
      try {
        const next = await api.request(id, controller.signal);
        if (stopped) return;
        loaded = true;
        setRequest(next);
        setLoadError(null);
        setPollError(null);
        if (isFinal(next.status)) return;
      } catch (error) {
        if (stopped) return;
        if (error instanceof ApiError && (error.status === 404 || error.status === 403 || error.status === 401)) {
          setLoadError(error);
          return;
        }
        if (!loaded) {
          setLoadError(error);
          return;
        }
        setPollError(errorMessage(error));
      }
      timer = window.setTimeout(poll, POLL_INTERVAL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      controller.abort();
      window.clearTimeout(timer);
    };
  }, [id, attempt]);

  const pending = request?.status === "pending_approval";
  const mine = request?.requested_by === session.subject;

  // Whether this person may decide is the server's call: ask the awaiting_me list.
  useEffect(() => {
    if (!pending || mine) {
      setMayDecide(false);
      return;
    }
    const controller = new AbortController();
    api.requests({ awaiting_me: true, limit: 100 }, controller.signal).then(
      (page) => setMayDecide(page.items.some((item) => item.id === id)),
      () => setMayDecide(false),
    );
    return () => controller.abort();
  }, [pending, mine, id]);

  if (!request) {
    if (loadError) {
      return (
        <>
          <PageHeader title="Request" />
          <ErrorState error={loadError} what="This request" onRetry={() => { setLoadError(null); setAttempt((n) => n + 1); }} />
        </>
      );
    }
    return (
      <>
        <PageHeader title="Request" />
        <Loading label="Loading the request…" />
      </>
    );
  }

  const cancel = async () => {
    setCancelState({ busy: true, error: null });
    try {
      setRequest(await api.cancel(request.id));
      setCancelState({ busy: false, error: null });
    } catch (error) {
      setCancelState({ busy: false, error: errorMessage(error) });
    }
  };

  const timeline = requestTimeline(request);
  const rejection = [...(request.history ?? [])].reverse().find((entry) => entry.status === "rejected");
  const routed = request.decision.outcome === "needs_approval";
  const final = isFinal(request.status);
  const spec = request.spec as Record<string, unknown>;
  const topicName = typeof spec.name === "string" ? spec.name : typeof spec.topic === "string" ? spec.topic : null;

  return (
    <>
      <PageHeader title={requestTitle(request)}>
        <span aria-live="polite" data-testid="request-status" data-status={request.status}>
          <span className="visually-hidden">Status: </span>
          <StatusBadge status={request.status} />
        </span>
      </PageHeader>
      <p className="lede">
        Requested by <strong>{request.requested_by}</strong>
        {request.requester_team ? <> ({request.requester_team})</> : null} on <Time at={request.created_at} />, on cluster{" "}
        <strong>{request.cluster}</strong>.{" "}
        {!final ? <span className="muted" data-testid="live-note">This page updates itself until the request is done.</span> : null}
      </p>
      {pollError ? <Banner tone="warning" title="Lost touch with the server; retrying">{pollError}</Banner> : null}

      {request.status === "applied" && topicName && request.kind !== "topic.delete" ? (
        <Banner tone="success" title="Applied" testId="applied-banner">
          The cluster was read back and matches.{" "}
          <Link to={routes.topic(request.cluster, topicName)}>Open the topic</Link>
        </Banner>
      ) : null}
      {request.status === "rejected" ? (
        <Banner tone="danger" title="Rejected" testId="rejection">
          {rejection?.by ? <><strong data-testid="rejected-by">{rejection.by}</strong> rejected it on <Time at={rejection.at} />: </> : null}
          <span data-testid="rejection-reason">{request.rejection_reason || "No reason was given."}</span>
        </Banner>
      ) : null}
      {request.status === "applying" && request.last_error ? (
        <Banner tone="warning" title={`Retrying (attempt ${request.attempts ?? 1} failed)`} testId="request-retrying">
          <code>{request.last_error.reason}</code>: {request.last_error.message}
          {request.next_attempt_at ? <> — next attempt <Time at={request.next_attempt_at} />.</> : null}
        </Banner>
      ) : null}
      {request.status === "failed" || request.error ? (
        <Banner tone="danger" title="Applying failed" testId="request-error">
          {request.error ? (
            <>
              <code data-testid="request-error-reason">{request.error.reason}</code>: <span>{request.error.message}</span>
            </>
          ) : "The server did not say why."}
        </Banner>
      ) : null}

      <div className="columns">
        <section className="card" aria-labelledby="timeline-heading">
          <h2 id="timeline-heading">Status</h2>
          <ol className="timeline" data-testid="status-timeline">
            {timeline.map((step) => (
              <li key={step.id} className={`step step-${step.state}`} data-step={step.id} data-state={step.state}
                aria-current={step.state === "current" ? "step" : undefined}>
                <span className="step-dot" aria-hidden="true" />
                <div>
                  <div className="step-label">
                    {step.label}
                    <span className="visually-hidden">
                      {step.state === "upcoming" ? " (not yet)" : step.state === "current" ? " (now)" : step.state === "failed" ? " (stopped here)" : ""}
                    </span>
                  </div>
                  {step.detail ? <div className="step-detail">{step.detail}</div> : null}
                  {step.at ? <div className="step-time muted small"><Time at={step.at} /></div> : null}
                </div>
              </li>
            ))}
          </ol>
          {canCancel(session, request) ? (
            <div className="button-row">
              <button type="button" className="button" onClick={cancel} disabled={cancelState.busy} data-testid="cancel-request">
                {cancelState.busy ? "Cancelling…" : "Cancel request"}
              </button>
            </div>
          ) : null}
          {cancelState.error ? <Banner title="Could not cancel">{cancelState.error}</Banner> : null}
          {pending && mayDecide ? <ApprovalActions request={request} onDone={setRequest} /> : null}
        </section>

        <section className="card" aria-labelledby="decision-heading" data-testid="request-decision">
          <h2 id="decision-heading">Policy decision</h2>
          {routed && !pending ? (
            <p className="decision-headline" data-testid="decision-routed">
              The policies routed it to {request.decision.approvers.join(", ") || "approvers"}
              {request.status === "rejected" ? "; it was rejected." : request.status === "cancelled" ? "; it was cancelled before a decision." : "; it was approved."}
            </p>
          ) : <DecisionSummary decision={request.decision} />}
          <DecisionRules decision={request.decision} />
          <h3>Approvals</h3>
          {request.approvals.length ? (
            <ul className="approvals" data-testid="approvals">
              {request.approvals.map((approval) => (
                <li key={`${approval.by}-${approval.at}`}>
                  <strong>{approval.by}</strong> approved on <Time at={approval.at} />
                  {approval.comment ? <q className="comment">{approval.comment}</q> : null}
                </li>
              ))}
            </ul>
          ) : (
            <p className="muted" data-testid="approvals">
              {request.status === "rejected" ? `None: ${rejection?.by ?? "an approver"} rejected it.`
                : request.status === "cancelled" ? "None: the request was cancelled."
                  : routed ? "No approvals yet." : "None needed."}
            </p>
          )}
        </section>
      </div>

      {request.changes ? (
        <section className="card" aria-labelledby="changes-heading" data-testid="request-changes">
          <h2 id="changes-heading">Current → new</h2>
          <ChangeList changes={request.changes} />
          {request.impact ? <><h3>Impact</h3><ImpactView impact={request.impact} /></> : null}
        </section>
      ) : null}
      {request.kind === "topic.migrate" && request.migration_id ? <MigrationLink migrationId={request.migration_id} /> : null}
      {request.kind === "topic.migrate" ? (
        <section className="card" aria-labelledby="plan-heading">
          <h2 id="plan-heading">Migration plan</h2>
          <MigrationPlanView plan={request.migration_plan} />
        </section>
      ) : null}

      <section className="card" aria-labelledby="spec-heading">
        <h2 id="spec-heading">What was asked</h2>
        <SpecView request={request} />
      </section>
    </>
  );
}

/** An approved topic.migrate started a migration: the request names it. */
function MigrationLink({ migrationId }: { migrationId: string }) {
  return (
    <Banner tone="info" title="Approved: the migration started" testId="migration-link">
      <Link to={routes.migration(migrationId)}>Follow the migration</Link> — its steps, lag and what each team does.
    </Banner>
  );
}
