import { createContext, type DependencyList, useCallback, useContext, useEffect, useRef, useState } from "react";
import { api, ApiError } from "./api/client";
import type { Decision, Problem, RequestSubmission, Session } from "./api/types";
import type { PreviewState } from "./components/PolicyPreview";

export interface AsyncState<T> {
  data: T | undefined;
  error: Error | null;
  loading: boolean;
  reload: () => void;
  setData: (data: T) => void;
}

/** Loads on mount and whenever deps change; aborts what is in flight when they change again. */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: DependencyList): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError(null);
    loadRef.current(controller.signal).then(
      (value) => {
        if (controller.signal.aborted) return;
        setData(value);
        setLoading(false);
      },
      (reason: unknown) => {
        if (controller.signal.aborted) return;
        setError(reason instanceof Error ? reason : new Error(String(reason)));
        setLoading(false);
      },
    );
    return () => controller.abort();
  }, [...deps, tick]);

  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data, error, loading, reload, setData };
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in page");
  return session;
}

/** Sets the document title for the page ("Approvals · Topicdesk"). */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Topicdesk` : "Topicdesk";
  }, [title]);
}

export interface PagedState<T> {
  items: T[];
  loading: boolean;
  loadingMore: boolean;
  error: Error | null;
  moreError: Error | null;
  cursor: string | null;
  loadMore: () => void;
  reload: () => void;
}

/** A cursor-paginated list: the first page on mount and when deps change, then "load more". */
export function usePaged<T>(
  load: (cursor: string | null, signal: AbortSignal) => Promise<{ items: T[]; next_cursor: string | null }>,
  deps: DependencyList,
): PagedState<T> {
  const first = useAsync((signal) => load(null, signal), deps);
  const [extra, setExtra] = useState<{ items: T[]; cursor: string | null } | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<Error | null>(null);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    setExtra(null);
    setMoreError(null);
  }, [first.data]);

  const cursor = extra ? extra.cursor : first.data?.next_cursor ?? null;
  const loadMore = useCallback(() => {
    if (!cursor) return;
    setLoadingMore(true);
    setMoreError(null);
    loadRef.current(cursor, new AbortController().signal).then(
      (page) => {
        setExtra((old) => ({ items: [...(old?.items ?? []), ...page.items], cursor: page.next_cursor }));
        setLoadingMore(false);
      },
      (error: unknown) => {
        setMoreError(error instanceof Error ? error : new Error(String(error)));
        setLoadingMore(false);
      },
    );
  }, [cursor]);

  return {
    items: [...(first.data?.items ?? []), ...(extra?.items ?? [])],
    loading: first.loading,
    loadingMore,
    error: first.error,
    moreError,
    cursor,
    loadMore,
    reload: first.reload,
  };
}

/**
 * The live policy preview: a dry run of `body` 400 ms after it last changed, the older one
 * abandoned. `onInvalid` gets the 422/400 problem so the form can show it next to its fields.
 */
export function usePolicyPreview(
  body: RequestSubmission | null,
  incompleteIssues: number,
  onInvalid?: (problem: Problem) => string[],
): { state: PreviewState; retry: () => void } {
  const [state, setState] = useState<PreviewState>({ kind: "incomplete", issues: incompleteIssues });
  const [tick, setTick] = useState(0);
  const last = useRef<Decision | undefined>(undefined);
  const onInvalidRef = useRef(onInvalid);
  onInvalidRef.current = onInvalid;
  const json = body ? JSON.stringify(body) : "";

  useEffect(() => {
    if (!json) {
      setState({ kind: "incomplete", issues: incompleteIssues });
      return;
    }
    const request = JSON.parse(json) as RequestSubmission;
    const controller = new AbortController();
    setState({ kind: "checking", previous: last.current });
    const timer = window.setTimeout(() => {
      api.dryRun(request, controller.signal).then(
        (result) => {
          last.current = result.decision;
          setState({ kind: "decided", decision: result.decision, result });
        },
        (error: unknown) => {
          if (controller.signal.aborted) return;
          if (error instanceof ApiError && (error.status === 422 || error.status === 400)) {
            const messages = onInvalidRef.current?.(error.problem) ?? [error.message];
            setState({ kind: "invalid", messages });
          } else {
            setState({ kind: "error", message: error instanceof Error ? error.message : String(error) });
          }
        },
      );
    }, PREVIEW_DEBOUNCE_MS);
    return () => {
      window.clearTimeout(timer);
      controller.abort();
    };
  }, [json, tick, json ? 0 : incompleteIssues]);

  const retry = useCallback(() => setTick((n) => n + 1), []);
  return { state, retry };
}

export const PREVIEW_DEBOUNCE_MS = 400;
