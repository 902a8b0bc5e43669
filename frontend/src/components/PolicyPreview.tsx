import type { Decision, DryRunResult, RuleEffect } from "../api/types";
import { nextStep } from "../lib/nextSteps";
import { OUTCOME_TONE, outcomeHeadline } from "../lib/requestStatus";
import { Badge, Banner } from "./ui";

export type PreviewState =
  | { kind: "incomplete"; issues: number }
  | { kind: "checking"; previous?: Decision }
  | { kind: "decided"; decision: Decision; result?: DryRunResult }
  | { kind: "invalid"; messages: string[] }
  | { kind: "error"; message: string };

const EFFECT_LABEL: Record<string, string> = {
  deny: "Denies",
  require_approval: "Needs approval",
  warn: "Warning",
  allow: "Allows",
};

export function effectTone(effect: RuleEffect) {
  return effect === "deny" ? "danger" : effect === "require_approval" ? "warning" : effect === "warn" ? "info" : "neutral";
}

/** The rules of a decision, each with its effect and the message written for the requester. */
export function DecisionRules({ decision, testId = "decision-rules" }: { decision: Decision; testId?: string }) {
  if (decision.rules.length === 0) {
    return <p className="muted">No rule had anything to say: the request fits every policy.</p>;
  }
  return (
    <ul className="rules" data-testid={testId}>
      {decision.rules.map((rule, index) => (
        <li key={`${rule.id}-${index}`} className={`rule rule-${rule.effect}`} data-testid="policy-rule"
          data-rule-id={rule.id} data-effect={rule.effect}>
          <Badge tone={effectTone(rule.effect)}>{EFFECT_LABEL[rule.effect] ?? rule.effect}</Badge>
          <span className="rule-message">{rule.message}</span>
          <code className="rule-id">{rule.id}</code>
        </li>
      ))}
    </ul>
  );
}

export function DecisionSummary({ decision }: { decision: Decision }) {
  return (
    <div className={`decision decision-${decision.outcome}`}>
      <p className="decision-headline">
        <Badge tone={OUTCOME_TONE[decision.outcome] ?? "neutral"} testId="policy-outcome">
          <span data-outcome={decision.outcome}>{decision.outcome.replace("_", " ")}</span>
        </Badge>{" "}
        {outcomeHeadline(decision)}
      </p>
    </div>
  );
}

/** Live answer of the policies to the form as it is now (a dry run; nothing is stored). */
export function PolicyPreview({ state, summary, onRetry }: {
  state: PreviewState;
  summary: string[];
  onRetry: () => void;
}) {
  const decision = state.kind === "decided" ? state.decision : state.kind === "checking" ? state.previous : undefined;
  return (
    <section
      className="card preview"
      aria-labelledby="preview-heading"
      data-testid="policy-preview"
      data-state={state.kind}
      data-outcome={state.kind === "decided" ? state.decision.outcome : undefined}
      aria-busy={state.kind === "checking"}
    >
      <h2 id="preview-heading">Policy preview</h2>
      <div aria-live="polite">
        {state.kind === "incomplete" ? (
          <p className="muted">
            Complete the form to see what the policies say
            {state.issues ? ` (${state.issues} ${state.issues === 1 ? "field needs" : "fields need"} attention)` : ""}.
          </p>
        ) : null}
        {state.kind === "checking" && !decision ? <p className="muted">Checking the policies…</p> : null}
        {state.kind === "checking" && decision ? <p className="muted small">Checking the change…</p> : null}
        {decision ? (
          <div className={state.kind === "checking" ? "stale" : undefined}>
            <DecisionSummary decision={decision} />
            {nextStep(decision) ? <p className="next-step" data-testid="preview-next-step">{nextStep(decision)}</p> : null}
            <h3>Why</h3>
            <DecisionRules decision={decision} />
          </div>
        ) : null}
        {state.kind === "invalid" ? (
          <Banner tone="warning" title="The server would not accept the request yet" testId="preview-invalid">
            <ul>
              {state.messages.map((message) => (
                <li key={message}>{message}</li>
              ))}
            </ul>
          </Banner>
        ) : null}
        {state.kind === "error" ? (
          <Banner tone="danger" title="The preview is not available">
            {state.message}{" "}
            <button type="button" className="button button-small" onClick={onRetry}>
              Check again
            </button>
          </Banner>
        ) : null}
      </div>
      {summary.length ? (
        <>
          <h3>What will happen</h3>
          <ul className="plan" data-testid="preview-summary">
            {summary.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  );
}
