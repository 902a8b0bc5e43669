import { describe, expect, it } from "vitest";
import { approverWords, nextStep } from "./nextSteps";

describe("nextStep", () => {
  it("names the role that really approves", () => {
    expect(approverWords("role:platform_admin")).toBe("a platform admin");
    expect(approverWords("team:payments")).toBe("an owner of payments");
  });

  it("says what the requester can do about an exception, a team's approval and a denial", () => {
    const exception = nextStep({ outcome: "needs_approval", approvers: ["role:platform_admin"], rules: [] });
    expect(exception).toContain("You can submit now: a platform admin decides");
    expect(exception).toContain("fit the defaults");
    expect(nextStep({ outcome: "needs_approval", approvers: ["team:payments"], rules: [] }))
      .toContain("an owner of payments decides");
    expect(nextStep({ outcome: "denied", approvers: [], rules: [] })).toContain("Change what the rules below name");
    expect(nextStep({ outcome: "auto_approved", approvers: [], rules: [] })).toBeNull();
  });
});
