import type { ReactNode } from "react";
import type { Decision, DryRunResult, RequestSubmission } from "../api/types";
import { usePolicyPreview } from "../hooks";
import { splitProblem, type PathRule } from "../lib/problems";
import { PolicyPreview } from "./PolicyPreview";
import { useRequestSubmit } from "./submitRequest";
import { Banner } from "./ui";

const ANY_PATH: readonly PathRule[] = [];

/**
 * A day-2 request form: its fields, the live policy preview (a dry run of `body`) and Submit, which
 * opens the stored request's page. Submit stays off while the body is incomplete or denied.
 */
export function ActionForm({ body, issues, summary, submitLabel, children, testId, danger = false, aboutDecision,
  wideAbout = false }: {
  body: RequestSubmission | null;
  /** Client-side problems still open (shown by the fields themselves). */
  issues: number;
  summary: string[];
  submitLabel: string;
  children: ReactNode;
  testId: string;
  danger?: boolean;
  /** More to say about the live decision (e.g. a deletion's usage evidence). */
  aboutDecision?: (decision: Decision, result: DryRunResult | undefined) => ReactNode;
  /** Show `aboutDecision` across the whole form below the fields (a plan with tables), not beside them. */
  wideAbout?: boolean;
}) {
  const { banner, setBanner, submitting, formRef, submit } = useRequestSubmit(ANY_PATH);
  const preview = usePolicyPreview(body, issues, (problem) => {
    const split = splitProblem(problem, ANY_PATH);
    return [...Object.values(split.fields).flat(), ...split.general];
  });
  const denied = preview.state.kind === "decided" && preview.state.decision.outcome === "denied";
  return (
    <form ref={formRef} noValidate className="action-form" data-testid={testId} onSubmit={(event) => submit(event, body)}>
      {banner.length ? (
        <Banner title="The request was not submitted" onDismiss={() => setBanner([])}>
          <ul>{banner.map((line) => <li key={line}>{line}</li>)}</ul>
        </Banner>
      ) : null}
      <div className="form-grid">
        <div className="form-main">{children}</div>
        <aside className="form-aside">
          <PolicyPreview state={preview.state} summary={body ? summary : []} onRetry={preview.retry} />
          {aboutDecision && !wideAbout && preview.state.kind === "decided"
            ? aboutDecision(preview.state.decision, preview.state.result) : null}
        </aside>
      </div>
      {aboutDecision && wideAbout && preview.state.kind === "decided"
        ? aboutDecision(preview.state.decision, preview.state.result) : null}
      <div className="form-actions">
        <button type="submit" className={`button ${danger ? "button-danger" : "button-primary"}`}
          disabled={submitting || denied || !body} data-testid={`${testId}-submit`}>
          {submitting ? "Submitting…" : submitLabel}
        </button>
      </div>
    </form>
  );
}
