/** Capacity used against a budget, as the clusters page draws it. */

import type { Tone } from "./requestStatus";

export interface Usage {
  used: number;
  budget: number;
  /** used / budget, not clamped (1.2 = 20 % over budget). */
  ratio: number;
  tone: Tone;
}

/** null when either number is missing or the budget is not positive: nothing to draw. */
export function usage(used: number | null | undefined, budget: number | null | undefined): Usage | null {
  if (typeof used !== "number" || typeof budget !== "number" || !Number.isFinite(used) || !Number.isFinite(budget)) {
    return null;
  }
  if (budget <= 0) return null;
  const ratio = Math.max(0, used) / budget;
  const tone: Tone = ratio >= 0.9 ? "danger" : ratio >= 0.7 ? "warning" : "success";
  return { used, budget, ratio, tone };
}

export function percent(ratio: number): string {
  const value = ratio * 100;
  return `${value < 10 && value > 0 ? value.toFixed(1) : Math.round(value)} %`;
}
