import { describe, expect, it } from "vitest";
import type { Problem } from "../api/types";
import {
  ACCESS_GRANT_RULES,
  fieldForPath,
  mergeFieldErrors,
  problemSummary,
  splitPointer,
  splitProblem,
  TOPIC_CREATE_RULES,
} from "./problems";

const problem = (errors: Problem["errors"], extra: Partial<Problem> = {}): Problem => ({
  type: "https://topicdesk.dev/problems/validation",
  title: "Unprocessable request",
  status: 422,
  detail: "the request does not match its schema",
  errors,
  ...extra,
});

describe("JSON pointers", () => {
  it("splits and unescapes", () => {
    expect(splitPointer("")).toEqual([]);
    expect(splitPointer("/")).toEqual([]);
    expect(splitPointer("/spec/config/retention.ms")).toEqual(["spec", "config", "retention.ms"]);
    expect(splitPointer("/a~1b/c~0d")).toEqual(["a/b", "c~d"]);
  });
});

describe("fieldForPath", () => {
  it("maps topic.create paths to form fields", () => {
    expect(fieldForPath("/spec/partitions", TOPIC_CREATE_RULES)).toBe("partitions");
    expect(fieldForPath("/spec/name", TOPIC_CREATE_RULES)).toBe("name");
    expect(fieldForPath("/spec/config/retention.ms", TOPIC_CREATE_RULES)).toBe("retention");
    expect(fieldForPath("/spec/config/cleanup.policy", TOPIC_CREATE_RULES)).toBe("cleanup_policy");
    expect(fieldForPath("/spec/expected_throughput/bytes_per_second", TOPIC_CREATE_RULES)).toBe("throughput");
    expect(fieldForPath("/cluster", TOPIC_CREATE_RULES)).toBe("cluster");
  });

  it("keeps the index of list items and prefers the most specific rule", () => {
    expect(fieldForPath("/spec/consumers/2/group", TOPIC_CREATE_RULES)).toBe("consumers.2.group");
    expect(fieldForPath("/spec/consumers/0/principal", TOPIC_CREATE_RULES)).toBe("consumers.0.principal");
    expect(fieldForPath("/spec/consumers/1", TOPIC_CREATE_RULES)).toBe("consumers");
    expect(fieldForPath("/spec/producers/0", TOPIC_CREATE_RULES)).toBe("producers");
  });

  it("returns null for paths no field shows", () => {
    expect(fieldForPath("/kind", TOPIC_CREATE_RULES)).toBeNull();
    expect(fieldForPath("/spec/config/segment.bytes", TOPIC_CREATE_RULES)).toBeNull();
    expect(fieldForPath("", TOPIC_CREATE_RULES)).toBeNull();
    expect(fieldForPath("/spec", TOPIC_CREATE_RULES)).toBeNull();
  });

  it("maps access.grant paths", () => {
    expect(fieldForPath("/spec/group", ACCESS_GRANT_RULES)).toBe("group");
    expect(fieldForPath("/spec/principal", ACCESS_GRANT_RULES)).toBe("principal");
  });
});

describe("splitProblem", () => {
  it("puts every error next to its field and the rest in the banner", () => {
    const split = splitProblem(problem([
      { path: "/spec/partitions", message: "a topic needs at least 1 partition, got 0" },
      { path: "/spec/name", message: "bad name" },
      { path: "/spec/name", message: "too long" },
      { path: "/spec/config/segment.bytes", message: "must be a positive whole number" },
      { path: "", message: "unknown property nope" },
    ]), TOPIC_CREATE_RULES);
    expect(split.fields).toEqual({
      partitions: ["a topic needs at least 1 partition, got 0"],
      name: ["bad name", "too long"],
    });
    expect(split.general).toEqual(["/spec/config/segment.bytes: must be a positive whole number", "unknown property nope"]);
  });

  it("shows the problem itself when there are no field errors", () => {
    const split = splitProblem({ type: "about:blank", title: "Conflict", status: 409,
      detail: "the request is applied; only pending requests can be approved" }, TOPIC_CREATE_RULES);
    expect(split.fields).toEqual({});
    expect(split.general).toEqual(["Conflict: the request is applied; only pending requests can be approved"]);
  });

  it("summarises problems without repeating the title", () => {
    expect(problemSummary({ type: "x", title: "Forbidden", status: 403 })).toBe("Forbidden");
    expect(problemSummary({ type: "x", title: "Forbidden", status: 403, detail: "Forbidden" })).toBe("Forbidden");
    expect(problemSummary({ type: "x", title: "", status: 500 })).toBe("HTTP 500");
  });
});

describe("mergeFieldErrors", () => {
  it("joins client and server messages without repeats", () => {
    expect(mergeFieldErrors({ name: "bad", partitions: null }, { name: ["bad", "worse"], group: [] })).toEqual({
      name: ["bad", "worse"],
    });
  });
});
