/**
 * Hash routes ("#/clusters/payments-dev/topics/payments.invoices.v1?tab=x"): the server serves one
 * index.html at "/", so every page reloads and deep-links without a server-side fallback.
 */

export interface Location {
  path: string;
  query: URLSearchParams;
}

export function parseHash(hash: string): Location {
  const raw = hash.startsWith("#") ? hash.slice(1) : hash;
  const [pathPart = "", queryPart = ""] = splitOnce(raw, "?");
  const path = pathPart === "" ? "/" : pathPart.startsWith("/") ? pathPart : `/${pathPart}`;
  return { path, query: new URLSearchParams(queryPart) };
}

function splitOnce(text: string, separator: string): [string, string] {
  const index = text.indexOf(separator);
  return index < 0 ? [text, ""] : [text.slice(0, index), text.slice(index + 1)];
}

/** matchRoute("/requests/:id", "/requests/abc") -> {id: "abc"}; null when it does not match. */
export function matchRoute(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split("/").filter(Boolean);
  const got = path.split("/").filter(Boolean);
  if (want.length !== got.length) return null;
  const params: Record<string, string> = {};
  for (let index = 0; index < want.length; index += 1) {
    const w = want[index] as string;
    const g = got[index] as string;
    if (w.startsWith(":")) {
      try {
        params[w.slice(1)] = decodeURIComponent(g);
      } catch {
        return null;
      }
    } else if (w !== g) return null;
  }
  return params;
}

/** Builds "/clusters/a/topics/b?x=1" with each segment encoded. */
export function href(segments: readonly string[], query: Record<string, string | null | undefined> = {}): string {
  const path = `/${segments.map((s) => encodeURIComponent(s)).join("/")}`;
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value) search.set(key, value);
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}

export const routes = {
  dashboard: () => "/",
  newTopic: (cluster?: string) => href(["topics", "new"], { cluster }),
  request: (id: string) => href(["requests", id]),
  migrations: () => "/migrations",
  migration: (id: string) => href(["migrations", id]),
  approvals: () => "/approvals",
  requests: (query: Record<string, string> = {}) => href(["requests"], query),
  topics: (query: { q?: string; cluster?: string; team?: string } = {}) => href(["topics"], query),
  topic: (cluster: string, name: string) => href(["clusters", cluster, "topics", name]),
  serviceAccounts: (cluster?: string) => href(["service-accounts"], { cluster }),
  clusters: () => "/clusters",
  audit: (query: Record<string, string> = {}) => href(["audit"], query),
  tokens: () => "/tokens",
  teamSettings: (team?: string) => href(["team-settings"], { team }),
};
