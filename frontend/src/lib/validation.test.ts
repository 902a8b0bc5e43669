import { describe, expect, it } from "vitest";
import {
  principalName,
  principalTeam,
  validateGroupId,
  validatePartitions,
  validateRejectionReason,
  validateReplicationFactor,
  validateRetentionAmount,
  validateServiceAccountName,
  validateThroughputAmount,
  validateTopicName,
} from "./validation";

describe("topic names", () => {
  it("accepts Kafka-legal names with the team prefix", () => {
    expect(validateTopicName("payments.invoices.v1", "payments")).toBeNull();
    expect(validateTopicName("payments.in_voices-v1", "payments")).toBeNull();
    expect(validateTopicName("anything_goes")).toBeNull();
  });

  it("says what is wrong in the server's words", () => {
    expect(validateTopicName("")).toBe("a topic name cannot be empty");
    expect(validateTopicName(".")).toBe("'.' and '..' are not valid topic names");
    expect(validateTopicName("..")).toBe("'.' and '..' are not valid topic names");
    expect(validateTopicName("payments.inv oices")).toBe(
      "payments.inv oices has characters Kafka does not allow in a topic name: use only a-z, A-Z, 0-9, '.', '_' and '-'",
    );
    expect(validateTopicName("payments/x")).toMatch(/characters Kafka does not allow/);
    const long = `payments.${"x".repeat(250)}`;
    expect(validateTopicName(long)).toBe(`topic names are at most 249 characters long; this one has ${long.length}`);
  });

  it("allows exactly 249 characters", () => {
    const name = `p.${"x".repeat(247)}`;
    expect(name).toHaveLength(249);
    expect(validateTopicName(name, "p")).toBeNull();
  });

  it("needs the team prefix and a name after it", () => {
    expect(validateTopicName("billing.invoices", "payments")).toBe("topic names start with the team name and a dot: payments.…");
    expect(validateTopicName("paymentsinvoices", "payments")).toMatch(/payments\./);
    expect(validateTopicName("payments.", "payments")).toBe("add a name after payments.");
  });
});

describe("numbers", () => {
  it("checks partitions", () => {
    expect(validatePartitions("6")).toBeNull();
    expect(validatePartitions("10000")).toBeNull();
    expect(validatePartitions("")).toBe("how many partitions? at least 1");
    expect(validatePartitions("0")).toBe("a topic needs at least 1 partition, got 0");
    expect(validatePartitions("10001")).toBe("10001 partitions is more than the 10000 a topic may have");
    expect(validatePartitions("2.5")).toBe("partitions is a whole number, got 2.5");
    expect(validatePartitions("many")).toBe("partitions is a whole number, got many");
  });

  it("checks the replication factor", () => {
    expect(validateReplicationFactor("3")).toBeNull();
    expect(validateReplicationFactor("0")).toBe("the replication factor is at least 1, got 0");
    expect(validateReplicationFactor("11")).toBe("the replication factor is at most 10, got 11");
    expect(validateReplicationFactor("")).toBe("the replication factor is required");
  });

  it("checks retention and throughput amounts", () => {
    expect(validateRetentionAmount("7")).toBeNull();
    expect(validateRetentionAmount("0.5")).toBeNull();
    expect(validateRetentionAmount("0")).toMatch(/more than 0/);
    expect(validateRetentionAmount("")).toMatch(/how long/);
    expect(validateRetentionAmount("x")).toBe("retention is a number, got x");
    expect(validateThroughputAmount("")).toBeNull();
    expect(validateThroughputAmount("0")).toBeNull();
    expect(validateThroughputAmount("fast")).toBe("throughput is a number, got fast");
  });
});

describe("groups, service accounts, rejections", () => {
  it("checks consumer group ids", () => {
    expect(validateGroupId("payments.invoice-readers")).toBeNull();
    expect(validateGroupId("")).toMatch(/needs the consumer group/);
    expect(validateGroupId("a group")).toBe(
      "a group is not a consumer group id Topicdesk accepts: use only a-z, A-Z, 0-9, '.', '_' and '-'",
    );
  });

  it("checks service account names", () => {
    expect(validateServiceAccountName("payments.invoice-writer", "payments")).toBeNull();
    expect(validateServiceAccountName("", "payments")).toBe("a service account needs a name");
    expect(validateServiceAccountName("billing.x", "payments")).toBe(
      "service account names start with the team name and a dot: payments.…",
    );
    expect(validateServiceAccountName("payments.", "payments")).toBe("add a name after payments.");
    expect(validateServiceAccountName(".payments", "payments")).toMatch(/starting with a letter or digit/);
    expect(validateServiceAccountName("payments.a b", "payments")).toMatch(/not a service account name/);
  });

  it("needs a reason to reject", () => {
    expect(validateRejectionReason("  ")).toMatch(/needs a reason/);
    expect(validateRejectionReason("retention too long for prod")).toBeNull();
  });

  it("reads principals", () => {
    expect(principalName("User:payments.writer")).toBe("payments.writer");
    expect(principalName("payments.writer")).toBe("payments.writer");
    expect(principalTeam("User:payments.writer")).toBe("payments");
    expect(principalTeam("User:nodot")).toBe("");
  });
});
