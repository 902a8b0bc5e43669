import { type FormEvent, useEffect, useRef, useState } from "react";
import { api, ApiError, newIdempotencyKey } from "../api/client";
import type { ServiceAccountCredentials } from "../api/types";
import { Banner, CopyButton, EmptyState, ErrorState, Field, Loading, PageHeader, Time, errorMessage } from "../components/ui";
import { useAsync, useSession, useTitle } from "../hooks";
import { canManageServiceAccount, defaultCluster } from "../lib/permissions";
import { SERVICE_ACCOUNT_RULES, splitProblem } from "../lib/problems";
import { routes } from "../lib/route";
import { principalName, principalTeam, teamPrefix, validateServiceAccountName } from "../lib/validation";
import { navigate, useLocation } from "../router";

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
            canManage={(team) => canManageServiceAccount(session, team)}
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

function AccountList({ cluster, canManage, onRotated }: {
  cluster: string; canManage: (team: string) => boolean; onRotated: (credentials: ServiceAccountCredentials) => void;
}) {
  const accounts = useAsync((signal) => api.serviceAccounts(cluster, signal), [cluster]);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

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

  return (
    <section className="section" aria-labelledby="sa-list-heading">
      <h2 id="sa-list-heading">Service accounts on {cluster}</h2>
      {error ? <Banner title="Could not rotate the password" onDismiss={() => setError(null)}>{error}</Banner> : null}
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
                <th scope="col">Created</th>
                <th scope="col"><span className="visually-hidden">Actions</span></th>
              </tr>
            </thead>
            <tbody>
              {accounts.data.items.map((account) => {
                const team = account.team ?? principalTeam(account.principal);
                // Rotating is for owners of the account's team: members do not get a button that answers 403.
                const own = !!team && canManage(team);
                const name = principalName(account.principal);
                return (
                  <tr key={account.principal} data-testid="sa-row" data-principal={account.principal}>
                    <td data-label="Principal" className="mono">{account.principal}</td>
                    <td data-label="Team">{team || "–"}</td>
                    <td data-label="Created"><Time at={account.created_at} /></td>
                    <td data-label="Actions" className="actions">
                      {!own ? null : confirming === account.principal ? (
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
                        <button type="button" className="button button-small" onClick={() => setConfirming(account.principal)}
                          aria-label={`Rotate the password of ${name}`} data-testid={`rotate-${name}`}>
                          Rotate password
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
