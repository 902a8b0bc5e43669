import type { RefObject } from "react";
import { api, ApiError, newIdempotencyKey } from "../api/client";
import type { RequestSubmission } from "../api/types";
import { splitProblem, type FieldErrors, type PathRule } from "../lib/problems";
import { routes } from "../lib/route";
import { navigate } from "../router";
import { errorMessage } from "./ui";

export interface IdempotencyMemo {
  body: string;
  key: string;
}

export interface SubmitFailure {
  fields: FieldErrors;
  banner: string[];
}

/**
 * Submits a request and opens its page. A retry of the same body reuses its Idempotency-Key, so a
 * lost response never creates the request twice. On failure, says what to show and where.
 */
export async function submitRequest(
  body: RequestSubmission,
  memo: { current: IdempotencyMemo | null },
  rules: readonly PathRule[],
): Promise<SubmitFailure | null> {
  const json = JSON.stringify(body);
  if (memo.current?.body !== json) memo.current = { body: json, key: newIdempotencyKey() };
  try {
    const created = await api.submit(body, memo.current.key);
    navigate(routes.request(created.id));
    return null;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 422 || error.status === 400)) {
      const split = splitProblem(error.problem, rules);
      return {
        fields: split.fields,
        banner: split.general.length ? split.general : ["Some fields need attention; see the messages next to them."],
      };
    }
    return { fields: {}, banner: [errorMessage(error)] };
  }
}

/** Moves focus to the first field marked invalid (after React has rendered the messages). */
export function focusFirstInvalid(form: RefObject<HTMLFormElement | null>): void {
  window.setTimeout(() => form.current?.querySelector<HTMLElement>("[aria-invalid='true']")?.focus(), 0);
}
