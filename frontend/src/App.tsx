import { useCallback, useEffect, useState } from "react";
import { api, ApiError, loginUrl, setCsrfToken, setUnauthenticatedHandler } from "./api/client";
import type { Session } from "./api/types";
import { Layout } from "./components/Layout";
import { Banner, Loading } from "./components/ui";
import { SessionContext } from "./hooks";
import { matchRoute } from "./lib/route";
import { ApprovalsPage } from "./pages/Approvals";
import { AuditPage } from "./pages/Audit";
import { ClustersPage } from "./pages/Clusters";
import { DashboardPage } from "./pages/Dashboard";
import { MigrationPage } from "./pages/Migration";
import { MigrationsPage } from "./pages/Migrations";
import { NewTopicPage } from "./pages/NewTopic";
import { NotFoundPage } from "./pages/NotFound";
import { RequestPage } from "./pages/Request";
import { RequestsPage } from "./pages/Requests";
import { ServiceAccountsPage } from "./pages/ServiceAccounts";
import { TokensPage } from "./pages/Tokens";
import { TeamSettingsPage } from "./pages/TeamSettings";
import { TopicPage } from "./pages/Topic";
import { TopicsPage } from "./pages/Topics";
import { currentAppPath, useLocation } from "./router";

type SessionState =
  | { kind: "loading" }
  | { kind: "signed-out"; expired: boolean }
  | { kind: "error"; message: string }
  | { kind: "signed-in"; session: Session };

export function App() {
  const [state, setState] = useState<SessionState>({ kind: "loading" });

  const loadSession = useCallback(async () => {
    setState({ kind: "loading" });
    try {
      const session = await api.session();
      setCsrfToken(session.csrf_token);
      setState({ kind: "signed-in", session });
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) setState({ kind: "signed-out", expired: false });
      else setState({ kind: "error", message: error instanceof Error ? error.message : String(error) });
    }
  }, []);

  useEffect(() => {
    void loadSession();
    setUnauthenticatedHandler(() => setState({ kind: "signed-out", expired: true }));
    return () => setUnauthenticatedHandler(null);
  }, [loadSession]);

  if (state.kind === "loading") {
    return (
      <main className="centered" id="main">
        <Loading label="Checking your session…" />
      </main>
    );
  }
  if (state.kind === "error") {
    return (
      <main className="centered" id="main">
        <div className="card narrow">
          <h1>Topicdesk</h1>
          <Banner title="The portal could not reach the server">{state.message}</Banner>
          <button type="button" className="button button-primary" onClick={() => void loadSession()}>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (state.kind === "signed-out") return <SignIn expired={state.expired} />;

  return (
    <SessionContext.Provider value={state.session}>
      <Layout>
        <Routes />
      </Layout>
    </SessionContext.Provider>
  );
}

function SignIn({ expired }: { expired: boolean }) {
  useEffect(() => {
    document.title = "Sign in · Topicdesk";
  }, []);
  return (
    <main className="centered" id="main">
      <div className="card narrow sign-in" data-testid="sign-in">
        <p className="brand brand-large" aria-hidden="true">
          <span className="brand-mark">◆</span> Topicdesk
        </p>
        <h1>{expired ? "Your session has ended" : "Sign in to Topicdesk"}</h1>
        <p className="muted">
          Request Kafka topics and access for your team, approve what others ask of you, and watch changes reach the
          cluster.
        </p>
        <a className="button button-primary" href={loginUrl(currentAppPath())} data-testid="login">
          Sign in with your organisation account
        </a>
      </div>
    </main>
  );
}

function Routes() {
  const { path } = useLocation();
  let params: Record<string, string> | null;
  if (matchRoute("/", path)) return <DashboardPage />;
  if (matchRoute("/topics/new", path)) return <NewTopicPage />;
  if ((params = matchRoute("/requests/:id", path))) return <RequestPage key={params.id} id={params.id ?? ""} />;
  if ((params = matchRoute("/migrations/:id", path))) return <MigrationPage key={params.id} id={params.id ?? ""} />;
  if (matchRoute("/migrations", path)) return <MigrationsPage />;
  if (matchRoute("/approvals", path)) return <ApprovalsPage />;
  if (matchRoute("/requests", path)) return <RequestsPage />;
  if (matchRoute("/topics", path)) return <TopicsPage />;
  if ((params = matchRoute("/clusters/:cluster/topics/:name", path))) {
    return <TopicPage key={`${params.cluster}/${params.name}`} cluster={params.cluster ?? ""} name={params.name ?? ""} />;
  }
  if (matchRoute("/service-accounts", path)) return <ServiceAccountsPage />;
  if (matchRoute("/clusters", path)) return <ClustersPage />;
  if (matchRoute("/audit", path)) return <AuditPage />;
  if (matchRoute("/tokens", path)) return <TokensPage />;
  if (matchRoute("/team-settings", path)) return <TeamSettingsPage />;
  return <NotFoundPage />;
}
