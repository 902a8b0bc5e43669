import { type ReactNode, useEffect, useId, useRef, useState } from "react";
import { ApiError } from "../api/client";
import { problemSummary } from "../lib/problems";
import { statusLabel, statusTone, type Tone } from "../lib/requestStatus";

/** The page's h1; it takes focus when the page opens so screen readers announce the new page. */
export function PageHeader({ title, children, testId }: { title: ReactNode; children?: ReactNode; testId?: string }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus({ preventScroll: true });
  }, []);
  return (
    <div className="page-header">
      <h1 ref={ref} tabIndex={-1} data-testid={testId ?? "page-title"}>
        {title}
      </h1>
      {children ? <div className="page-actions">{children}</div> : null}
    </div>
  );
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return problemSummary(error.problem);
  if (error instanceof Error) return error.message;
  return String(error);
}

export function Banner({ tone = "danger", title, children, onDismiss, testId }: {
  tone?: Tone; title?: ReactNode; children?: ReactNode; onDismiss?: () => void; testId?: string;
}) {
  return (
    <div className={`banner banner-${tone}`} role={tone === "danger" ? "alert" : "status"} data-testid={testId ?? "banner"}>
      <div className="banner-body">
        {title ? <strong className="banner-title">{title}</strong> : null}
        {children ? <div>{children}</div> : null}
      </div>
      {onDismiss ? (
        <button type="button" className="button-quiet" onClick={onDismiss} aria-label="Dismiss message">
          ×
        </button>
      ) : null}
    </div>
  );
}

export function Loading({ label = "Loading…" }: { label?: string }) {
  return (
    <div className="state state-loading" role="status" aria-live="polite" data-testid="loading">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function EmptyState({ title, children, testId }: { title: string; children?: ReactNode; testId?: string }) {
  return (
    <div className="state state-empty" data-testid={testId ?? "empty"}>
      <p className="state-title">{title}</p>
      {children ? <div className="state-body">{children}</div> : null}
    </div>
  );
}

export function ErrorState({ error, onRetry, what }: { error: unknown; onRetry?: () => void; what?: string }) {
  const notFound = error instanceof ApiError && error.status === 404;
  return (
    <div className="state state-error" role="alert" data-testid="error-state">
      <p className="state-title">{notFound ? `${what ?? "This"} was not found` : `Could not load ${what ?? "this page"}`}</p>
      <p className="state-body">{errorMessage(error)}</p>
      {onRetry && !notFound ? (
        <button type="button" className="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function Badge({ tone, children, testId, label }: { tone: Tone; children: ReactNode; testId?: string; label?: string }) {
  return (
    <span className={`badge badge-${tone}`} data-testid={testId} aria-label={label}>
      {children}
    </span>
  );
}

export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <Badge tone={statusTone(status)} testId={testId}>
      <span data-status={status}>{statusLabel(status)}</span>
    </Badge>
  );
}

export interface ControlProps {
  id: string;
  "aria-describedby"?: string;
  "aria-invalid"?: boolean;
}

/** A label, an optional hint and the field's errors, wired to the control by ids. */
export function Field({ label, hint, errors, name, children, className }: {
  label: ReactNode;
  hint?: ReactNode;
  errors?: string[] | undefined;
  /** The form field key (e.g. "partitions"); names the error element for tests. */
  name: string;
  children: (props: ControlProps) => ReactNode;
  className?: string;
}) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = errors?.length ? `${id}-error` : undefined;
  const describedBy = [hintId, errorId].filter(Boolean).join(" ") || undefined;
  return (
    <div className={`field${errors?.length ? " field-invalid" : ""}${className ? ` ${className}` : ""}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-describedby": describedBy, "aria-invalid": errors?.length ? true : undefined })}
      {hint ? (
        <p className="hint" id={hintId}>
          {hint}
        </p>
      ) : null}
      {errors?.length ? (
        <ul className="field-errors" id={errorId} data-testid={`field-error-${name}`}>
          {errors.map((message) => (
            <li key={message}>{message}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function CopyButton({ text, label = "Copy", testId }: { text: string; label?: string; testId?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  useEffect(() => {
    if (state === "idle") return;
    const timer = window.setTimeout(() => setState("idle"), 2000);
    return () => window.clearTimeout(timer);
  }, [state]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState("copied");
    } catch {
      // Outside a secure context there is no clipboard API; the old way still works in most browsers.
      setState(copyWithSelection(text) ? "copied" : "failed");
    }
  };
  return (
    <button type="button" className="button" onClick={copy} data-testid={testId}>
      {state === "copied" ? "Copied" : state === "failed" ? "Copy failed: select and copy" : label}
      <span className="visually-hidden" aria-live="polite">
        {state === "copied" ? "Copied to the clipboard" : ""}
      </span>
    </button>
  );
}

function copyWithSelection(text: string): boolean {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.appendChild(area);
  area.select();
  try {
    return document.execCommand("copy");
  } catch {
    return false;
  } finally {
    area.remove();
  }
}

export function Time({ at }: { at: string | null | undefined }) {
  if (!at) return <span className="muted">–</span>;
  const date = new Date(at);
  if (Number.isNaN(date.getTime())) return <span>{at}</span>;
  return (
    <time dateTime={at} title={date.toISOString()}>
      {date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })}
    </time>
  );
}

export function LoadMore({ cursor, loading, onMore, label = "Load more" }: {
  cursor: string | null | undefined; loading: boolean; onMore: () => void; label?: string;
}) {
  if (!cursor) return null;
  return (
    <div className="load-more">
      <button type="button" className="button" onClick={onMore} disabled={loading} data-testid="load-more">
        {loading ? "Loading…" : label}
      </button>
    </div>
  );
}

export function KeyValues({ rows }: { rows: Array<[string, ReactNode]> }) {
  return (
    <dl className="key-values">
      {rows.map(([key, value]) => (
        <div key={key}>
          <dt>{key}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}
