import { type FormEvent, type ReactNode, useEffect, useRef, useState } from "react";
import { api, ApiError, newIdempotencyKey } from "../api/client";
import type { RequestSubmission, ServiceAccount, ServiceAccountCredentials } from "../api/types";
import { PolicyPreview } from "../components/PolicyPreview";
import { useRequestSubmit } from "../components/submitRequest";
import {
  Banner, CopyButton, EmptyState, ErrorState, Field, Loading, PageHeader, StatusBadge, Time, errorMessage,
} from "../components/ui";
import { useAsync, usePolicyPreview, useSession, useTitle } from "../hooks";
import { defaultCluster, ownedTeams } from "../lib/permissions";
import { mergeFieldErrors, SERVICE_ACCOUNT_RULES, splitProblem } from "../lib/problems";
import {
  describeChange, formatQuotaValue, formatRate, formFromQuota, planQuota, QUOTA_DEFAULTS, QUOTA_KEYS, QUOTA_LABEL,
  type QuotaForm,
} from "../lib/quota";
import { routes } from "../lib/route";
import { principalName, principalTeam, teamPrefix, validateServiceAccountName } from "../lib/validation";
import { Link, navigate, useLocation } from "../router";

const QUOTA_RULES = [
  { pattern: "/spec/producer_byte_rate", field: "producer_byte_rate" },
  { pattern: "/spec/consumer_byte_rate", field: "consumer_byte_rate" },
  { pattern: "/spec/request_percentage", field: "request_percentage" },
  { pattern: "/reason", field: "reason" },
];

export function ServiceAccountsPage() {
  useTitle("Service accounts");
  const session = useSession();
  const { query } = useLocation();
  const clusters = useAsync((signal) => api.clusters(signal), []);
  const items = clusters.data?.items ?? [];
  const requested = query.get("cluster") ?? "";
  // Without a choice in the address: a cluster the caller's team owns, where its services run.
  const cluster = items.some((c) => c.name === requested) ? requested : defaultCluster(session, items);
  const [credentials, setCredentials] = useState<{ credentials: ServiceAccountCredentials; rotated: boolean } | null>(null);

  return (
    <>
      <PageHeader title="Service accounts" />
      <p className="lede">
        Your services connect to a cluster as a service account (a SCRAM user). Create one per service, named with your
        team prefix; its password is shown once.
      </p>
      {clusters.loading && !clusters.data ? <Loading label="Loading clusters…" /> : clusters.error ? (
        <ErrorState error={clusters.error} onRetry={clusters.reload} what="the clusters" />
      ) : items.length === 0 ? (
        <EmptyState title="No cluster is registered yet." />
      ) : (
        <>
          <div className="card filters">
            <div className="field">
              <label htmlFor="sa-cluster">Cluster</label>
              <select id="sa-cluster" value={cluster} data-testid="sa-cluster"
                onChange={(event) => { setCredentials(null); navigate(routes.serviceAccounts(event.target.value), { replace: true }); }}>
                {items.map((c) => (
                  <option key={c.name} value={c.name}>
                    {c.name} ({c.environment}, owned by {c.owner_team})
                  </option>
                ))}
              </select>
            </div>
          </div>
          {credentials ? (
            <CredentialsPanel credentials={credentials.credentials} rotated={credentials.rotated}
              onClose={() => setCredentials(null)} />
          ) : null}
          {session.teams.length === 0 ? (
            <EmptyState title="You are in no team, so you cannot create service accounts." />
          ) : (
            <CreateForm key={cluster} cluster={cluster} teams={session.teams}
              onCreated={(created) => setCredentials({ credentials: created, rotated: false })} />
          )}
          <AccountList key={`list-${cluster}-${credentials?.credentials.principal ?? ""}`} cluster={cluster}
            clusterOwner={items.find((c) => c.name === cluster)?.owner_team ?? ""}
            onRotated={(rotated) => setCredentials({ credentials: rotated, rotated: true })} />
        </>
      )}
    </>
  );
}

function CreateForm({ cluster, teams, onCreated }: {
  cluster: string; teams: string[]; onCreated: (credentials: ServiceAccountCredentials) => void;
}) {
  const [team, setTeam] = useState(teams[0] ?? "");
  const [name, setName] = useState(teamPrefix(teams[0] ?? ""));
  const [attempted, setAttempted] = useState(false);
  const [serverError, setServerError] = useState<string[]>([]);
  const [banner, setBanner] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const inputRef = useRef<HTMLInputElement>(null);
  const clientError = validateServiceAccountName(name.trim(), team);
  const errors = [...(attempted && clientError ? [clientError] : []), ...serverError];

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setAttempted(true);
    setBanner(null);
    if (clientError) {
      inputRef.current?.focus();
      return;
    }
    setBusy(true);
    try {
      const created = await api.createServiceAccount(cluster, name.trim(), newIdempotencyKey());
      onCreated(created);
      setName(teamPrefix(team));
      setAttempted(false);
    } catch (error) {
      if (error instanceof ApiError && (error.status === 422 || error.status === 400 || error.status === 409)) {
        const split = splitProblem(error.problem, SERVICE_ACCOUNT_RULES);
        const fieldMessages = Object.values(split.fields).flat();
        setServerError(fieldMessages.length ? fieldMessages : split.general);
        inputRef.current?.focus();
      } else {
        setBanner(errorMessage(error));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card" onSubmit={submit} noValidate data-testid="create-service-account" aria-labelledby="create-sa-heading">
      <h2 id="create-sa-heading">New service account on {cluster}</h2>
      {banner ? <Banner title="The service account was not created" onDismiss={() => setBanner(null)}>{banner}</Banner> : null}
      <div className="field-row">
        {teams.length > 1 ? (
          <div className="field">
            <label htmlFor="sa-team">Team</label>
            <select id="sa-team" value={team} onChange={(event) => {
              const next = event.target.value;
              setName((old) => (old.startsWith(teamPrefix(team)) ? teamPrefix(next) + old.slice(teamPrefix(team).length) : old));
              setTeam(next);
            }}>
              {teams.map((t) => <option key={t} value={t}>{t}</option>)}
            </select>
          </div>
        ) : null}
        <Field label="Name" name="name" errors={errors.length ? errors : undefined}
          hint={`Starts with ${teamPrefix(team)}, e.g. ${teamPrefix(team)}invoice-writer. The principal is User:<name>.`}>
          {(props) => (
            <input {...props} ref={inputRef} type="text" className="mono" value={name} autoComplete="off" spellCheck={false}
              data-testid="sa-name" onChange={(event) => { setName(event.target.value); setServerError([]); }} />
          )}
        </Field>
      </div>
      <div className="button-row">
        <button type="submit" className="button button-primary" disabled={busy} data-testid="create-sa-submit">
          {busy ? "Creating…" : "Create service account"}
        </button>
      </div>
    </form>
  );
}

function CredentialsPanel({ credentials, rotated, onClose }: {
  credentials: ServiceAccountCredentials; rotated: boolean; onClose: () => void;
}) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, [credentials]);
  const properties = [
    `bootstrap.servers=${credentials.bootstrap_servers}`,
    `security.protocol=${credentials.security_protocol}`,
    `sasl.mechanism=${credentials.sasl_mechanism}`,
    `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${credentials.username}" password="${credentials.password}";`,
  ].join("\n");
  return (
    <section ref={ref} tabIndex={-1} className="card credentials" aria-labelledby="credentials-heading"
      data-testid="credentials" data-principal={credentials.principal}>
      <h2 id="credentials-heading">
        {rotated ? "New password for " : "Created "}
        <span className="mono">{principalName(credentials.principal)}</span>
      </h2>
      <Banner tone="warning" title="Copy the password now">
        It is shown only this once; Topicdesk does not keep it. {rotated ? "The old password no longer works." : ""}
      </Banner>
      <div className="field">
        <label htmlFor="sa-password">Password</label>
        <div className="input-group">
          <input id="sa-password" type="text" className="mono" readOnly value={credentials.password}
            data-testid="sa-password" onFocus={(event) => event.currentTarget.select()} />
          <CopyButton text={credentials.password} label="Copy password" testId="copy-password" />
        </div>
      </div>
      <dl className="key-values">
        <div><dt>Principal</dt><dd className="mono" data-testid="sa-principal">{credentials.principal}</dd></div>
        <div><dt>Username</dt><dd className="mono">{credentials.username}</dd></div>
        <div><dt>Bootstrap servers</dt><dd className="mono">{credentials.bootstrap_servers}</dd></div>
        <div><dt>Security</dt><dd>{credentials.security_protocol}, {credentials.sasl_mechanism}</dd></div>
      </dl>
      <details className="raw">
        <summary>Client properties</summary>
        <pre>{properties}</pre>
        <CopyButton text={properties} label="Copy properties" testId="copy-properties" />
      </details>
      <div className="button-row">
        <button type="button" className="button" onClick={onClose} data-testid="credentials-done">
          I have stored it
        </button>
      </div>
    </section>
  );
}

function AccountList({ cluster, clusterOwner, onRotated }: {
  cluster: string; clusterOwner: string; onRotated: (credentials: ServiceAccountCredentials) => void;
}) {
  const session = useSession();
  const accounts = useAsync((signal) => api.serviceAccounts(cluster, signal), [cluster]);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<{ principal: string; panel: "quota" | "delete" } | null>(null);
  const [deleted, setDeleted] = useState<{ principal: string; grants: number; quota: boolean } | null>(null);
  const owned = ownedTeams(session);
  // quota.set is for the cluster's owner team (policies/quota.policy.json); the server decides.
  const maySetQuota = session.platform_admin || session.teams.includes(clusterOwner);

  const rotate = async (principal: string) => {
    setBusy(true);
    setError(null);
    try {
      onRotated(await api.rotateServiceAccount(cluster, principal));
      setConfirming(null);
    } catch (reason) {
      setError(errorMessage(reason));
    } finally {
      setBusy(false);
    }
  };

  const selected = open ? accounts.data?.items.find((a) => a.principal === open.principal) : undefined;
  const toggle = (principal: string, panel: "quota" | "delete") =>
    setOpen((old) => (old?.principal === principal && old.panel === panel ? null : { principal, panel }));

  return (
    <section className="section" aria-labelledby="sa-list-heading">
      <h2 id="sa-list-heading">Service accounts on {cluster}</h2>
      {error ? <Banner title="Could not rotate the password" onDismiss={() => setError(null)}>{error}</Banner> : null}
      {deleted ? (
        <Banner tone="success" title={`Deleted ${principalName(deleted.principal)}`} onDismiss={() => setDeleted(null)}
          testId="sa-deleted">
          The reconciler now removes its credential
          {deleted.grants ? `, the ACLs of its ${deleted.grants} access ${deleted.grants === 1 ? "grant" : "grants"}` : ""}
          {deleted.quota ? " and its quota" : ""} from {cluster}; clients using it can no longer connect.
        </Banner>
      ) : null}
      {accounts.loading && !accounts.data ? <Loading label="Loading service accounts…" /> : accounts.error ? (
        <ErrorState error={accounts.error} onRetry={accounts.reload} what="the service accounts" />
      ) : !accounts.data?.items.length ? (
        <EmptyState title={`No service accounts on ${cluster} yet.`} testId="sa-empty" />
      ) : (
        <div className="table-wrap">
          <table className="table stack" data-testid="sa-table">
            <caption className="visually-hidden">Service accounts on {cluster}</caption>
            <thead>
              <tr>
                <th scope="col">Principal</th>
                <th scope="col">Team</th>
                <th scope="col">Quota</th>
                <th scope="col">Access</th>
                <th scope="col">Created</th>
                <th scope="col"><span className="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {accounts.data.items.map((account) => {
                const team = account.team ?? principalTeam(account.principal);
                const owner = owned.includes(team) || session.platform_admin;
                const name = principalName(account.principal);
                const grants = account.grants ?? [];
                return (
                  <tr key={account.principal} data-testid="sa-row" data-principal={account.principal}>
                    <td data-label="Principal" className="mono">{account.principal}</td>
                    <td data-label="Team">{team || "–"}</td>
                    <td data-label="Quota" data-testid={`quota-${name}`}>
                      <QuotaSummary account={account} />
                    </td>
                    <td data-label="Access">
                      {grants.length ? `${grants.length} ${grants.length === 1 ? "grant" : "grants"}` : <span className="muted">none</span>}
                    </td>
                    <td data-label="Created"><Time at={account.created_at} /></td>
                    <td data-label="Actions" className="actions">
                      {confirming === account.principal ? (
                        <span className="button-row">
                          <span className="small">The old password stops working.</span>
                          <button type="button" className="button button-danger button-small" disabled={busy}
                            onClick={() => void rotate(account.principal)} data-testid={`confirm-rotate-${name}`}>
                            {busy ? "Rotating…" : "Rotate now"}
                          </button>
                          <button type="button" className="button button-quiet button-small" onClick={() => setConfirming(null)}>
                            Keep
                          </button>
                        </span>
                      ) : (
                        <span className="button-row">
                          {maySetQuota ? (
                            <button type="button" className="button button-small" onClick={() => toggle(account.principal, "quota")}
                              aria-expanded={open?.principal === account.principal && open.panel === "quota"}
                              aria-label={`Set the quota of ${name}`} data-testid={`set-quota-${name}`}>
                              {account.quota ? "Change quota" : "Set quota"}
                            </button>
                          ) : null}
                          {owner ? (
                            <>
                              <button type="button" className="button button-small" onClick={() => setConfirming(account.principal)}
                                aria-label={`Rotate the password of ${name}`} data-testid={`rotate-${name}`}>
                                Rotate password
                              </button>
                              <button type="button" className="button button-small button-danger"
                                onClick={() => toggle(account.principal, "delete")}
                                aria-expanded={open?.principal === account.principal && open.panel === "delete"}
                                aria-label={`Delete ${name}`} data-testid={`delete-${name}`}>
                                Delete
                              </button>
                            </>
                          ) : null}
                        </span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {selected && open?.panel === "quota" ? (
        <QuotaPanel key={selected.principal} cluster={cluster} account={selected} onClose={() => setOpen(null)} />
      ) : null}
      {selected && open?.panel === "delete" ? (
        <DeletePanel key={selected.principal} cluster={cluster} account={selected} onClose={() => setOpen(null)}
          onDeleted={() => {
            setDeleted({ principal: selected.principal, grants: selected.grants?.length ?? 0, quota: Boolean(selected.quota) });
            setOpen(null);
            accounts.reload();
          }} />
      ) : null}
    </section>
  );
}

function QuotaSummary({ account }: { account: ServiceAccount }) {
  const quota = account.quota;
  return (
    <span className="quota-summary">
      {quota ? (
        <>
          {QUOTA_KEYS.filter((key) => quota[key] !== null).map((key) => (
            <span key={key} className="nowrap">{QUOTA_LABEL[key]} {formatQuotaValue(key, quota[key])}</span>
          )).reduce<ReactNode[]>((all, item, index) => (index ? [...all, " · ", item] : [item]), [])}
          {" "}<StatusBadge status={quota.status} testId="quota-status" />
        </>
      ) : <span className="muted">broker default</span>}
      {account.pending_quota_request ? (
        <>
          {" "}<Link to={routes.request(account.pending_quota_request)} data-testid="quota-pending">change awaiting approval</Link>
        </>
      ) : null}
    </span>
  );
}

/** Request a quota, or change it: current beside new, only what changed is sent, through the live preview. */
function QuotaPanel({ cluster, account, onClose }: { cluster: string; account: ServiceAccount; onClose: () => void }) {
  const [form, setForm] = useState<QuotaForm>(() => formFromQuota(account.quota));
  const [reason, setReason] = useState("");
  const { attempted, serverErrors, setServerErrors, banner, setBanner, submitting, formRef, submit } =
    useRequestSubmit(QUOTA_RULES);
  const plan = planQuota(account.principal, account.quota, form);
  const issues = Object.keys(plan.errors).length + (plan.changes.length ? 0 : 1);
  const body: RequestSubmission | null = plan.spec
    ? { kind: "quota.set", cluster, spec: plan.spec, ...(reason.trim() ? { reason: reason.trim() } : {}) }
    : null;
  const preview = usePolicyPreview(body, issues, (problem) => {
    const split = splitProblem(problem, QUOTA_RULES);
    setServerErrors(split.fields);
    return [...Object.values(split.fields).flat(), ...split.general];
  });
  const denied = preview.state.kind === "decided" && preview.state.decision.outcome === "denied";
  const name = principalName(account.principal);
  const errors = mergeFieldErrors(attempted ? plan.errors : {}, serverErrors);

  return (
    <form ref={formRef} className="card" noValidate onSubmit={(event) => void submit(event, body)}
      data-testid="quota-form" aria-labelledby="quota-heading">
      <h2 id="quota-heading">{account.quota ? "Change the quota of " : "Set a quota for "}<span className="mono">{name}</span></h2>
      <p className="muted small">
        Kafka throttles a client past its quota, per broker. Up to the defaults ({formatRate(QUOTA_DEFAULTS.producer_byte_rate)} produce,{" "}
        {formatRate(QUOTA_DEFAULTS.consumer_byte_rate)} fetch, {QUOTA_DEFAULTS.request_percentage}% request time) it is applied at once;
        above them a platform admin decides. Leave a field empty for no quota.
      </p>
      {banner.length ? (
        <Banner title="The request was not submitted" onDismiss={() => setBanner([])}>
          <ul>{banner.map((line) => <li key={line}>{line}</li>)}</ul>
        </Banner>
      ) : null}
      <div className="form-grid">
        <div className="form-main">
          {QUOTA_KEYS.map((key) => (
            <Field key={key} label={`${QUOTA_LABEL[key]} (${key === "request_percentage" ? "%" : "MiB/s"})`} name={key}
              errors={errors[key]}
              hint={<>Now: <span data-testid={`quota-current-${key}`}>{formatQuotaValue(key, account.quota?.[key])}</span>; default {formatQuotaValue(key, QUOTA_DEFAULTS[key])}</>}>
              {(props) => (
                <input {...props} type="text" inputMode="decimal" value={form[key]} data-testid={`quota-${key}`}
                  onChange={(event) => { setForm((old) => ({ ...old, [key]: event.target.value })); setServerErrors({}); }} />
              )}
            </Field>
          ))}
          <Field label="Reason" name="reason" errors={errors.reason} hint="Whoever approves sees this.">
            {(props) => (
              <textarea {...props} rows={2} value={reason} data-testid="quota-reason" onChange={(event) => setReason(event.target.value)} />
            )}
          </Field>
        </div>
        <aside className="form-aside">
          <PolicyPreview state={preview.state} onRetry={preview.retry}
            summary={plan.changes.map(describeChange)} />
        </aside>
      </div>
      <div className="form-actions">
        <button type="submit" className="button button-primary" disabled={submitting || denied || !body}
          data-testid="submit-quota">
          {submitting ? "Submitting…" : "Request quota"}
        </button>
        <button type="button" className="button button-quiet" onClick={onClose}>Cancel</button>
      </div>
    </form>
  );
}

/** Delete an account: what goes with it, then the account's name typed to confirm. */
function DeletePanel({ cluster, account, onClose, onDeleted }: {
  cluster: string; account: ServiceAccount; onClose: () => void; onDeleted: () => void;
}) {
  const name = principalName(account.principal);
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const grants = account.grants ?? [];
  const confirmed = typed.trim() === name;

  const remove = async (event: FormEvent) => {
    event.preventDefault();
    if (!confirmed) return;
    setBusy(true);
    setError(null);
    try {
      await api.deleteServiceAccount(cluster, account.principal);
      onDeleted();
    } catch (reason) {
      setError(errorMessage(reason));
      setBusy(false);
    }
  };

  return (
    <form className="card danger-zone" onSubmit={remove} noValidate data-testid="delete-account"
      aria-labelledby="delete-sa-heading">
      <h2 id="delete-sa-heading">Delete <span className="mono">{name}</span> from {cluster}</h2>
      {error ? <Banner title="The service account was not deleted" onDismiss={() => setError(null)}>{error}</Banner> : null}
      <p>Its SCRAM credential is removed from the cluster: every client using it stops connecting. With it go:</p>
      <ul data-testid="delete-goes">
        {grants.map((grant) => (
          <li key={`${grant.topic}-${grant.access}-${grant.group ?? ""}-${grant.transactional_id ?? ""}`} data-testid="delete-grant">
            {grant.access} access to <span className="mono">{grant.topic}</span>
            {grant.pattern === "prefixed" ? " (every topic with this prefix)" : ""}
            {grant.group ? <> as group <span className="mono">{grant.group}</span></> : null}
          </li>
        ))}
        {account.quota ? (
          <li data-testid="delete-quota">
            its quota ({QUOTA_KEYS.filter((key) => account.quota?.[key] !== null)
              .map((key) => `${QUOTA_LABEL[key].toLowerCase()} ${formatQuotaValue(key, account.quota?.[key])}`).join(", ")})
          </li>
        ) : null}
        {!grants.length && !account.quota ? <li className="muted">no access grants and no quota</li> : null}
      </ul>
      <Field label={<>Type <span className="mono">{name}</span> to confirm</>} name="confirm-name">
        {(props) => (
          <input {...props} type="text" className="mono" value={typed} autoComplete="off" spellCheck={false}
            data-testid="delete-confirm-name" onChange={(event) => setTyped(event.target.value)} />
        )}
      </Field>
      <div className="button-row">
        <button type="submit" className="button button-danger" disabled={!confirmed || busy} data-testid="confirm-delete">
          {busy ? "Deleting…" : "Delete service account"}
        </button>
        <button type="button" className="button button-quiet" onClick={onClose}>Keep it</button>
      </div>
    </form>
  );
}
