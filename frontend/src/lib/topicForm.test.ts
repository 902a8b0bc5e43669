import { describe, expect, it } from "vitest";
import {
  buildTopicRequest,
  changeCluster,
  describeTopicPlan,
  estimateDiskBytes,
  initialTopicForm,
  validateTopicForm,
  type TopicFormValues,
} from "./topicForm";

const filled = (patch: Partial<TopicFormValues> = {}): TopicFormValues => ({
  ...initialTopicForm("payments-dev", "payments"),
  name: "payments.invoices.v1",
  partitions: "6",
  replicationFactor: "1",
  retentionAmount: "7",
  retentionUnit: "days",
  producers: ["User:payments.invoice-writer"],
  consumers: [{ principal: "User:payments.invoice-reader", group: "payments.invoice-readers" }],
  description: "Invoices issued",
  reason: "new service",
  ...patch,
});

describe("the new-topic form", () => {
  it("starts with the team prefix", () => {
    expect(initialTopicForm("payments-dev", "payments").name).toBe("payments.");
    expect(initialTopicForm().name).toBe("");
  });

  it("builds the contract's example request", () => {
    expect(buildTopicRequest(filled())).toEqual({
      kind: "topic.create",
      cluster: "payments-dev",
      spec: {
        name: "payments.invoices.v1",
        partitions: 6,
        replication_factor: 1,
        config: { "retention.ms": "604800000", "cleanup.policy": "delete" },
        description: "Invoices issued",
        producers: ["User:payments.invoice-writer"],
        consumers: [{ principal: "User:payments.invoice-reader", group: "payments.invoice-readers" }],
      },
      reason: "new service",
    });
  });

  it("leaves out what was not filled in and adds throughput in bytes/s", () => {
    const body = buildTopicRequest(filled({ producers: [], consumers: [], description: " ", reason: "",
      throughputAmount: "2", throughputUnit: "MiB/s", retentionUnlimited: true, cleanupPolicy: "compact" }));
    expect(body).toEqual({
      kind: "topic.create",
      cluster: "payments-dev",
      spec: {
        name: "payments.invoices.v1",
        partitions: 6,
        replication_factor: 1,
        config: { "retention.ms": "-1", "cleanup.policy": "compact" },
        expected_throughput: { bytes_per_second: 2_097_152 },
      },
    });
  });

  it("is valid when filled in", () => {
    expect(validateTopicForm(filled())).toEqual({});
  });

  it("reports each field's problem under its key", () => {
    const errors = validateTopicForm(filled({
      cluster: "",
      name: "billing.x",
      partitions: "0",
      replicationFactor: "",
      retentionAmount: "",
      throughputAmount: "lots",
      consumers: [
        { principal: "User:payments.a", group: "" },
        { principal: "User:payments.a", group: "ok" },
      ],
    }));
    expect(Object.keys(errors).sort()).toEqual([
      "cluster", "consumers.0.group", "consumers.1.principal", "name", "partitions", "replication_factor", "retention",
      "throughput",
    ]);
    expect(errors.partitions).toBe("a topic needs at least 1 partition, got 0");
  });

  it("ignores the retention amount when retention is unlimited", () => {
    expect(validateTopicForm(filled({ retentionAmount: "", retentionUnlimited: true }))).toEqual({});
  });

  it("moves the name to the new owner's prefix when the cluster changes", () => {
    const moved = changeCluster(filled(), "billing-dev", "billing");
    expect(moved.name).toBe("billing.invoices.v1");
    expect(moved.producers).toEqual([]);
    expect(moved.consumers).toEqual([]);
    const same = changeCluster(filled(), "payments-prod", "payments");
    expect(same.name).toBe("payments.invoices.v1");
    expect(same.producers).toEqual(["User:payments.invoice-writer"]);
    expect(changeCluster(initialTopicForm(), "payments-dev", "payments").name).toBe("payments.");
  });

  it("says in words what will happen", () => {
    const lines = describeTopicPlan(filled({ throughputAmount: "1", throughputUnit: "MiB/s" }));
    expect(lines[0]).toBe("Create payments.invoices.v1 on payments-dev with 6 partitions and replication factor 1.");
    expect(lines).toContain("Keep messages for 7 days, then delete them.");
    expect(lines).toContain("Let payments.invoice-writer produce to it.");
    expect(lines).toContain("Let payments.invoice-reader consume it as group payments.invoice-readers.");
    expect(lines.at(-1)).toBe("Expect 1 MiB/s (1,048,576 bytes/s): up to 591 GiB on disk with retention and replication.");
  });

  it("estimates disk as bytes/s x retention x replication factor", () => {
    expect(estimateDiskBytes(1000, 10_000, 3)).toBe(30_000);
  });
});
