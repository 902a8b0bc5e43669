import { type FormEvent, type RefObject, useRef, useState } from "react";
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

/**
 * The submit side of a request form: `submit(event, body)` marks the form attempted, focuses the
 * first invalid field when `body` is null (client errors), else submits it idempotently and, on
 * failure, shows the server's field errors and banner. The form element takes `formRef`.
 */
export function useRequestSubmit(rules: readonly PathRule[]) {
  const [attempted, setAttempted] = useState(false);
  const [serverErrors, setServerErrors] = useState<FieldErrors>({});
  const [banner, setBanner] = useState<string[]>([]);
  const [submitting, setSubmitting] = useState(false);
  const idempotency = useRef<IdempotencyMemo | null>(null);
  const formRef = useRef<HTMLFormElement>(null);

  const submit = async (event: FormEvent, body: RequestSubmission | null) => {
    event.preventDefault();
    setAttempted(true);
    setBanner([]);
    if (!body) {
      focusFirstInvalid(formRef);
      return;
    }
    setSubmitting(true);
    const failure = await submitRequest(body, idempotency, rules);
    if (failure) {
      setSubmitting(false);
      setServerErrors(failure.fields);
      setBanner(failure.banner);
      focusFirstInvalid(formRef);
    }
  };

  return { attempted, serverErrors, setServerErrors, banner, setBanner, submitting, formRef, submit };
}
