import { type FormEvent, useMemo, useState } from "react";
import { api } from "../api/client";
import type { RequestSubmission, TopicDetail } from "../api/types";
import { useAsync, usePolicyPreview, useSession } from "../hooks";
import { ACCESS_GRANT_RULES, mergeFieldErrors, splitProblem } from "../lib/problems";
import { routes } from "../lib/route";
import { principalName, principalTeam, validateGroupId } from "../lib/validation";
import { Link } from "../router";
import { PolicyPreview } from "./PolicyPreview";
import { useRequestSubmit } from "./submitRequest";
import { Banner, EmptyState, ErrorState, Field, Loading } from "./ui";

/** Ask for consume or produce access to a topic for one of my team's service accounts. */
export function RequestAccess({ topic }: { topic: TopicDetail }) {
  const session = useSession();
  const accounts = useAsync((signal) => api.serviceAccounts(topic.cluster, signal), [topic.cluster]);
  const mine = useMemo(
    () => (accounts.data?.items ?? []).filter((a) => session.teams.includes(principalTeam(a.principal))),
    [accounts.data, session.teams],
  );
  const [principal, setPrincipal] = useState("");
  const [access, setAccess] = useState<"consume" | "produce">("consume");
  // The group starts as the service account's name, a common convention, until someone edits it.
  const [editedGroup, setEditedGroup] = useState<string | null>(null);
  const [reason, setReason] = useState("");
  const { attempted, serverErrors, setServerErrors, banner, setBanner, submitting, formRef, submit: submitBody } =
    useRequestSubmit(ACCESS_GRANT_RULES);

  const chosen = principal || mine[0]?.principal || "";
  const group = editedGroup ?? principalName(chosen);
  const clientErrors: Record<string, string> = {};
  if (!chosen) clientErrors.principal = "choose one of your team's service accounts";
  else if ((topic.access_grants ?? []).some((g) => g.principal === chosen && g.access === access)) {
    clientErrors.principal = `${principalName(chosen)} already has ${access} access to this topic`;
  }
  if (access === "consume") {
    const problem = validateGroupId(group);
    if (problem) clientErrors.group = problem;
  }
  const valid = Object.keys(clientErrors).length === 0;
  const body: RequestSubmission | null = valid ? {
    kind: "access.grant",
    cluster: topic.cluster,
    spec: { topic: topic.name, principal: chosen, access, ...(access === "consume" ? { group: group.trim() } : {}) },
    ...(reason.trim() ? { reason: reason.trim() } : {}),
  } : null;
  const preview = usePolicyPreview(body, Object.keys(clientErrors).length, (problem) => {
    const split = splitProblem(problem, ACCESS_GRANT_RULES);
    setServerErrors(split.fields);
    return [...Object.values(split.fields).flat(), ...split.general];
  });
  const errors = mergeFieldErrors(attempted ? clientErrors : {}, serverErrors);
  const denied = preview.state.kind === "decided" && preview.state.decision.outcome === "denied";

  const submit = (event: FormEvent) => submitBody(event, body);

  const clearServer = (field: string) => setServerErrors((old) => {
    const next = { ...old };
    delete next[field];
    return next;
  });

  if (accounts.loading && !accounts.data) return <Loading label="Loading your service accounts…" />;
  if (accounts.error) return <ErrorState error={accounts.error} onRetry={accounts.reload} what="your service accounts" />;
  if (mine.length === 0) {
    return (
      <EmptyState title={`You have no service account on ${topic.cluster} yet.`} testId="access-no-accounts">
        Access is granted to a service account of your team.{" "}
        <Link to={routes.serviceAccounts(topic.cluster)}>Create one on {topic.cluster}</Link>, then come back here.
      </EmptyState>
    );
  }

  return (
    <form ref={formRef} onSubmit={submit} noValidate className="access-form" data-testid="request-access-form">
      {banner.length ? (
        <Banner title="The request was not submitted" onDismiss={() => setBanner([])}>
          <ul>{banner.map((line) => <li key={line}>{line}</li>)}</ul>
        </Banner>
      ) : null}
      <div className="form-grid">
        <div className="form-main">
          <Field label="Service account" name="principal" errors={errors.principal}>
            {(props) => (
              <select {...props} value={chosen} data-testid="access-principal"
                onChange={(event) => { setPrincipal(event.target.value); clearServer("principal"); }}>
                {mine.map((account) => (
                  <option key={account.principal} value={account.principal}>
                    {principalName(account.principal)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <fieldset className="radio-group">
            <legend>Access</legend>
            <label className="radio">
              <input type="radio" name="access" value="consume" checked={access === "consume"} data-testid="access-consume"
                onChange={() => { setAccess("consume"); clearServer("access"); }} />
              <span>Consume <span className="muted">— read with a consumer group</span></span>
            </label>
            <label className="radio">
              <input type="radio" name="access" value="produce" checked={access === "produce"} data-testid="access-produce"
                onChange={() => { setAccess("produce"); clearServer("access"); clearServer("group"); }} />
              <span>Produce <span className="muted">— write to the topic</span></span>
            </label>
            {errors.access ? (
              <ul className="field-errors" data-testid="field-error-access">{errors.access.map((m) => <li key={m}>{m}</li>)}</ul>
            ) : null}
          </fieldset>
          {access === "consume" ? (
            <Field label="Consumer group" name="group" errors={errors.group}
              hint={`The group id your consumer uses, e.g. ${principalName(chosen) || "team.service"}.`}>
              {(props) => (
                <input {...props} type="text" className="mono" value={group} autoComplete="off" spellCheck={false}
                  placeholder={principalName(chosen)} data-testid="access-group"
                  onChange={(event) => { setEditedGroup(event.target.value); clearServer("group"); }} />
              )}
            </Field>
          ) : null}
          <Field label="Reason" name="reason" errors={errors.reason} hint={`${topic.owner_team} sees this when deciding.`}>
            {(props) => (
              <textarea {...props} rows={2} value={reason} data-testid="access-reason"
                onChange={(event) => { setReason(event.target.value); clearServer("reason"); }} />
            )}
          </Field>
        </div>
        <aside className="form-aside">
          <PolicyPreview state={preview.state} onRetry={preview.retry}
            summary={body ? [`Let ${principalName(chosen)} ${access} ${topic.name}${access === "consume" ? ` as group ${group.trim()}` : ""}.`] : []} />
        </aside>
      </div>
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={submitting || denied} data-testid="submit-access-request">
          {submitting ? "Submitting…" : "Request access"}
        </button>
      </div>
    </form>
  );
}
