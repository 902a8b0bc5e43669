/**
 * What a requester can do about a policy decision, in words: the preview says it beside the rules,
 * so a denied or exception request is never just a disabled button.
 */
import type { Decision } from "../api/types";
import { approverWords, joinOr } from "./requestStatus";

export { approverWords };

export function approversWords(approvers: readonly string[]): string {
  return approvers.length ? joinOr(approvers.map(approverWords)) : "an approver";
}

/** The next step for the person about to submit; null when there is nothing to decide. */
export function nextStep(decision: Decision): string | null {
  if (decision.outcome === "denied") {
    return "Change what the rules below name (each says what fits), and this preview checks again. "
      + "Submit stays off while a policy denies the request.";
  }
  if (decision.outcome === "needs_approval") {
    const exception = decision.approvers.includes("role:platform_admin");
    return `You can submit now: ${approversWords(decision.approvers)} decides, and it waits in their Approvals `
      + "until then. " + (exception
      ? "Or change it to fit the defaults the rules name, and it is applied at once."
      : "You see their answer on the request's page.");
  }
  return null;
}
