"""`topicdesk demo` (what `make run` starts): local Kafka clusters (the teams' and a shared 3-broker
Kafka 3.9 `legacy-monolith`, topicdesk/demo_legacy.py), the database, the portal, the reconciler and
a live producer and consumer on the legacy cluster, seeded with teams, clusters and tokens. A process
that dies is restarted with back-off (topicdesk/supervisor.py); Ctrl-C or SIGTERM stops all of it."""

from __future__ import annotations

import os
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType

import click
from sqlalchemy.engine import Engine
from sqlmodel import select

from topicdesk import demo_legacy, migrations
from topicdesk.adapters.db import make_engine, unit_of_work
from topicdesk.adapters.tables import ApiTokenRow, ClusterRow, TeamRow, utcnow
from topicdesk.config import Settings
from topicdesk.domain.identity import Role
from topicdesk.local_kafka.cluster import LocalCluster, down, up
from topicdesk.local_kafka.errors import LocalKafkaError
from topicdesk.local_oidc import (
    API_AUDIENCE,
    CLIENT_ID,
    CLIENT_SECRET,
    DEMO_USERS,
    MockProvider,
    provider_command,
    provider_env,
    wait_until_serving,
)
from topicdesk.observability.process import RECONCILER_PORT_ENV
from topicdesk.ports import PortInUse, ensure_port_free
from topicdesk.services.tokens import create_token
from topicdesk.supervisor import Backoff, BrokerChild, ProcessChild, Supervisor


@dataclass(frozen=True)
class DemoTeam:
    name: str
    display_name: str
    cluster: str | None


DEMO_TEAMS = [
    DemoTeam("payments", "Payments", "payments-dev"),
    DemoTeam("ingest", "Ingest", "ingest-dev"),
    DemoTeam("platform", "Platform", None),
]
DEMO_TOKENS = [("payments", Role.OWNER), ("payments", Role.MEMBER), ("ingest", Role.OWNER), ("ingest", Role.MEMBER),
               ("platform", Role.ADMIN)]


def seed(engine: Engine, clusters: list[LocalCluster]) -> None:
    """Idempotent: teams and clusters are upserted; cluster coordinates follow the running brokers."""
    by_name = {c.name: c for c in clusters}
    with unit_of_work(engine) as session:
        for team in DEMO_TEAMS:
            if session.get(TeamRow, team.name) is None:
                session.add(TeamRow(name=team.name, display_name=team.display_name))
        session.flush()
        for team in DEMO_TEAMS:
            if team.cluster is None or team.cluster not in by_name:
                continue
            local = by_name[team.cluster]
            row = session.get(ClusterRow, team.cluster) or ClusterRow(
                name=team.cluster, environment="dev", owner_team=team.name, bootstrap_servers="",
                admin_secret_ref="", broker_count=1, partition_budget=2000, disk_budget_bytes=200 * 1024**3,
                tags=["local", "demo"])
            row.bootstrap_servers = local.bootstrap
            row.admin_secret_ref = f"file:{local.state_file}"
            session.add(row)


def seed_requests(engine: Engine) -> int:
    """A few topics, one pending cross-team access request (for payments' owner, alice) and one
    exception (for a platform admin, erin), submitted through the real workflow (schemas, policies,
    audit) on the first run only. Returns how many requests were submitted."""
    from topicdesk.adapters.tables import RequestRow
    from topicdesk.bootstrap import kafka_port_for, usage_evidence_from
    from topicdesk.domain.identity import Identity
    from topicdesk.policy import build_evaluation_document, evaluate, load_bundle
    from topicdesk.schemas import validate_request
    from topicdesk.services.requests import RequestDeps, submit_request

    with unit_of_work(engine) as session:
        if session.exec(select(RequestRow)).first() is not None:
            return 0
    bundle = load_bundle()
    # The same ports as the portal's (app.py): without them a seeded topic.migrate (or topic.delete)
    # would be planned on no snapshot and denied with "no cluster port is configured".
    deps = RequestDeps(engine=engine, validate=validate_request, evaluate=lambda doc: evaluate(bundle, doc),
                       build_document=lambda **p: build_evaluation_document(
                           p["request"], p["requester"], p["cluster"], p["topic"], evidence=p.get("evidence"),
                           migration=p.get("migration")),
                       usage_evidence=usage_evidence_from(kafka_port_for), cluster_ports=kafka_port_for)
    alice = Identity("alice@example.com", {"payments": Role.OWNER}, via="session")
    bob = Identity("bob@example.com", {"payments": Role.MEMBER}, via="session")
    dave = Identity("dave@example.com", {"ingest": Role.MEMBER}, via="session")
    week = "604800000"
    submissions = [
        (bob, {"kind": "topic.create", "cluster": "payments-dev", "reason": "invoicing service", "spec": {
            "name": "payments.invoices.v1", "partitions": 6, "replication_factor": 1,
            "config": {"retention.ms": week, "cleanup.policy": "delete"}, "description": "Invoices issued",
            "producers": ["User:payments.invoice-writer"],
            "consumers": [{"principal": "User:payments.invoice-reader", "group": "payments.invoice-readers"}],
            "expected_throughput": {"bytes_per_second": 20_000}}}),
        (bob, {"kind": "topic.create", "cluster": "payments-dev", "reason": "refund events", "spec": {
            "name": "payments.refunds.v1", "partitions": 3, "replication_factor": 1,
            "config": {"retention.ms": week}, "description": "Refunds granted to customers"}}),
        (dave, {"kind": "topic.create", "cluster": "ingest-dev", "reason": "raw clickstream", "spec": {
            "name": "ingest.clicks.raw", "partitions": 12, "replication_factor": 1,
            "config": {"retention.ms": "86400000"}, "description": "Raw clicks from the edge collectors"}}),
        (dave, {"kind": "access.grant", "cluster": "payments-dev", "reason": "revenue dashboards", "spec": {
            "topic": "payments.invoices.v1", "principal": "User:ingest.analytics", "access": "consume",
            "group": "ingest.analytics"}}),
        # Above dev's default of 12 partitions, under its ceiling of 48: routed to platform admins.
        (alice, {"kind": "topic.create", "cluster": "payments-dev", "reason": "month-end settlement runs 24 workers",
                 "spec": {"name": "payments.settlements.v1", "partitions": 24, "replication_factor": 1,
                          "config": {"retention.ms": week}, "description": "Settlement batches sent to the banks"}}),
    ]
    for identity, document in submissions:
        submit_request(deps, identity, document)
    return len(submissions)


def issue_demo_tokens(engine: Engine) -> list[tuple[str, Role, str]]:
    """Fresh tokens each run (the previous run's are revoked), so the printed ones always work."""
    with unit_of_work(engine) as session:
        for row in session.exec(select(ApiTokenRow).where(ApiTokenRow.name.startswith("demo-"))).all():
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                session.add(row)
    issued = []
    for team, role in DEMO_TOKENS:
        created = create_token(engine, team=team, name=f"demo-{role.value}", role=role, actor="demo",
                               expires_in=timedelta(days=7))
        issued.append((team, role, created.token))
    return issued


class _Stopped(BaseException):
    """Raised by the SIGINT/SIGTERM handler: unwinds whatever the demo is doing to its cleanup."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    # Once: the cleanup that follows must not be interrupted by a second Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise _Stopped(signal.Signals(signum).name)


def _log(line: str) -> None:
    click.echo(f"{time.strftime('%H:%M:%S')} demo: {line}", err=True)


def run_demo(settings: Settings) -> None:
    ensure_port_free(settings.host, settings.port)
    state_dir = settings.data_dir / "local"
    oidc_port = int(os.environ.get("OIDC_PORT", str(settings.port + 1)))
    ensure_port_free(settings.host, oidc_port, "the demo's OpenID provider (set OIDC_PORT to move it)")
    metrics_port = reconciler_metrics_port(settings)
    ensure_port_free(settings.host, metrics_port,
                     "the demo reconciler's metrics (set TOPICDESK_RECONCILER_METRICS_PORT to move it)")
    supervisor = Supervisor(Backoff(), emit=_log)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        click.echo("starting local Kafka clusters (the first run downloads Apache Kafka from Maven Central)...")
        click.echo(f"  with {demo_legacy.LEGACY_NAME}: {demo_legacy.LEGACY_BROKERS} brokers on Kafka "
                   f"{demo_legacy.LEGACY_VERSION}")
        # One call: the teams' brokers and the legacy cluster's three start side by side.
        clusters = up([*(t.cluster for t in DEMO_TEAMS if t.cluster), demo_legacy.LEGACY_NAME], state_dir,
                      shapes={demo_legacy.LEGACY_NAME: demo_legacy.LEGACY_SHAPE})
        legacy = clusters[-1]
        for local in clusters[:-1]:
            supervisor.add(BrokerChild(local), running=True)
        for node in legacy.views():
            supervisor.add(BrokerChild(node, name=f"broker {node.node_id} of local cluster {legacy.name}"),
                           running=True)
        accounts = demo_legacy.accounts_file(settings.data_dir)
        filled = demo_legacy.prepare_kafka(legacy, demo_legacy.load_or_create_accounts(accounts))
        if filled:
            click.echo(f"seeded {demo_legacy.LEGACY_NAME}: {', '.join(filled)} with "
                       f"{demo_legacy.SEED_RECORDS} records each")
        migrations.upgrade(settings.database_url)
        engine = make_engine(settings.database_url)
        seed(engine, clusters)
        demo_legacy.register(engine, legacy)
        seeded = seed_requests(engine)
        if seeded:
            click.echo(f"seeded {seeded} demo requests (topics, and an access request awaiting payments' owner)")
        tokens = issue_demo_tokens(engine)
        engine.dispose()
        provider = _start_provider(supervisor, settings, oidc_port)
        public_url = f"http://{settings.host}:{settings.port}"
        env = {**os.environ, "TOPICDESK_DATA_DIR": str(settings.data_dir), "DATABASE_URL": settings.database_url,
               "SECRET_KEY": settings.secret_key, "OIDC_ISSUER": provider.issuer, "OIDC_CLIENT_ID": CLIENT_ID,
               "OIDC_CLIENT_SECRET": CLIENT_SECRET, "OIDC_AUDIENCE": API_AUDIENCE, "TOPICDESK_PUBLIC_URL": public_url}
        exe = [sys.executable, "-m", "topicdesk.cli"]
        server = ProcessChild("the portal", [*exe, "serve", "--no-migrate", "--host", settings.host,
                                             "--port", str(settings.port)], env)
        supervisor.add(server)
        for name, command in extra_processes(settings.host, metrics_port):
            supervisor.add(ProcessChild(name, [*exe, *command], env))
        demo_legacy.wait_for_topics(legacy)
        for role in ("produce", "consume"):
            log_path = settings.data_dir / f"demo-{role}r.log"
            supervisor.add(ProcessChild(
                f"the demo {role}r on {legacy.name}",
                [sys.executable, "-m", "topicdesk.demo_clients", role, "--state-file", str(legacy.state_file),
                 "--accounts", str(accounts), "--rate", "20"], env, log_path=log_path))
        _wait_healthy(settings, server)
        _print_banner(settings, clusters, provider.issuer, tokens, metrics_port)
        supervisor.run(every=0.5)
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # The legacy cluster's nodes stop together: one by one (as the supervisor would), the
        # last node waits out its controlled shutdown against a quorum without a majority.
        with suppress(LocalKafkaError):
            down(state_dir, [demo_legacy.LEGACY_NAME])
        supervisor.stop_all()
        _stop_mirrors(settings.data_dir)
        down(state_dir)
        click.echo("stopped the portal, the reconciler, the OpenID provider and the local clusters")


def _stop_mirrors(data_dir: Path) -> None:
    """A migration's MirrorMaker JVM runs in its own session so that a killed reconciler does not
    stop the mirror; the demo stops them itself when it ends (the next start brings them back: the
    driver is level-triggered)."""
    from topicdesk.adapters.mirror_process import ProcessMirrorEngine

    engine = ProcessMirrorEngine(data_dir.resolve())
    for folder in sorted((data_dir / "mirrors").glob("*")):
        if folder.is_dir():
            engine.stop(folder.name)


def _start_provider(supervisor: Supervisor, settings: Settings, port: int) -> MockProvider:
    log_path = settings.data_dir / "oidc-provider.log"
    log_path.write_bytes(b"")
    child = ProcessChild("the OpenID provider", provider_command(port), provider_env(), log_path=log_path)
    supervisor.add(child)
    if child.process is None:
        raise click.ClickException(f"could not start the demo's OpenID provider (see {log_path})")
    provider = MockProvider(issuer=f"http://127.0.0.1:{port}", process=child.process, log_path=log_path)
    try:
        wait_until_serving(provider)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    return provider


def _print_banner(settings: Settings, clusters: list[LocalCluster], issuer: str,
                  tokens: list[tuple[str, Role, str]], metrics_port: int) -> None:
    click.echo("")
    for cluster in clusters:
        click.echo(f"  cluster {cluster.name}: {cluster.bootstrap} (admin credentials in {cluster.state_file})")
    click.echo(f"  live traffic on {demo_legacy.LEGACY_NAME}/{demo_legacy.LIVE_TOPIC.name}: "
               f"{settings.data_dir / 'demo-producer.log'}, {settings.data_dir / 'demo-consumer.log'}")
    click.echo(f"\nTopicdesk is running at http://{settings.host}:{settings.port}/")
    click.echo(f"Log in through the local OpenID provider ({issuer}); pick one of these users:")
    for user in DEMO_USERS.values():
        click.echo(f"  {user.sub:<6} {', '.join(user.roles)}")
    click.echo(f"API tokens for the demo (also in {settings.data_dir / 'demo-tokens.txt'}):")
    lines = [f"  {team:<9} {role.value:<7} {token}" for team, role, token in tokens]
    for line in lines:
        click.echo(line)
    token_file = settings.data_dir / "demo-tokens.txt"
    token_file.write_text("\n".join(lines) + "\n")
    token_file.chmod(0o600)
    click.echo(f"\n  curl -H 'Authorization: Bearer {tokens[0][2]}' http://{settings.host}:{settings.port}/api/v1/me")
    for line in metrics_lines(settings, metrics_port):
        click.echo(line)
    click.echo("\nA process that dies is restarted (see the `demo:` lines). Press Ctrl-C to stop everything.")


def reconciler_metrics_port(settings: Settings) -> int:
    """The demo reconciler's metrics port: TOPICDESK_RECONCILER_METRICS_PORT, else two above the
    portal's (the OpenID provider has the one above)."""
    configured = os.environ.get(RECONCILER_PORT_ENV, "").strip()
    if not configured:
        return settings.port + 2
    if not configured.isdigit() or not 0 < int(configured) < 65536:
        raise click.ClickException(f"{RECONCILER_PORT_ENV} must be a port number, not {configured!r}")
    return int(configured)


def metrics_lines(settings: Settings, metrics_port: int) -> list[str]:
    """Where Prometheus scrapes the demo (and how, when TOPICDESK_METRICS_TOKEN closes /metrics)."""
    auth = " -H 'Authorization: Bearer $TOPICDESK_METRICS_TOKEN'" if settings.metrics_token else ""
    return ["Prometheus metrics:",
            f"  the portal:     curl{auth} http://{settings.host}:{settings.port}/metrics",
            f"  the reconciler: curl{auth} http://{settings.host}:{metrics_port}/metrics"]


def extra_processes(host: str, metrics_port: int) -> list[tuple[str, list[str]]]:
    """Processes that run beside the portal."""
    # A short lease: after a crash the restarted reconciler waits for the dead one's lease to run out.
    return [("the reconciler", ["reconcile", "--interval", "1", "--drift-interval", "30", "--lease-seconds", "6",
                                "--metrics-port", str(metrics_port), "--metrics-host", host])]


def _wait_healthy(settings: Settings, server: ProcessChild) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    url = f"http://{settings.host}:{settings.port}/healthz"
    while time.monotonic() < deadline:
        done, code = server.exited()
        if done:
            raise click.ClickException(f"the portal exited with code {code} before it was healthy")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise click.ClickException(f"the portal did not answer {url} within 60 s")


def main(settings: Settings | None = None) -> None:
    settings = settings or Settings.from_env()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        run_demo(settings)
    except (PortInUse, LocalKafkaError) as exc:
        raise click.ClickException(str(exc)) from exc



