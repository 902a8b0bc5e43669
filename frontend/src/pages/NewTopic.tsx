import { type FormEvent, type InputHTMLAttributes, useMemo, useState } from "react";
import { api } from "../api/client";
import type { Cluster, ServiceAccount } from "../api/types";
import { PolicyPreview } from "../components/PolicyPreview";
import { useRequestSubmit } from "../components/submitRequest";
import { Banner, EmptyState, ErrorState, Field, Loading, PageHeader } from "../components/ui";
import { useAsync, usePolicyPreview, useSession, useTitle } from "../hooks";
import { mergeFieldErrors, splitProblem, TOPIC_CREATE_RULES } from "../lib/problems";
import { routes } from "../lib/route";
import {
  buildTopicRequest,
  changeCluster,
  describeTopicPlan,
  initialTopicForm,
  suggestGroup,
  type TopicFormValues,
  validateTopicForm,
} from "../lib/topicForm";
import {
  describeRetention,
  formatNumber,
  parseAmount,
  retentionToMs,
  RETENTION_UNITS,
  throughputToBytesPerSecond,
  THROUGHPUT_UNITS,
} from "../lib/units";
import { principalName, teamPrefix } from "../lib/validation";
import { Link, useLocation } from "../router";

export function NewTopicPage() {
  useTitle("New topic");
  const session = useSession();
  const { query } = useLocation();
  const clusters = useAsync((signal) => api.clusters(signal), []);
  const owned = useMemo(
    () => (clusters.data?.items ?? []).filter((c) => session.platform_admin || session.teams.includes(c.owner_team)),
    [clusters.data, session],
  );

  return (
    <>
      <PageHeader title="New topic" />
      <p className="lede">
        Ask for a topic on a cluster your team owns. The policy preview tells you what will happen before you submit.
      </p>
      {clusters.loading && !clusters.data ? <Loading label="Loading your clusters…" /> : clusters.error ? (
        <ErrorState error={clusters.error} onRetry={clusters.reload} what="the clusters" />
      ) : owned.length === 0 ? (
        <EmptyState title="Your teams own no cluster." testId="no-owned-clusters">
          Topics live on the cluster of the team that produces into them. To read another team's topic,{" "}
          <Link to={routes.topics()}>find it in the catalogue</Link> and request access.
        </EmptyState>
      ) : (
        <TopicForm clusters={owned} initialCluster={query.get("cluster") ?? ""} />
      )}
    </>
  );
}

function TopicForm({ clusters, initialCluster }: { clusters: Cluster[]; initialCluster: string }) {
  const start = clusters.find((c) => c.name === initialCluster) ?? (clusters.length === 1 ? clusters[0] : undefined);
  const [values, setValues] = useState<TopicFormValues>(() => initialTopicForm(start?.name ?? "", start?.owner_team ?? ""));
  const [touched, setTouched] = useState<Set<string>>(new Set());
  const { attempted, serverErrors, setServerErrors, banner, setBanner, submitting, formRef, submit: submitBody } =
    useRequestSubmit(TOPIC_CREATE_RULES);

  const accounts = useAsync<ServiceAccount[]>(
    async (signal) => (values.cluster ? (await api.serviceAccounts(values.cluster, signal)).items : []),
    [values.cluster],
  );
  const teamAccounts = useMemo(() => {
    const prefix = `User:${teamPrefix(values.team)}`;
    return (accounts.data ?? []).filter((a) => !values.team || a.principal.startsWith(prefix));
  }, [accounts.data, values.team]);

  const clientErrors = useMemo(() => validateTopicForm(values), [values]);
  const clientValid = Object.keys(clientErrors).length === 0;
  const body = useMemo(() => (clientValid ? buildTopicRequest(values) : null), [clientValid, values]);

  const { state: preview, retry: retryPreview } = usePolicyPreview(body, Object.keys(clientErrors).length, (problem) => {
    const split = splitProblem(problem, TOPIC_CREATE_RULES);
    setServerErrors(split.fields);
    return [...Object.values(split.fields).flat(), ...split.general];
  });

  const update = (patch: Partial<TopicFormValues>, ...fields: string[]) => {
    setValues((old) => ({ ...old, ...patch }));
    if (fields.length) {
      setServerErrors((old) => {
        const next = { ...old };
        for (const key of Object.keys(next)) {
          if (fields.some((field) => key === field || key.startsWith(`${field}.`))) delete next[key];
        }
        return next;
      });
    }
  };
  const touch = (field: string) => setTouched((old) => (old.has(field) ? old : new Set(old).add(field)));

  const shownClient: Record<string, string> = {};
  for (const [field, message] of Object.entries(clientErrors)) {
    const base = field.split(".")[0] ?? field;
    if (attempted || touched.has(field) || touched.has(base)) shownClient[field] = message;
  }
  const errors = mergeFieldErrors(shownClient, serverErrors);

  const submit = (event: FormEvent) => submitBody(event, body);

  const decision = preview.kind === "decided" ? preview.decision : undefined;
  const denied = decision?.outcome === "denied";
  const submitLabel = submitting ? "Submitting…" : decision?.outcome === "auto_approved" ? "Create topic"
    : decision?.outcome === "needs_approval" ? "Submit for approval" : "Submit request";

  const retentionMs = (() => {
    if (values.retentionUnlimited) return -1;
    const amount = parseAmount(values.retentionAmount);
    return amount !== null && !Number.isNaN(amount) && amount > 0 ? retentionToMs(amount, values.retentionUnit) : null;
  })();
  const throughputBytes = (() => {
    const amount = parseAmount(values.throughputAmount);
    return amount !== null && !Number.isNaN(amount) && amount >= 0
      ? throughputToBytesPerSecond(amount, values.throughputUnit) : null;
  })();

  const accountsLink = (
    <Link to={routes.serviceAccounts(values.cluster)}>Create service accounts</Link>
  );

  return (
    <form ref={formRef} className="topic-form" onSubmit={submit} noValidate data-testid="topic-form">
      {banner.length ? (
        <Banner title="The request was not submitted" onDismiss={() => setBanner([])} testId="form-banner">
          <ul>
            {banner.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
        </Banner>
      ) : null}
      <div className="form-grid">
        <div className="form-main">
          <fieldset className="card">
            <legend>Topic</legend>
            <Field label="Cluster" name="cluster" errors={errors.cluster}
              hint="Only clusters your team owns; the topic belongs to the cluster's owner team.">
              {(props) => (
                <select {...props} name="cluster" value={values.cluster} data-testid="cluster-select"
                  onChange={(event) => {
                    const cluster = clusters.find((c) => c.name === event.target.value);
                    setValues((old) => changeCluster(old, cluster?.name ?? "", cluster?.owner_team ?? ""));
                    setServerErrors({});
                  }}
                  onBlur={() => touch("cluster")}>
                  <option value="">Choose a cluster…</option>
                  {clusters.map((cluster) => (
                    <option key={cluster.name} value={cluster.name}>
                      {cluster.name} ({cluster.environment}, {cluster.owner_team})
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field label="Name" name="name" errors={errors.name}
              hint={values.team ? `Starts with ${teamPrefix(values.team)}; letters, digits, '.', '_' and '-'.`
                : "Letters, digits, '.', '_' and '-'."}>
              {(props) => (
                <input {...props} name="name" type="text" className="mono" autoComplete="off" spellCheck={false}
                  value={values.name} maxLength={300} data-testid="topic-name"
                  onChange={(event) => update({ name: event.target.value }, "name")} onBlur={() => touch("name")} />
              )}
            </Field>
            <div className="field-row">
              <Field label="Partitions" name="partitions" errors={errors.partitions}
                hint="More partitions, more parallel consumers.">
                {(props) => (
                  <input {...props} name="partitions" type="number" inputMode="numeric" min={1} max={10000} step={1}
                    value={values.partitions} data-testid="partitions"
                    onChange={(event) => update({ partitions: event.target.value }, "partitions")}
                    onBlur={() => touch("partitions")} />
                )}
              </Field>
              <Field label="Replication factor" name="replication_factor" errors={errors.replication_factor}
                hint="Copies of each partition; at most the cluster's brokers.">
                {(props) => (
                  <input {...props} name="replication_factor" type="number" inputMode="numeric" min={1} max={10} step={1}
                    value={values.replicationFactor} data-testid="replication-factor"
                    onChange={(event) => update({ replicationFactor: event.target.value }, "replication_factor")}
                    onBlur={() => touch("replication_factor")} />
                )}
              </Field>
            </div>
            <Field label="Description" name="description" errors={errors.description}
              hint="What the messages are, for the teams who find it in the catalogue.">
              {(props) => (
                <textarea {...props} name="description" rows={2} value={values.description} data-testid="description"
                  onChange={(event) => update({ description: event.target.value }, "description")}
                  onBlur={() => touch("description")} />
              )}
            </Field>
          </fieldset>

          <fieldset className="card">
            <legend>Retention and cleanup</legend>
            <Field label="Keep messages for" name="retention" errors={errors.retention}
              hint={retentionMs === null ? "How long a message stays before it is deleted."
                : retentionMs < 0 ? "retention.ms = -1 (unlimited)"
                : `${describeRetention(retentionMs)} (retention.ms = ${formatNumber(retentionMs)})`}>
              {(props) => (
                <AmountWithUnit inputProps={props} name="retention" unitLabel="Retention unit"
                  amount={values.retentionAmount} unit={values.retentionUnit} units={RETENTION_UNITS}
                  disabled={values.retentionUnlimited}
                  onAmount={(retentionAmount) => update({ retentionAmount }, "retention")}
                  onUnit={(retentionUnit) => update({ retentionUnit }, "retention")}
                  onBlur={() => touch("retention")} />
              )}
            </Field>
            <label className="checkbox">
              <input type="checkbox" checked={values.retentionUnlimited} data-testid="retention-unlimited"
                onChange={(event) => update({ retentionUnlimited: event.target.checked }, "retention")} />
              Keep messages forever (retention.ms = -1)
            </label>
            <fieldset className="radio-group" aria-describedby={errors.cleanup_policy ? "cleanup-error" : undefined}>
              <legend>Cleanup policy</legend>
              {([
                ["delete", "Delete", "drop messages older than the retention"],
                ["compact", "Compact", "keep the latest message for each key"],
                ["compact,delete", "Compact and delete", "latest per key, and nothing older than the retention"],
              ] as const).map(([value, label, hint]) => (
                <label key={value} className="radio">
                  <input type="radio" name="cleanup_policy" value={value} checked={values.cleanupPolicy === value}
                    data-testid={`cleanup-${value.replace(",", "-")}`}
                    onChange={() => update({ cleanupPolicy: value }, "cleanup_policy")} />
                  <span>
                    {label} <span className="muted">— {hint}</span>
                  </span>
                </label>
              ))}
              {errors.cleanup_policy ? (
                <ul className="field-errors" id="cleanup-error" data-testid="field-error-cleanup_policy">
                  {errors.cleanup_policy.map((m) => <li key={m}>{m}</li>)}
                </ul>
              ) : null}
            </fieldset>
          </fieldset>

          <fieldset className="card">
            <legend>Producers and consumers</legend>
            <p className="hint">
              Service accounts of {values.team || "your team"} on this cluster. They get exactly the ACLs they need.
            </p>
            {!values.cluster ? (
              <p className="muted">Choose a cluster first.</p>
            ) : accounts.loading && !accounts.data ? <Loading label="Loading service accounts…" /> : accounts.error ? (
              <ErrorState error={accounts.error} onRetry={accounts.reload} what="the service accounts" />
            ) : teamAccounts.length === 0 ? (
              <EmptyState title={`${values.team} has no service accounts on ${values.cluster} yet.`} testId="no-accounts">
                {accountsLink}, then come back; the form keeps what you typed only until you leave the page.
              </EmptyState>
            ) : (
              <>
                <fieldset className="pick-list" data-testid="producers">
                  <legend>Producers</legend>
                  {teamAccounts.map((account) => (
                    <label key={account.principal} className="checkbox">
                      <input type="checkbox" checked={values.producers.includes(account.principal)}
                        data-testid={`producer-${principalName(account.principal)}`}
                        onChange={(event) => update({
                          producers: event.target.checked
                            ? [...values.producers, account.principal]
                            : values.producers.filter((p) => p !== account.principal),
                        }, "producers")} />
                      <span className="mono">{principalName(account.principal)}</span>
                    </label>
                  ))}
                  {errors.producers ? (
                    <ul className="field-errors" data-testid="field-error-producers">
                      {errors.producers.map((m) => <li key={m}>{m}</li>)}
                    </ul>
                  ) : null}
                </fieldset>
                <fieldset className="pick-list" data-testid="consumers">
                  <legend>Consumers</legend>
                  {teamAccounts.map((account) => {
                    const index = values.consumers.findIndex((c) => c.principal === account.principal);
                    const consumer = index >= 0 ? values.consumers[index] : undefined;
                    const name = principalName(account.principal);
                    return (
                      <div key={account.principal} className="consumer">
                        <label className="checkbox">
                          <input type="checkbox" checked={consumer !== undefined} data-testid={`consumer-${name}`}
                            onChange={(event) => update({
                              consumers: event.target.checked
                                ? [...values.consumers, { principal: account.principal, group: suggestGroup(account.principal) }]
                                : values.consumers.filter((c) => c.principal !== account.principal),
                            }, "consumers")} />
                          <span className="mono">{name}</span>
                        </label>
                        {consumer ? (
                          <Field label={`Consumer group for ${name}`} name={`consumers.${index}.group`}
                            errors={[...(errors[`consumers.${index}.group`] ?? []),
                              ...(errors[`consumers.${index}.principal`] ?? [])]}
                            className="consumer-group">
                            {(props) => (
                              <input {...props} type="text" className="mono" autoComplete="off" spellCheck={false}
                                value={consumer.group} data-testid={`consumer-group-${name}`}
                                onChange={(event) => update({
                                  consumers: values.consumers.map((c, i) => (i === index ? { ...c, group: event.target.value } : c)),
                                }, `consumers.${index}`)}
                                onBlur={() => touch(`consumers.${index}.group`)} />
                            )}
                          </Field>
                        ) : null}
                      </div>
                    );
                  })}
                  {errors.consumers ? (
                    <ul className="field-errors" data-testid="field-error-consumers">
                      {errors.consumers.map((m) => <li key={m}>{m}</li>)}
                    </ul>
                  ) : null}
                </fieldset>
                <p className="hint">Need another one? {accountsLink}.</p>
              </>
            )}
          </fieldset>

          <fieldset className="card">
            <legend>Expected load and reason</legend>
            <Field label="Expected throughput (optional)" name="throughput" errors={errors.throughput}
              hint={throughputBytes !== null && values.throughputAmount.trim()
                ? `${formatNumber(throughputBytes)} bytes/s (1 KiB = 1024 bytes); used for the capacity check.`
                : "What producers will write at a normal peak; used for the capacity check."}>
              {(props) => (
                <AmountWithUnit inputProps={props} name="throughput" unitLabel="Throughput unit"
                  amount={values.throughputAmount} unit={values.throughputUnit} units={THROUGHPUT_UNITS}
                  onAmount={(throughputAmount) => update({ throughputAmount }, "throughput")}
                  onUnit={(throughputUnit) => update({ throughputUnit }, "throughput")}
                  onBlur={() => touch("throughput")} />
              )}
            </Field>
            <Field label="Reason (optional)" name="reason" errors={errors.reason}
              hint="Why you need it: approvers and the audit log see this.">
              {(props) => (
                <textarea {...props} name="reason" rows={2} value={values.reason} data-testid="reason"
                  onChange={(event) => update({ reason: event.target.value }, "reason")} onBlur={() => touch("reason")} />
              )}
            </Field>
          </fieldset>
        </div>

        <aside className="form-aside">
          <PolicyPreview state={preview} summary={clientValid ? describeTopicPlan(values) : []}
            onRetry={retryPreview} />
        </aside>
      </div>

      <div className="form-actions">
        {denied ? (
          <p className="muted" id="submit-denied" data-testid="submit-denied">
            The policies deny this request as it is; change what the preview points out.
          </p>
        ) : null}
        <button type="submit" className="button button-primary" disabled={submitting || denied}
          aria-describedby={denied ? "submit-denied" : undefined} data-testid="submit-request">
          {submitLabel}
        </button>
        <Link to={routes.dashboard()} className="button button-quiet">
          Cancel
        </Link>
      </div>
    </form>
  );
}

/** A number with its unit (retention, throughput): one input and one select, named `<name>-amount/-unit`. */
function AmountWithUnit<U extends string>(props: {
  inputProps: InputHTMLAttributes<HTMLInputElement>;
  name: string;
  unitLabel: string;
  amount: string;
  unit: U;
  units: readonly U[];
  disabled?: boolean;
  onAmount: (amount: string) => void;
  onUnit: (unit: U) => void;
  onBlur: () => void;
}) {
  return (
    <div className="input-group">
      <input {...props.inputProps} name={props.name} type="number" inputMode="decimal" min={0} step="any"
        value={props.amount} disabled={props.disabled} data-testid={`${props.name}-amount`}
        onChange={(event) => props.onAmount(event.target.value)} onBlur={props.onBlur} />
      <select aria-label={props.unitLabel} value={props.unit} disabled={props.disabled}
        data-testid={`${props.name}-unit`} onChange={(event) => props.onUnit(event.target.value as U)}>
        {props.units.map((unit) => (
          <option key={unit} value={unit}>
            {unit}
          </option>
        ))}
      </select>
    </div>
  );
}
