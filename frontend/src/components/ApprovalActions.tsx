import { type FormEvent, useId, useRef, useState } from "react";
import { api, ApiError } from "../api/client";
import type { TopicRequest } from "../api/types";
import { APPROVE_RULES, REJECT_RULES, splitProblem } from "../lib/problems";
import { validateRejectionReason } from "../lib/validation";
import { Banner, errorMessage, Field } from "./ui";

/** Approve (with an optional comment) or reject (with a required reason) one pending request. */
export function ApprovalActions({ request, onDone }: { request: TopicRequest; onDone: (updated: TopicRequest) => void }) {
  const [mode, setMode] = useState<"idle" | "approving" | "rejecting">("idle");
  const [comment, setComment] = useState("");
  const [reason, setReason] = useState("");
  const [fieldError, setFieldError] = useState<string[]>([]);
  const [banner, setBanner] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const reasonRef = useRef<HTMLTextAreaElement>(null);
  const headingId = useId();

  const handle = async (action: () => Promise<TopicRequest>, rules: typeof REJECT_RULES) => {
    setBusy(true);
    setBanner(null);
    try {
      onDone(await action());
    } catch (error) {
      if (error instanceof ApiError && (error.status === 422 || error.status === 400)) {
        const split = splitProblem(error.problem, rules);
        setFieldError(Object.values(split.fields).flat());
        if (split.general.length) setBanner(split.general.join("; "));
      } else {
        setBanner(errorMessage(error));
      }
    } finally {
      setBusy(false);
    }
  };

  const approve = (event: FormEvent) => {
    event.preventDefault();
    void handle(() => api.approve(request.id, comment.trim() || undefined), APPROVE_RULES);
  };
  const reject = (event: FormEvent) => {
    event.preventDefault();
    const problem = validateRejectionReason(reason);
    if (problem) {
      setFieldError([problem]);
      reasonRef.current?.focus();
      return;
    }
    void handle(() => api.reject(request.id, reason.trim()), REJECT_RULES);
  };

  return (
    <div className="approval-actions" data-testid="approval-actions" aria-labelledby={headingId}>
      <span id={headingId} className="visually-hidden">Decide on this request</span>
      {banner ? <Banner title="That did not work" onDismiss={() => setBanner(null)}>{banner}</Banner> : null}
      {mode === "idle" ? (
        <div className="button-row">
          <button type="button" className="button button-primary" onClick={() => { setMode("approving"); setFieldError([]); }}
            data-testid="approve-button">
            Approve…
          </button>
          <button type="button" className="button button-danger" onClick={() => { setMode("rejecting"); setFieldError([]); }}
            data-testid="reject-button">
            Reject…
          </button>
        </div>
      ) : mode === "approving" ? (
        <form onSubmit={approve} className="inline-form" data-testid="approve-form">
          <Field label="Comment (optional)" name="comment" errors={fieldError.length ? fieldError : undefined}>
            {(props) => (
              // eslint-disable-next-line jsx-a11y/no-autofocus
              <textarea {...props} rows={2} value={comment} autoFocus data-testid="approve-comment"
                onChange={(event) => setComment(event.target.value)} />
            )}
          </Field>
          <div className="button-row">
            <button type="submit" className="button button-primary" disabled={busy} data-testid="confirm-approve">
              {busy ? "Approving…" : "Approve request"}
            </button>
            <button type="button" className="button button-quiet" onClick={() => setMode("idle")} disabled={busy}>
              Back
            </button>
          </div>
        </form>
      ) : (
        <form onSubmit={reject} className="inline-form" noValidate data-testid="reject-form">
          <Field label="Reason for rejecting" name="reason" errors={fieldError.length ? fieldError : undefined}
            hint="Required. The requester sees it; say what would make the request acceptable.">
            {(props) => (
              // eslint-disable-next-line jsx-a11y/no-autofocus
              <textarea {...props} ref={reasonRef} rows={3} required value={reason} autoFocus data-testid="reject-reason"
                onChange={(event) => { setReason(event.target.value); setFieldError([]); }} />
            )}
          </Field>
          <div className="button-row">
            <button type="submit" className="button button-danger" disabled={busy} data-testid="confirm-reject">
              {busy ? "Rejecting…" : "Reject request"}
            </button>
            <button type="button" className="button button-quiet" onClick={() => setMode("idle")} disabled={busy}>
              Back
            </button>
          </div>
        </form>
      )}
    </div>
  );
}
