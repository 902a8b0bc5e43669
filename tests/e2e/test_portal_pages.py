"""The portal's list pages, roles and layout in real headless Chromium, against the real server,
reconciler, OIDC provider and Kafka:
 1. requests a team's API token made show on the team's dashboard and on the requests page, whose
    filters narrow the list (and the address keeps them);
 2. the audit page hides logins until asked, filters by request and action, links request ids and
    downloads the filtered view as JSON, which matches the API's answer for the same filters;
 3. bob (payments member) walks every page and clicks every visible action that destroys nothing:
    none answers 403, and the owner-only actions (Approvals, Rotate password, approve, cancel of
    another team's request) are not shown;
 4. no page is wider than the viewport at 1280 and 390 px;
 5. the local OpenID provider's sign-in page is styled with nothing fetched from the network.
Saves docs/screenshots/requests.png and audit-filtered.png.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from playwright.sync_api import Page, Response, expect

from tests.e2e.portal_fixtures import DESKTOP, MOBILE, Portal, bearer
from tests.kafka_clients import eventually
from topicdesk.adapters.db import unit_of_work
from topicdesk.adapters.tables import ClusterRow
from topicdesk.bootstrap import kafka_port_for
from topicdesk.domain.identity import Role
from topicdesk.local_oidc import CLIENT_ID
from topicdesk.services.drift import scan_cluster
from topicdesk.services.tokens import create_token

pytestmark = pytest.mark.e2e

# Long, as real names get: the pages must wrap it, not widen.
TOPIC = "payments.pages.invoice-settlement-events-by-merchant-and-currency.v1"
UNMANAGED = "payments.legacy.settlement-export-from-the-old-monolith-nobody-owns-anymore"
CI_WRITER = "User:payments.ci-writer"
SETTLE_TIMEOUT_S = 10.0
# Buttons a walk never clicks: they destroy, end the session, or decide for someone else.
DESTRUCTIVE = ("delete", "revoke", "reject", "rotate now", "sign out", "cancel request", "remove")


@dataclass
class Seeded:
    token: str = ""
    requests: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def seeded(portal: Portal) -> Seeded:
    """The payments team's CI token asks for a topic and a quota; ingest asks payments for access."""
    stack = portal.stack
    token = create_token(stack.engine, team="payments", name="ci", role=Role.MEMBER, actor="test").token
    seeded = Seeded(token=token)
    ci = {"Authorization": f"Bearer {token}"}
    for key, body in {
        "topic": {"kind": "topic.create", "cluster": "payments-dev", "reason": "from CI",
                  "spec": {"name": TOPIC, "partitions": 2, "replication_factor": 1,
                           "config": {"retention.ms": "600000", "max.message.bytes": "1048576"},
                           "description": "Made by the team's CI token"}},
        "quota": {"kind": "quota.set", "cluster": "payments-dev", "reason": "from CI",
                  "spec": {"principal": CI_WRITER, "producer_byte_rate": 1048576}},
    }.items():
        response = requests.post(f"{portal.base}/api/v1/requests", json=body, headers=ci, timeout=30)
        assert response.status_code == 201, response.text
        seeded.requests[key] = response.json()["id"]
    for key in ("topic", "quota"):
        def applied(request_id: str = seeded.requests[key]) -> bool | None:
            answer = requests.get(f"{portal.base}/api/v1/requests/{request_id}", headers=ci, timeout=30).json()
            return True if answer["status"] == "applied" else None
        eventually(applied, timeout=60, interval=0.5)
    dave = bearer(stack.provider, "dave")
    account = requests.post(f"{portal.base}/api/v1/clusters/payments-dev/service-accounts",
                            json={"name": "ingest.pages-reader"}, headers=dave, timeout=30)
    assert account.status_code == 201, account.text
    access = requests.post(f"{portal.base}/api/v1/requests", headers=dave, timeout=30, json={
        "kind": "access.grant", "cluster": "payments-dev", "reason": "dashboards",
        "spec": {"topic": TOPIC, "principal": "User:ingest.pages-reader", "access": "consume",
                 "group": "ingest.pages-reader"}})
    assert access.status_code == 201, access.text
    assert access.json()["status"] == "pending_approval"
    seeded.requests["access"] = access.json()["id"]
    # Drift for the topic page: its retention changed behind Topicdesk's back, and a topic nobody
    # declared; then one drift scan (the reconciler's runs every few minutes). In report mode, so the
    # reconciler leaves the difference for the page to show.
    mode = requests.patch(f"{portal.base}/api/v1/clusters/payments-dev", json={"drift_mode": "report"},
                          headers=bearer(stack.provider, "erin"), timeout=30)
    assert mode.status_code == 200, mode.text
    cluster = stack.clusters["payments-dev"]
    admin = AdminClient(cluster.client_config())
    changed = ConfigResource(ResourceType.TOPIC, TOPIC, incremental_configs=[
        ConfigEntry("retention.ms", "900000", incremental_operation=AlterConfigOpType.SET)])
    for future in admin.incremental_alter_configs([changed]).values():
        future.result(timeout=30)
    for future in admin.create_topics([NewTopic(UNMANAGED, 1, 1)]).values():
        future.result(timeout=30)
    with unit_of_work(stack.engine) as session:
        row = session.get(ClusterRow, "payments-dev")
        assert row is not None
    scan = scan_cluster(stack.engine, "payments-dev", kafka_port_for(row))
    assert scan.items, "the changed retention is a difference"
    bob = bearer(stack.provider, "bob")
    own = requests.post(f"{portal.base}/api/v1/clusters/payments-dev/service-accounts",
                        json={"name": "payments.pages-writer"}, headers=bob, timeout=30)
    assert own.status_code == 201, own.text
    return seeded


def rows(page: Page) -> list[str]:
    ids: list[str] = page.locator("[data-testid=requests-table] [data-testid=request-row]").evaluate_all(
        "rows => rows.map(r => r.dataset.requestId)")
    return ids


def settled(page: Page) -> None:
    """Wait until nothing shows as loading (the page's data is in)."""
    expect(page.locator("main h1").first).to_be_visible()
    expect(page.get_by_test_id("loading")).to_have_count(0)


# --- 1. the requests page and the dashboard ---------------------------------------------------------

def test_a_team_tokens_requests_show_on_the_dashboard_and_the_requests_page_filters(
        portal: Portal, seeded: Seeded) -> None:
    bob = portal.login("bob")
    team = bob.get_by_test_id("dashboard-team-requests")
    token_row = team.locator(f"[data-request-id='{seeded.requests['quota']}']")
    expect(token_row).to_contain_text("token:payments/ci")
    expect(team.locator(f"[data-request-id='{seeded.requests['topic']}']")).to_be_visible()

    team.get_by_test_id("dashboard-all-requests").click()
    expect(bob).to_have_url(portal.url("/requests?team=payments"))
    for request_id in seeded.requests.values():
        expect(bob.locator(f"[data-testid=requests-table] [data-request-id='{request_id}']")).to_be_visible()

    bob.get_by_test_id("requests-filter-kind").select_option("quota.set")
    expect(bob).to_have_url(portal.url("/requests?kind=quota.set&team=payments"))
    expect(bob.get_by_test_id("request-row")).to_have_count(1)
    assert rows(bob) == [seeded.requests["quota"]]
    expect(bob.get_by_test_id("request-row")).to_have_attribute("data-status", "applied")

    bob.get_by_test_id("requests-filter-kind").select_option("")
    bob.get_by_test_id("requests-filter-status").select_option("pending_approval")
    # The list shown until the new one arrives also has one row: wait for the one asked for.
    expect(bob.locator(f"[data-request-id='{seeded.requests['access']}']")).to_be_visible()
    expect(bob.get_by_test_id("request-row")).to_have_count(1)
    assert rows(bob) == [seeded.requests["access"]]
    expect(bob.get_by_test_id("request-row")).to_contain_text("ingest → payments")

    # Whose: bob asked for none of these himself; awaiting-me is not offered to a member.
    scope = bob.get_by_test_id("requests-filter-scope")
    assert scope.locator("option").all_inner_texts() == ["Everything I can see", "Asked by me"]
    scope.select_option("mine")
    expect(bob.get_by_test_id("requests-empty")).to_contain_text("pending approval · team payments · asked by me")

    # The address is the filter: reloading it shows the same list.
    bob.goto(portal.url("/requests?kind=topic.create&cluster=payments-dev"))
    expect(bob.locator(f"[data-request-id='{seeded.requests['topic']}']")).to_be_visible()
    expect(bob.get_by_test_id("request-row")).to_have_count(1)
    assert rows(bob) == [seeded.requests["topic"]]
    bob.get_by_test_id("requests-clear").click()
    expect(bob).to_have_url(portal.url("/requests"))
    for request_id in seeded.requests.values():  # the cleared list, not the filtered one still shown
        expect(bob.locator(f"[data-testid=requests-table] [data-request-id='{request_id}']")).to_be_visible()
    bob.locator(f"[data-request-id='{seeded.requests['quota']}'] a").click()
    expect(bob).to_have_url(portal.url(f"/requests/{seeded.requests['quota']}"))
    expect(bob.get_by_test_id("request-status")).to_have_attribute("data-status", "applied")
    # The quota the token asked for is what the broker reports (DescribeClientQuotas, through the port).
    with unit_of_work(portal.stack.engine) as session:
        cluster = session.get(ClusterRow, "payments-dev")
        assert cluster is not None
    assert kafka_port_for(cluster).describe([TOPIC]).quotas[CI_WRITER].producer_byte_rate == 1048576

    bob.goto(portal.url("/requests"))
    settled(bob)
    portal.screenshot(bob, "requests")


# --- 2. the audit page ------------------------------------------------------------------------------

def test_audit_hides_logins_filters_links_and_downloads_the_filtered_view(portal: Portal, seeded: Seeded) -> None:
    erin = portal.login("erin", "/audit")
    table = erin.get_by_test_id("audit-table")
    expect(table).to_be_visible()
    expect(table.locator("[data-action^='auth:']")).to_have_count(0)
    erin.get_by_test_id("audit-show-logins").check()
    expect(erin).to_have_url(portal.url("/audit?logins=shown"))
    expect(table.locator("[data-action='auth:login']").first).to_be_visible()
    erin.get_by_test_id("audit-show-logins").uncheck()
    expect(table.locator("[data-action^='auth:']")).to_have_count(0)

    quota = seeded.requests["quota"]
    erin.get_by_test_id("audit-filter-request").fill(quota)
    erin.get_by_test_id("audit-apply").click()
    expect(erin).to_have_url(portal.url(f"/audit?request={quota}"))
    subjects = table.locator("[data-testid=audit-row]")
    expect(subjects.first).to_be_visible()
    assert set(subjects.evaluate_all("rows => rows.map(r => r.dataset.subject)")) == {f"request:{quota}"}
    actions = subjects.evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert "request:submit" in actions
    assert "request:applied" in actions

    erin.get_by_test_id("audit-filter-action").select_option("request")
    expect(erin).to_have_url(portal.url(f"/audit?action=request&request={quota}"))
    settled(erin)
    portal.screenshot(erin, "audit-filtered")

    with erin.expect_download() as download_info:
        erin.get_by_test_id("audit-download").click()
    download = download_info.value
    assert download.suggested_filename == f"audit-request-request-{quota}.json"
    document = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert document["complete"] is True
    assert document["filters"] == {"request": quota, "action": "request", "hide_logins": True}
    params: dict[str, str] = {"request": quota, "action": "request", "hide_logins": "true", "limit": "500"}
    api = requests.get(f"{portal.base}/api/v1/audit", params=params,
                       headers=bearer(portal.stack.provider, "erin"), timeout=30)
    assert api.status_code == 200, api.text
    assert [e["id"] for e in document["items"]] == [e["id"] for e in api.json()["items"]]
    assert {e["subject"] for e in document["items"]} == {f"request:{quota}"}

    # The subject links to the request's page.
    table.locator("[data-testid=audit-row]").first.get_by_role("link", name=f"request:{quota}").click()
    expect(erin).to_have_url(portal.url(f"/requests/{quota}"))


# --- 3. a member sees no action that answers 403 -------------------------------------------------------

@dataclass
class Traffic:
    """The API answers a page got, and how many requests are still in flight."""

    answers: list[tuple[str, str, int]] = field(default_factory=list)
    in_flight: int = 0

    def attach(self, page: Page) -> None:
        page.on("request", lambda r: self._start(r.url))
        page.on("requestfinished", lambda r: self._end(r.url))
        page.on("requestfailed", lambda r: self._end(r.url))
        page.on("response", self._answer)

    def _start(self, url: str) -> None:
        if "/api/" in url or "/auth/" in url:
            self.in_flight += 1

    def _end(self, url: str) -> None:
        if "/api/" in url or "/auth/" in url:
            self.in_flight -= 1

    def _answer(self, response: Response) -> None:
        if "/api/" in response.url or "/auth/" in response.url:
            self.answers.append((response.request.method, response.url, response.status))

    def quiet(self, page: Page) -> None:
        """Until no API call is in flight (a request page keeps polling, so in-flight, not idle)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while self.in_flight > 0 and time.monotonic() < deadline:
            page.wait_for_timeout(50)


def member_pages(seeded: Seeded) -> list[str]:
    return ["/", "/requests", "/topics", f"/clusters/payments-dev/topics/{TOPIC}", "/service-accounts",
            "/clusters", "/audit", "/topics/new", f"/requests/{seeded.requests['access']}",
            f"/requests/{seeded.requests['quota']}"]


def visible_actions(page: Page) -> list[str]:
    """Labels of the visible, enabled buttons in the page's content that destroy nothing."""
    labels: list[str] = page.locator("main button:visible:enabled").evaluate_all(
        "buttons => buttons.map(b => (b.getAttribute('aria-label') || b.textContent || '').trim())")
    return [label for label in labels if not any(word in label.lower() for word in DESTRUCTIVE)]


def test_a_member_walks_every_page_and_no_visible_action_answers_403(portal: Portal, seeded: Seeded) -> None:
    bob = portal.login("bob")
    traffic = Traffic()
    traffic.attach(bob)
    expect(bob.get_by_test_id("nav-requests")).to_be_visible()
    expect(bob.get_by_test_id("nav-approvals")).to_have_count(0)

    clicked: list[str] = []
    for path in member_pages(seeded):
        bob.goto(portal.url(path))
        settled(bob)
        traffic.quiet(bob)
        for index, label in enumerate(visible_actions(bob)):
            # The page may have changed with the last click: open it afresh and find the button again.
            bob.goto(portal.url(path))
            settled(bob)
            buttons = bob.locator("main button:visible:enabled")
            target = next((buttons.nth(i) for i in range(buttons.count())
                           if (buttons.nth(i).get_attribute("aria-label") or buttons.nth(i).text_content()
                               or "").strip() == label), None)
            if target is None:
                continue
            target.click()
            traffic.quiet(bob)
            clicked.append(f"{path} [{index}] {label}")

    forbidden = [answer for answer in traffic.answers if answer[2] == 403]
    assert not forbidden, f"visible actions answered 403: {forbidden}\nclicked: {clicked}"
    assert len(clicked) >= 5, clicked  # the walk really pressed buttons

    # The owner-only actions were not there to press.
    bob.goto(portal.url("/service-accounts"))
    expect(bob.get_by_test_id("sa-cluster")).to_have_value("payments-dev")  # his team's cluster, not the first
    expect(bob.locator("[data-principal='User:payments.pages-writer']")).to_be_visible()
    expect(bob.get_by_role("button", name="Rotate the password of payments.pages-writer")).to_have_count(0)
    bob.goto(portal.url(f"/requests/{seeded.requests['access']}"))
    expect(bob.get_by_test_id("request-status")).to_have_attribute("data-status", "pending_approval")
    expect(bob.get_by_test_id("approval-actions")).to_have_count(0)
    expect(bob.get_by_test_id("cancel-request")).to_have_count(0)

    # The same actions for an owner: alice gets Approvals and the rotate button.
    alice = portal.login("alice", "/service-accounts")
    expect(alice.get_by_test_id("nav-approvals")).to_be_visible()
    expect(alice.get_by_role("button", name="Rotate the password of payments.pages-writer")).to_be_visible()


# --- 4. layout ----------------------------------------------------------------------------------------

# The elements that reach past the viewport, to say what to fix.
WIDEST = """(limit) => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > limit + 1)
    .slice(0, 5).map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`)"""


@pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["1280px", "390px"])
def test_no_page_is_wider_than_the_viewport(portal: Portal, seeded: Seeded, viewport: Any) -> None:
    page = portal.login("alice", viewport=viewport)
    too_wide: list[str] = []
    for path in [*member_pages(seeded), "/approvals", f"/requests/{seeded.requests['topic']}"]:
        page.goto(portal.url(path))
        settled(page)
        if path.startswith("/clusters/"):
            # The hard case: the topic page with its drift listed, long values and all.
            expect(page.get_by_test_id("drift-item").first).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > viewport["width"]:
            culprits = page.evaluate(WIDEST, viewport["width"])
            too_wide.append(f"{path}: {width} px ({culprits})")
    assert not too_wide, f"wider than {viewport['width']} px: {too_wide}"


# --- 5. the local provider's page works offline --------------------------------------------------------

def test_the_providers_sign_in_page_is_styled_without_the_network(portal: Portal) -> None:
    page = portal.new_page()
    refused: list[str] = []
    page.on("requestfailed", lambda r: refused.append(r.url))
    page.goto(portal.url("/"))
    page.get_by_test_id("login").click()
    page.wait_for_url(f"{portal.stack.provider.issuer}/oauth2/authorize**")
    assert f"client_id={CLIENT_ID}" in page.url
    authorize = page.get_by_role("button", name="Authorize", exact=True)
    expect(authorize).to_be_visible()
    assert refused == [], f"the sign-in page fetched from outside loopback: {refused}"
    # Styled: the button has the provider stylesheet's colour and the page its centred card.
    background = authorize.evaluate("b => getComputedStyle(b).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "rgb(239, 239, 239)", "rgb(240, 240, 240)"), background
    assert page.locator("main.container").evaluate("m => getComputedStyle(m).maxWidth") == "640px"
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
