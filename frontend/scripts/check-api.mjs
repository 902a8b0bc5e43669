#!/usr/bin/env node
// Checks that every API operation the portal calls (src/api/operations.json) exists in the
// server's OpenAPI document, with the query parameters the portal sends.
//
//   npm run check-api -- path/to/openapi.json
//   npm run check-api -- http://127.0.0.1:8080/api/v1/openapi.json
//   npm run check-api -- --paths-only openapi.json     (skip the query parameter check)
//
// Exit code 0 when everything is documented, 1 when something is missing, 2 on bad usage.
// Paths match whatever their parameter names ({id} matches {request_id}); the document's paths
// may be absolute ("/api/v1/requests") or relative to a server URL ending in /api/v1.
// Operations under /auth (the browser login flow) are checked only when the document has /auth paths.

import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const OPERATIONS_FILE = join(here, "..", "src", "api", "operations.json");
const API_PREFIX = "/api/v1";

/** "/api/v1/requests/{id}/approve" -> "/api/v1/requests/{}/approve" */
export function normalizePath(path) {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  return trimmed.replace(/\{[^}]*\}/g, "{}");
}

function serverPrefixes(document) {
  const prefixes = new Set([""]);
  for (const server of document.servers ?? []) {
    const url = String(server.url ?? "");
    let path = url;
    try {
      path = new URL(url, "http://placeholder").pathname;
    } catch {
      // keep as given
    }
    path = path.replace(/\/+$/, "");
    if (path && path !== "/") prefixes.add(path);
  }
  return [...prefixes];
}

function queryParameters(document, pathItem, operation) {
  const names = new Set();
  const resolve = (parameter) => {
    if (parameter && typeof parameter.$ref === "string") {
      const pointer = parameter.$ref.replace(/^#\//, "").split("/").map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
      let target = document;
      for (const segment of pointer) target = target?.[segment];
      return target;
    }
    return parameter;
  };
  for (const parameter of [...(pathItem.parameters ?? []), ...(operation.parameters ?? [])]) {
    const resolved = resolve(parameter);
    if (resolved?.in === "query" && typeof resolved.name === "string") names.add(resolved.name);
  }
  return names;
}

/**
 * Returns {checked, missing: [{operation, problem}], skipped: [operation]}.
 * `document` is the parsed OpenAPI object; `operations` the list from operations.json.
 */
export function checkOperations(document, operations, { checkQuery = true } = {}) {
  if (!document || typeof document !== "object" || typeof document.paths !== "object" || document.paths === null) {
    throw new Error("not an OpenAPI document: it has no `paths` object");
  }
  const prefixes = serverPrefixes(document);
  const index = new Map();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const prefix of prefixes) index.set(normalizePath(prefix + path), item);
  }
  const documentHasAuth = [...index.keys()].some((p) => p.startsWith("/auth/"));
  const missing = [];
  const skipped = [];
  let checked = 0;
  for (const operation of operations) {
    if (operation.auth_flow && !documentHasAuth) {
      skipped.push(operation);
      continue;
    }
    checked += 1;
    const wanted = normalizePath(operation.path);
    let item = index.get(wanted);
    if (!item && wanted.startsWith(API_PREFIX)) item = index.get(normalizePath(wanted.slice(API_PREFIX.length) || "/"));
    const label = `${operation.method.toUpperCase()} ${operation.path}`;
    if (!item) {
      missing.push({ operation: label, problem: "path not in the document" });
      continue;
    }
    const method = operation.method.toLowerCase();
    const op = item[method];
    if (!op) {
      missing.push({ operation: label, problem: `path has no ${method.toUpperCase()} operation` });
      continue;
    }
    if (checkQuery && operation.query?.length) {
      const documented = queryParameters(document, item, op);
      const absent = operation.query.filter((name) => !documented.has(name));
      if (absent.length) {
        missing.push({ operation: label, problem: `query parameter(s) not documented: ${absent.join(", ")}` });
      }
    }
  }
  return { checked, missing, skipped };
}

export async function loadDocument(source) {
  if (/^https?:\/\//.test(source)) {
    const response = await fetch(source, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`GET ${source} answered ${response.status} ${response.statusText}`);
    return await response.json();
  }
  return JSON.parse(await readFile(source, "utf8"));
}

export async function loadOperations(file = OPERATIONS_FILE) {
  const parsed = JSON.parse(await readFile(file, "utf8"));
  return parsed.operations;
}

async function main(argv) {
  const args = argv.filter((a) => !a.startsWith("--"));
  const flags = new Set(argv.filter((a) => a.startsWith("--")));
  if (args.length !== 1 || flags.has("--help")) {
    console.error("usage: npm run check-api -- [--paths-only] <openapi.json file or URL>");
    return 2;
  }
  let document;
  try {
    document = await loadDocument(args[0]);
  } catch (error) {
    console.error(`check-api: cannot read ${args[0]}: ${error.message}`);
    return 2;
  }
  const operations = await loadOperations();
  let result;
  try {
    result = checkOperations(document, operations, { checkQuery: !flags.has("--paths-only") });
  } catch (error) {
    console.error(`check-api: ${error.message}`);
    return 2;
  }
  for (const { operation, problem } of result.missing) console.log(`MISSING ${operation}: ${problem}`);
  for (const operation of result.skipped) {
    console.log(`skipped ${operation.method.toUpperCase()} ${operation.path} (login flow; the document has no /auth paths)`);
  }
  const passed = result.checked - new Set(result.missing.map((m) => m.operation)).size;
  console.log(`check-api: ${passed} passed, ${result.checked - passed} failed`);
  return result.missing.length ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
