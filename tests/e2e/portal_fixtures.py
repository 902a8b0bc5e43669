"""pytest plugin for the portal's browser tests: the real `topicdesk serve` and `topicdesk reconcile`
processes on a fresh SQLite database with the two local Kafka clusters registered, the real OIDC
provider, and headless Debian Chromium driven by Playwright.

Load with `-p tests.e2e.portal_fixtures` (or the root conftest's pytest_plugins). Needs the
`kafka_clusters` and `oidc_provider` fixtures, and the portal built into frontend/dist
(`make frontend`; `make test` builds it first). Nothing here skips: what cannot start fails.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Error,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)
from sqlalchemy.engine import Engine

from tests.support import ServerProcesses, register_cluster, wait_healthy
from topicdesk import migrations
from topicdesk.adapters.db import make_engine
from topicdesk.local_kafka.cluster import LocalCluster
from topicdesk.local_oidc import API_AUDIENCE, CLIENT_ID, CLIENT_SECRET, MockProvider, stop_process
from topicdesk.ports import free_port

REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "frontend" / "dist"
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
MOBILE: ViewportSize = {"width": 390, "height": 844}
# Anything the browser would fetch from outside loopback (nothing should: the provider's pages carry their own styles)
# is refused, so the tests never depend on the network.
OFF_HOST = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])")


@dataclass
class PortalStack(ServerProcesses):
    """The running server and reconciler, and what a test needs to reach them."""

    base: str
    engine: Engine
    provider: MockProvider
    clusters: dict[str, LocalCluster]
    logs: dict[str, Path]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)


@pytest.fixture(scope="session")
def portal_dist() -> Path:
    """The built portal; checked before anything slow starts."""
    if not (DIST / "index.html").is_file():
        pytest.fail(f"the portal is not built ({DIST / 'index.html'} is missing): run `make frontend` "
                    f"(or `npm ci && npm run build` in frontend/)", pytrace=False)
    return DIST


@pytest.fixture(scope="module")
def portal_stack(portal_dist: Path, oidc_provider: MockProvider, kafka_clusters: list[LocalCluster],
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[PortalStack]:
    """`topicdesk serve` and `topicdesk reconcile --interval 0.5` with payments-dev (owned by payments)
    and ingest-dev (owned by ingest) registered; both processes are stopped afterwards."""
    data_dir = tmp_path_factory.mktemp("topicdesk-portal")
    database_url = f"sqlite:///{data_dir / 'topicdesk.db'}"
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    register_cluster(engine, kafka_clusters[0], "payments", name="payments-dev")
    register_cluster(engine, kafka_clusters[1], "ingest", name="ingest-dev")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url, "TOPICDESK_DATA_DIR": str(data_dir),
           "SECRET_KEY": "e2e-portal-secret-key-0123456789abcdef", "TOPICDESK_PUBLIC_URL": base,
           "OIDC_ISSUER": oidc_provider.issuer, "OIDC_CLIENT_ID": CLIENT_ID, "OIDC_CLIENT_SECRET": CLIENT_SECRET,
           "OIDC_AUDIENCE": API_AUDIENCE}
    topicdesk = str(Path(sys.executable).parent / "topicdesk")
    commands = {
        "serve": [topicdesk, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"],
        "reconcile": [topicdesk, "reconcile", "--interval", "0.5"],
    }
    stack = PortalStack(base, engine, oidc_provider,
                        {"payments-dev": kafka_clusters[0], "ingest-dev": kafka_clusters[1]},
                        {name: data_dir / f"{name}.log" for name in commands})
    try:
        for name, command in commands.items():
            with stack.logs[name].open("wb") as log_file:
                stack.processes[name] = subprocess.Popen(command, env=env, stdout=log_file,
                                                         stderr=subprocess.STDOUT)
        wait_healthy(base, stack.check_alive, lambda: stack.log("serve"))
        yield stack
        stack.check_alive()  # a process that died during the tests is a failure, not a detail
    finally:
        for process in stack.processes.values():
            stop_process(process)
        engine.dispose()


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright_driver: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless (never a downloaded browser: `playwright install` is not used)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make system-deps)", pytrace=False)
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    try:
        yield browser
    finally:
        browser.close()


class Portal:
    """Browser sessions against the stack: one context per person, each logged in through the provider."""

    def __init__(self, stack: PortalStack, browser: Browser) -> None:
        self.stack = stack
        self.browser = browser
        self.contexts: list[BrowserContext] = []
        self.page_errors: list[str] = []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    @property
    def base(self) -> str:
        return self.stack.base

    def url(self, path: str = "/") -> str:
        """The portal address of a hash route: url('/approvals') -> http://host/#/approvals."""
        return f"{self.base}/#{path}"

    def new_page(self, *, viewport: ViewportSize | None = None) -> Page:
        context = self.browser.new_context(viewport=viewport or DESKTOP, base_url=self.base,
                                           locale="en-US", timezone_id="UTC", reduced_motion="reduce",
                                           permissions=["clipboard-read", "clipboard-write"])
        context.set_default_timeout(15_000)
        context.route(OFF_HOST, lambda route: route.abort())
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.page_errors.append(f"{page.url}: {error}"))
        return page

    def login(self, user: str, path: str = "/", *, viewport: ViewportSize | None = None) -> Page:
        """A fresh browser context: open `path`, get the sign-in page, pick `user` on the provider's
        form (its `sub` field), and come back to `path` signed in."""
        page = self.new_page(viewport=viewport)
        page.goto(self.url(path))
        page.get_by_test_id("login").click()
        page.wait_for_url(f"{self.stack.provider.issuer}/oauth2/authorize**")
        page.locator("input[name=sub]").fill(user)
        page.get_by_role("button", name="Authorize", exact=True).click()
        page.wait_for_url(f"{self.base}/**")
        expected = self.stack.provider.users[user]
        expect(page.get_by_test_id("user")).to_contain_text(expected.teams[0] if expected.teams else "platform admin")
        expect(page).to_have_url(self.url(path))
        return page

    def screenshot(self, page: Page, name: str) -> Path:
        """docs/screenshots/<name>.png, the whole page at the page's current width."""
        path = SCREENSHOTS / f"{name}.png"
        # From the top: scrolled down, the sticky header would be drawn across the middle of a full page.
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=True, animations="disabled", caret="hide")
        return path

    def close(self) -> None:
        for context in self.contexts:
            with contextlib.suppress(Error):
                context.close()


@pytest.fixture(scope="module")
def portal(portal_stack: PortalStack, chromium: Browser) -> Iterator[Portal]:
    expect.set_options(timeout=15_000)
    portal = Portal(portal_stack, chromium)
    try:
        yield portal
    finally:
        portal.close()
    assert not portal.page_errors, f"uncaught errors in the portal's pages: {portal.page_errors}"


def bearer(provider: MockProvider, user: str) -> dict[str, Any]:
    """Headers for the API as `user`, with an access token issued by the real provider."""
    return {"Authorization": f"Bearer {provider.access_token(user)['access_token']}"}
