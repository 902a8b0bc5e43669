// @vitest-environment happy-dom
import type { ReactNode } from "react";
import { flushSync } from "react-dom";
import { createRoot, type Root } from "react-dom/client";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { TopicDetail } from "../api/types";
import { describeDrift } from "../lib/driftWords";
import { changedConfig, describeChange } from "../lib/settingWords";
import { ChangeList } from "./ChangeList";
import { DeleteTopic, EditConfig } from "./TopicActions";

vi.mock("../api/client", () => ({
  api: { dryRun: vi.fn(() => Promise.resolve({ decision: { outcome: "auto_approved", rules: [], approvers: [] } })),
    submit: vi.fn() },
  ApiError: class extends Error {},
  newIdempotencyKey: () => "k",
}));

let root: Root | null = null;
let container: HTMLElement;

function render(node: ReactNode) {
  container = document.createElement("div");
  document.body.appendChild(container);
  root = createRoot(container);
  flushSync(() => root?.render(node));
}

afterEach(() => {
  root?.unmount();
  container.remove();
});

const byTestId = (id: string) => {
  const found = container.querySelector<HTMLElement>(`[data-testid="${id}"]`);
  if (!found) throw new Error(`no ${id} in ${container.innerHTML.slice(0, 2000)}`);
  return found;
};
const allByTestId = (id: string) => [...container.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`)];

function type(element: HTMLElement, value: string) {
  const setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(element) as object, "value")?.set;
  flushSync(() => {
    setter?.call(element, value);
    element.dispatchEvent(new Event("input", { bubbles: true }));
  });
}

const disabled = (id: string) => (byTestId(id) as HTMLButtonElement).disabled;

const TOPIC: TopicDetail = {
  cluster: "payments-dev", name: "payments.orders", owner_team: "payments", partitions: 3, replication_factor: 1,
  config: { "retention.ms": "604800000" }, status: "applied",
  desired: { partitions: 3, replication_factor: 1, config: { "retention.ms": "604800000" } },
  drift: [], history: [], editable_config_keys: ["max.message.bytes", "retention.ms"],
  access_grants: [{ principal: "User:ingest.reader", topic: "payments.orders", access: "consume", group: "ingest.g", team: "ingest" }],
};

describe("current -> new", () => {
  it("shows each change with its current value in words", () => {
    render(<ChangeList changes={[
      { field: "config.max.message.bytes", current: "1048576", new: "16777216" },
      { field: "producer_byte_rate", current: 5242880, new: 52428800 },
      { field: "config.retention.ms", current: null, new: "86400000" },
    ]} />);
    const rows = allByTestId("change-row");
    expect(rows.map((row) => row.getAttribute("data-field"))).toEqual(["config.max.message.bytes", "producer_byte_rate", "config.retention.ms"]);
    expect(rows[0]?.textContent).toContain("max.message.bytes");
    expect(rows[0]?.getAttribute("data-direction")).toBe("up");
    expect(allByTestId("change-current")[2]?.textContent).toContain("default");
    expect(describeChange({ field: "config.retention.ms", current: "604800000", new: "86400000" }).next).toContain("1 day");
  });

  it("sends only the config keys that changed; an emptied key goes back to the default", () => {
    expect(changedConfig({ "retention.ms": "1", "segment.ms": "2" }, { "retention.ms": "1", "segment.ms": "", "max.message.bytes": "9" }))
      .toEqual({ "segment.ms": null, "max.message.bytes": "9" });
  });

  it("offers the allow-listed keys beside their current values", () => {
    render(<EditConfig topic={TOPIC} />);
    expect(allByTestId("config-row").map((r) => r.getAttribute("data-key"))).toEqual(["max.message.bytes", "retention.ms"]);
    expect(disabled("edit-config-submit")).toBe(true);
    type(byTestId("config-input-max.message.bytes"), "2097152");
    expect(byTestId("changes").textContent).toContain("2 MiB");
    expect(disabled("edit-config-submit")).toBe(false);
  });
});

describe("delete confirm", () => {
  it("stays off until the name is typed and lists who loses access", () => {
    render(<DeleteTopic topic={TOPIC} />);
    expect(byTestId("delete-affected-grants").textContent).toContain("ingest.reader (consume, group ingest.g, team ingest)");
    expect(disabled("delete-topic-submit")).toBe(true);
    type(byTestId("delete-confirm"), "payments.order");
    expect(disabled("delete-topic-submit")).toBe(true);
    expect(byTestId("field-error-confirm").textContent).toContain("does not match");
    type(byTestId("delete-confirm"), "payments.orders");
    expect(disabled("delete-topic-submit")).toBe(false);
  });
});

describe("drift in words", () => {
  it("names the setting, desired and observed values and what triage does, never the code", () => {
    const words = describeDrift({ id: "x", kind: "config_differs", key: "topic:payments.orders",
      expected: { "retention.ms": "604800000" }, actual: { "retention.ms": "86400000" }, actions: ["revert", "adopt", "ignore"] });
    expect(words.title).toBe("Settings differ from what Topicdesk set");
    expect(words.rows).toEqual([{ setting: "retention.ms", desired: "604,800,000 ms (7 days)", observed: "86,400,000 ms (1 day)" }]);
    expect(words.actions.map((a) => a.label)).toEqual(["Revert", "Adopt", "Ignore"]);
    expect(words.actions[0]?.effect).toContain("desired values");
    const extra = describeDrift({ kind: "acl_extra", actual: { principal: "User:x", operation: "READ", resource_type: "TOPIC",
      resource_name: "payments.orders", pattern: "LITERAL" }, actions: ["ignore"] });
    expect(extra.title).not.toContain("acl_extra");
    expect(extra.rows[0]).toEqual({ setting: "ACL", desired: "none", observed: "User:x may read on topic payments.orders" });
  });
});
