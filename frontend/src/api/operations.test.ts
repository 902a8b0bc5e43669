import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import operations from "./operations.json";

const SRC = join(__dirname, "..");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx)$/.test(entry) && !/\.test\.tsx?$/.test(entry) ? [path] : [];
  });
}

describe("operations.json", () => {
  it("lists every API path the client calls", () => {
    const listed = new Set(operations.operations.map((op) => op.path));
    const used = new Set<string>();
    for (const file of sourceFiles(SRC)) {
      for (const match of readFileSync(file, "utf8").matchAll(/"(\/(?:api\/v1|auth)\/[^"?]*|\/api\/v1)"/g)) {
        used.add(match[1] as string);
      }
    }
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((path) => !listed.has(path))).toEqual([]);
  });

  it("lists nothing the client no longer calls", () => {
    const client = readFileSync(join(SRC, "api", "client.ts"), "utf8");
    expect(operations.operations.filter((op) => !client.includes(`"${op.path}"`)).map((op) => op.path)).toEqual([]);
  });
});
