import { type ReactNode, useEffect, useState } from "react";
import { api } from "../api/client";
import { useSession } from "../hooks";
import { type Caller, canApproveAnything, canSeeMigrations, ownedTeams } from "../lib/permissions";
import { routes } from "../lib/route";
import { Link, useLocation } from "../router";

interface NavItem {
  to: string;
  label: string;
  match: (path: string) => boolean;
  testId: string;
  /** Shown only to who can use it (the server still decides). */
  shown?: (caller: Caller) => boolean;
}

const NAV: NavItem[] = [
  { to: routes.dashboard(), label: "Dashboard", match: (p) => p === "/", testId: "nav-dashboard" },
  { to: routes.newTopic(), label: "New topic", match: (p) => p === "/topics/new", testId: "nav-new-topic",
    shown: (caller) => caller.platform_admin || caller.teams.length > 0 },
  { to: routes.requests(), label: "Requests", match: (p) => p === "/requests" || p.startsWith("/requests/"),
    testId: "nav-requests" },
  { to: routes.approvals(), label: "Approvals", match: (p) => p === "/approvals", testId: "nav-approvals",
    shown: canApproveAnything },
  { to: routes.topics(), label: "Topics", match: (p) => p === "/topics" || /^\/clusters\/[^/]+\/topics\//.test(p),
    testId: "nav-topics" },
  { to: routes.migrations(), label: "Migrations", match: (p) => p === "/migrations" || p.startsWith("/migrations/"),
    testId: "nav-migrations", shown: canSeeMigrations },
  { to: routes.serviceAccounts(), label: "Service accounts", match: (p) => p === "/service-accounts",
    testId: "nav-service-accounts" },
  { to: routes.clusters(), label: "Clusters", match: (p) => p === "/clusters", testId: "nav-clusters" },
  { to: routes.tokens(), label: "API tokens", match: (p) => p === "/tokens", testId: "nav-tokens",
    shown: (caller) => ownedTeams(caller).length > 0 },
  { to: routes.audit(), label: "Audit log", match: (p) => p === "/audit", testId: "nav-audit" },
  { to: routes.teamSettings(), label: "Team settings", match: (p) => p === "/team-settings", testId: "nav-team-settings",
    shown: (caller) => caller.platform_admin || ownedTeams(caller).length > 0 },
];

export function Layout({ children }: { children: ReactNode }) {
  const session = useSession();
  const { path } = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const [awaiting, setAwaiting] = useState<number | null>(null);
  const [loggingOut, setLoggingOut] = useState(false);

  const approver = canApproveAnything(session);
  const items = NAV.filter((item) => !item.shown || item.shown(session));

  // A new page closes the narrow-screen menu and refreshes the approvals count.
  useEffect(() => {
    setMenuOpen(false);
    if (!approver) return;
    const controller = new AbortController();
    api.requests({ awaiting_me: true, limit: 50 }, controller.signal).then(
      (page) => setAwaiting(page.items.length),
      () => undefined,
    );
    return () => controller.abort();
  }, [path, approver]);

  const logout = async () => {
    setLoggingOut(true);
    let next = "/";
    try {
      // The server may send the identity provider's end-session address to finish there.
      const result = await api.logout();
      if (result?.redirect_to) next = result.redirect_to;
    } catch {
      // The session may already be gone; either way the next page asks to sign in.
    }
    window.location.assign(next);
  };

  return (
    <div className="app">
      <a className="skip-link" href="#main" onClick={(event) => {
        event.preventDefault();
        document.getElementById("main")?.focus();
      }}>
        Skip to content
      </a>
      <header className="topbar">
        <Link to={routes.dashboard()} className="brand" aria-label="Topicdesk home">
          <span className="brand-mark" aria-hidden="true">◆</span> Topicdesk
        </Link>
        <button
          type="button"
          className="menu-toggle button-quiet"
          aria-expanded={menuOpen}
          aria-controls="primary-nav"
          onClick={() => setMenuOpen((open) => !open)}
          data-testid="menu-toggle"
        >
          <span aria-hidden="true">☰</span> Menu
        </button>
        <nav id="primary-nav" aria-label="Main" className={menuOpen ? "nav nav-open" : "nav"}>
          <ul>
            {items.map((item) => {
              const current = item.match(path);
              return (
                <li key={item.to}>
                  <Link to={item.to} aria-current={current ? "page" : undefined} data-testid={item.testId}>
                    {item.label}
                    {item.testId === "nav-approvals" && awaiting ? (
                      <span className="nav-count" data-testid="approvals-count">
                        <span className="visually-hidden">, </span>
                        {awaiting}
                        <span className="visually-hidden"> waiting</span>
                      </span>
                    ) : null}
                  </Link>
                </li>
              );
            })}
          </ul>
          <div className="user" data-testid="user">
            <span className="user-id">
              <span className="user-name" title={session.subject}>
                {session.name ?? session.subject}
              </span>
              <span className="user-teams muted">
                {session.teams.length ? session.teams.join(", ") : "no team"}
                {session.platform_admin ? " · platform admin" : ""}
              </span>
            </span>
            <button type="button" className="button button-small" onClick={logout} disabled={loggingOut}
              data-testid="logout">
              {loggingOut ? "Signing out…" : "Sign out"}
            </button>
          </div>
        </nav>
      </header>
      <main id="main" tabIndex={-1} className="content">
        {children}
      </main>
    </div>
  );
}
