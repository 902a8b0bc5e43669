import { type FormEvent, useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api/client";
import type { ApiToken, CreatedApiToken } from "../api/types";
import { Badge, Banner, CopyButton, EmptyState, ErrorState, Field, Loading, PageHeader, Time, errorMessage } from "../components/ui";
import { useAsync, useSession, useTitle } from "../hooks";
import { splitProblem } from "../lib/problems";
import { ownedTeams } from "../lib/permissions";
import { EXPIRY_CHOICES, sortTokens, tokenState, validateTokenName } from "../lib/tokens";

const TOKEN_RULES = [
  { pattern: "/name", field: "name" },
  { pattern: "/role", field: "role" },
  { pattern: "/expires_in_days", field: "expiry" },
] as const;

const STATE_TONE = { active: "success", expired: "neutral", revoked: "neutral" } as const;

/** Team API tokens for CI and scripts: owners create (shown once), see last use, revoke. */
export function TokensPage() {
  useTitle("API tokens");
  const session = useSession();
  const teams = ownedTeams(session);
  const [team, setTeam] = useState(teams[0] ?? "");

  return (
    <>
      <PageHeader title="API tokens" />
      <p className="lede">
        A team API token lets a CI pipeline or a script call the Topicdesk API for your team, as a member (submit
        requests) or as an owner (also approve and manage). The token is shown once; Topicdesk keeps only a hash.
      </p>
      {teams.length === 0 ? (
        <EmptyState title="Only owners of a team manage its API tokens." testId="tokens-not-owner">
          Ask an owner of your team for a token.
        </EmptyState>
      ) : (
        <>
          {teams.length > 1 ? (
            <div className="card filters">
              <div className="field">
                <label htmlFor="tokens-team">Team</label>
                <select id="tokens-team" value={team} onChange={(event) => setTeam(event.target.value)}
                  data-testid="tokens-team">
                  {teams.map((t) => <option key={t} value={t}>{t}</option>)}
                </select>
              </div>
            </div>
          ) : null}
          <TeamTokens key={team} team={team} />
        </>
      )}
    </>
  );
}

function TeamTokens({ team }: { team: string }) {
  const tokens = useAsync((signal) => api.tokens(team, signal), [team]);
  const [created, setCreated] = useState<CreatedApiToken | null>(null);
  const items = tokens.data?.items ?? [];
  return (
    <>
      {created ? <CreatedToken created={created} onClose={() => setCreated(null)} /> : null}
      <CreateTokenForm team={team} existing={items}
        onCreated={(token) => { setCreated(token); tokens.reload(); }} />
      <section className="section" aria-labelledby="tokens-list-heading">
        <h2 id="tokens-list-heading">Tokens of {team}</h2>
        {tokens.loading && !tokens.data ? <Loading label="Loading tokens…" /> : tokens.error ? (
          <ErrorState error={tokens.error} onRetry={tokens.reload} what="the tokens" />
        ) : items.length === 0 ? (
          <EmptyState title={`${team} has no API tokens yet.`} testId="tokens-empty" />
        ) : (
          <TokenTable team={team} tokens={items} onRevoked={tokens.reload} />
        )}
      </section>
    </>
  );
}

function CreateTokenForm({ team, existing, onCreated }: {
  team: string; existing: readonly ApiToken[]; onCreated: (token: CreatedApiToken) => void;
}) {
  const [name, setName] = useState("");
  const [role, setRole] = useState<"member" | "owner">("member");
  const [days, setDays] = useState(90);
  const [attempted, setAttempted] = useState(false);
  const [serverErrors, setServerErrors] = useState<Record<string, string[]>>({});
  const [banner, setBanner] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const nameRef = useRef<HTMLInputElement>(null);
  const clientError = validateTokenName(name.trim(), existing);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setAttempted(true);
    setBanner(null);
    if (clientError) {
      nameRef.current?.focus();
      return;
    }
    setBusy(true);
    try {
      onCreated(await api.createToken(team, { name: name.trim(), role, expires_in_days: days }));
      setName("");
      setAttempted(false);
    } catch (error) {
      if (error instanceof ApiError && [400, 409, 422].includes(error.status)) {
        const split = splitProblem(error.problem, TOKEN_RULES);
        setServerErrors(split.fields);
        if (split.general.length) setBanner(split.general.join(" "));
        nameRef.current?.focus();
      } else {
        setBanner(errorMessage(error));
      }
    } finally {
      setBusy(false);
    }
  };

  const nameErrors = [...(attempted && clientError ? [clientError] : []), ...(serverErrors.name ?? [])];
  return (
    <form className="card" onSubmit={submit} noValidate data-testid="create-token" aria-labelledby="create-token-heading">
      <h2 id="create-token-heading">New token for {team}</h2>
      {banner ? <Banner title="The token was not created" onDismiss={() => setBanner(null)}>{banner}</Banner> : null}
      <div className="field-row">
        <Field label="Name" name="token-name" errors={nameErrors.length ? nameErrors : undefined}
          hint="What uses it, e.g. ci-deploy or nightly-export.">
          {(props) => (
            <input {...props} ref={nameRef} type="text" className="mono" value={name} autoComplete="off"
              spellCheck={false} data-testid="token-name"
              onChange={(event) => { setName(event.target.value); setServerErrors({}); }} />
          )}
        </Field>
        <Field label="Role" name="token-role" errors={serverErrors.role}
          hint={role === "owner" ? "Also approves, rotates and deletes: give it only to what needs it." : "Submits requests and reads."}>
          {(props) => (
            <select {...props} value={role} data-testid="token-role"
              onChange={(event) => setRole(event.target.value === "owner" ? "owner" : "member")}>
              <option value="member">member</option>
              <option value="owner">owner</option>
            </select>
          )}
        </Field>
        <Field label="Expires after" name="token-expiry" errors={serverErrors.expiry}>
          {(props) => (
            <select {...props} value={days} data-testid="token-expiry" onChange={(event) => setDays(Number(event.target.value))}>
              {EXPIRY_CHOICES.map((choice) => <option key={choice.days} value={choice.days}>{choice.label}</option>)}
            </select>
          )}
        </Field>
      </div>
      <div className="button-row">
        <button type="submit" className="button button-primary" disabled={busy} data-testid="create-token-submit">
          {busy ? "Creating…" : "Create token"}
        </button>
      </div>
    </form>
  );
}

function CreatedToken({ created, onClose }: { created: CreatedApiToken; onClose: () => void }) {
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    ref.current?.focus();
  }, [created]);
  return (
    <section ref={ref} tabIndex={-1} className="card credentials" aria-labelledby="token-created-heading"
      data-testid="token-created" data-token-id={created.id}>
      <h2 id="token-created-heading">Token <span className="mono">{created.name}</span> for {created.team}</h2>
      <Banner tone="warning" title="Copy the token now">
        It is shown only this once; Topicdesk keeps only a hash. It acts as a {created.role} of {created.team}
        {created.expires_at ? <> until <Time at={created.expires_at} /></> : null}.
      </Banner>
      <div className="field">
        <label htmlFor="token-value">Token</label>
        <div className="input-group">
          <input id="token-value" type="text" className="mono" readOnly value={created.token} data-testid="token-value"
            onFocus={(event) => event.currentTarget.select()} />
          <CopyButton text={created.token} label="Copy token" testId="copy-token" />
        </div>
      </div>
      <p className="small muted">Use it as <code>Authorization: Bearer &lt;token&gt;</code>, or set TOPICDESK_TOKEN for the topicdesk CLI.</p>
      <div className="button-row">
        <button type="button" className="button" onClick={onClose} data-testid="token-done">I have stored it</button>
      </div>
    </section>
  );
}

function TokenTable({ team, tokens, onRevoked }: { team: string; tokens: readonly ApiToken[]; onRevoked: () => void }) {
  const [confirming, setConfirming] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const revoke = async (token: ApiToken) => {
    setBusy(true);
    setError(null);
    try {
      await api.revokeToken(team, token.id);
      setConfirming(null);
      onRevoked();
    } catch (reason) {
      setError(errorMessage(reason));
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      {error ? <Banner title="Could not revoke the token" onDismiss={() => setError(null)}>{error}</Banner> : null}
      <div className="table-wrap">
        <table className="table stack" data-testid="tokens-table">
          <caption className="visually-hidden">API tokens of {team}</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Role</th>
              <th scope="col">State</th>
              <th scope="col">Last used</th>
              <th scope="col">Expires</th>
              <th scope="col">Created</th>
              <th scope="col"><span className="visually-hidden">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {sortTokens(tokens).map((token) => {
              const state = tokenState(token);
              return (
                <tr key={token.id} data-testid="token-row" data-token-name={token.name} data-state={state}>
                  <td data-label="Name" className="mono">{token.name.replace(/~[0-9a-f]{8}$/, "")}</td>
                  <td data-label="Role">{token.role}</td>
                  <td data-label="State"><Badge tone={STATE_TONE[state]}>{state}</Badge></td>
                  <td data-label="Last used" data-testid="token-last-used">
                    {token.last_used_at ? <Time at={token.last_used_at} /> : <span className="muted">never</span>}
                  </td>
                  <td data-label="Expires">{token.expires_at ? <Time at={token.expires_at} /> : "never"}</td>
                  <td data-label="Created">
                    <Time at={token.created_at} />{token.created_by ? <span className="muted small"> by {token.created_by}</span> : null}
                  </td>
                  <td data-label="Actions" className="actions">
                    {state !== "active" ? null : confirming === token.id ? (
                      <span className="button-row">
                        <span className="small">What uses it gets 401 from now on.</span>
                        <button type="button" className="button button-danger button-small" disabled={busy}
                          onClick={() => void revoke(token)} data-testid={`confirm-revoke-${token.name}`}>
                          {busy ? "Revoking…" : "Revoke now"}
                        </button>
                        <button type="button" className="button button-quiet button-small" onClick={() => setConfirming(null)}>
                          Keep
                        </button>
                      </span>
                    ) : (
                      <button type="button" className="button button-small" onClick={() => setConfirming(token.id)}
                        aria-label={`Revoke the token ${token.name}`} data-testid={`revoke-${token.name}`}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}
