"""The portal in real headless Chromium against the real server, reconciler, OIDC provider and Kafka.

One journey in order, each test building on the one before (they share the module's processes and
browser sessions):
 1. bob (payments member) creates service accounts, requests a topic with the live policy preview and
    watches it reach applied; the topic and its ACLs are on Kafka and the shown passwords work;
 2. dave (ingest member) creates a service account and requests consume access from the topic page;
    alice (payments owner) approves it in her inbox; it reaches applied and dave's account can read;
 3. a quota above the default (submitted through the API here; test_access_pages.py drives the quota
    form) needs a platform admin; erin rejects it in the inbox with a reason, which alice then sees on its page;
 4. the audit page lists those events and shows the verified chain.
Every page is saved to docs/screenshots/ on the way (regenerated on each run).

Needs `-p tests.e2e.portal_fixtures` (or the root conftest's pytest_plugins) besides the Kafka and
OIDC fixtures.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    ResourcePatternType,
    ResourceType,
)
from playwright.sync_api import Page, expect

from tests.e2e.portal_fixtures import MOBILE, Portal, bearer
from tests.kafka_clients import as_user, consume_one, eventually, produce_one
from topicdesk.local_kafka.cluster import LocalCluster

pytestmark = pytest.mark.e2e

APPLIED_TIMEOUT_MS = 60_000
TOPIC = "payments.invoices.v1"
WRITER = "User:payments.invoice-writer"
READER = "User:payments.invoice-reader"
ANALYTICS = "User:ingest.analytics"
REJECTION = "50 MiB/s per broker would take most of payments-dev's network; stay at 10 MiB/s until the " \
            "cluster gets a second broker."


@dataclass
class Journey:
    """What one step leaves for the next: open pages, request ids and the passwords shown once."""

    pages: dict[str, Page] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)
    requests: dict[str, str] = field(default_factory=dict)

    def need(self, what: str) -> str:
        if what not in self.requests:
            pytest.fail(f"this step needs the {what} request of an earlier step, which did not get that far",
                        pytrace=False)
        return self.requests[what]


@pytest.fixture(scope="module")
def journey() -> Journey:
    return Journey()


# --- helpers -------------------------------------------------------------------------------------

def request_id_of(page: Page) -> str:
    page.wait_for_url(re.compile(r"/#/requests/[^/?]+$"))
    return page.url.rsplit("/", 1)[1]


def create_service_account(page: Page, cluster: str, name: str) -> str:
    """On the Service accounts page: create `name` on `cluster`; the password shown once."""
    page.get_by_test_id("nav-service-accounts").click()
    page.get_by_test_id("sa-cluster").select_option(cluster)
    expect(page.get_by_role("heading", name=f"New service account on {cluster}")).to_be_visible()
    page.get_by_test_id("sa-name").fill(name)
    page.get_by_test_id("create-sa-submit").click()
    credentials = page.get_by_test_id("credentials")
    expect(credentials).to_have_attribute("data-principal", f"User:{name}")
    password = page.get_by_test_id("sa-password").input_value()
    assert len(password) >= 40, "a generated password of 256 bits"
    expect(page.get_by_test_id("sa-table").locator(f"[data-principal='User:{name}']")).to_be_visible()
    return password


def admin_client(cluster: LocalCluster) -> AdminClient:
    return AdminClient(cluster.client_config())


def acls_on(cluster: LocalCluster, resource: ResourceType, name: str) -> set[tuple[str, str]]:
    """(principal, operation) of the ALLOW ACLs on one literal resource, as the broker reports them."""
    # None matches any principal and host (the stubs say str).
    wanted = AclBindingFilter(resource, name, ResourcePatternType.LITERAL, None, None,  # type: ignore[arg-type]
                              AclOperation.ANY, AclPermissionType.ALLOW)
    admin = admin_client(cluster)  # kept referenced until the answer is in: a collected client cancels it
    bindings = admin.describe_acls(wanted, request_timeout=30).result(timeout=30)
    return {(b.principal, b.operation.name) for b in bindings}


def topic_on_kafka(cluster: LocalCluster, name: str) -> tuple[int, dict[str, str]]:
    """Partition count and configs of a topic as the broker reports them."""
    admin = admin_client(cluster)
    metadata = admin.list_topics(topic=name, timeout=30).topics[name]
    assert metadata.error is None, f"{name} is not on the cluster: {metadata.error}"
    resource = ConfigResource(ResourceType.TOPIC, name)
    configs = admin.describe_configs([resource], request_timeout=30)[resource].result(timeout=30)
    return len(metadata.partitions), {key: entry.value for key, entry in configs.items()}


def plain_produce(conf: dict[str, Any], topic: str, value: bytes) -> KafkaError | None:
    """Produce one message without idempotence (which a reader may not use at all): the delivery error."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**conf, "enable.idempotence": False, "message.timeout.ms": 8000})
    producer.produce(topic, value, on_delivery=lambda error, _message: outcome.append(error))
    assert producer.flush(15) == 0, "delivery report did not arrive"
    return outcome[0]


def audit_actions(portal: Portal) -> list[dict[str, Any]]:
    response = requests.get(f"{portal.base}/api/v1/audit", params={"limit": 200}, timeout=30,
                            headers=bearer(portal.stack.provider, "erin"))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# --- 1. a payments member: service accounts, a new topic with the policy preview, applied ----------

def test_member_creates_service_accounts_and_a_topic_that_reaches_applied(portal: Portal, journey: Journey) -> None:
    bob = portal.login("bob")
    expect(bob.get_by_test_id("user")).to_contain_text("payments")
    journey.pages["bob"] = bob

    # Service accounts, each password shown once (with a copy button that really copies it).
    journey.passwords[WRITER] = create_service_account(bob, "payments-dev", "payments.invoice-writer")
    journey.passwords[READER] = create_service_account(bob, "payments-dev", "payments.invoice-reader")
    bob.get_by_test_id("copy-password").click()
    expect(bob.get_by_test_id("copy-password")).to_contain_text("Copied")
    assert bob.evaluate("navigator.clipboard.readText()") == journey.passwords[READER]
    expect(bob.get_by_test_id("sa-row")).to_have_count(2)
    portal.screenshot(bob, "service-accounts")

    # New topic: the only cluster bob's team owns is preselected; producers and consumers come from
    # the accounts just created.
    bob.get_by_test_id("nav-new-topic").click()
    expect(bob.get_by_test_id("cluster-select")).to_have_value("payments-dev")
    preview = bob.get_by_test_id("policy-preview")
    bob.get_by_test_id("topic-name").fill("payments.invoices")
    bob.get_by_test_id("topic-name").fill(TOPIC)
    bob.get_by_test_id("partitions").fill("3")
    bob.get_by_test_id("retention-amount").fill("3")
    bob.get_by_test_id("retention-unit").select_option("days")
    expect(bob.get_by_text("retention.ms = 259,200,000")).to_be_visible()
    bob.get_by_test_id("description").fill("Issued invoices, one event per invoice state change.")
    bob.get_by_test_id("producer-payments.invoice-writer").check()
    bob.get_by_test_id("consumer-payments.invoice-reader").check()
    expect(bob.get_by_test_id("consumer-group-payments.invoice-reader")).to_have_value("payments.invoice-reader")
    bob.get_by_test_id("throughput-amount").fill("64")
    bob.get_by_test_id("reason").fill("Invoice service goes live next sprint.")
    # The live dry run reaches a decision on the form as it now is.
    expect(preview).to_have_attribute("data-state", "decided")
    expect(preview).to_have_attribute("data-outcome", "auto_approved")
    expect(preview.get_by_test_id("preview-summary")).to_contain_text(TOPIC)
    submit = bob.get_by_test_id("submit-request")
    expect(submit).to_have_text("Create topic")
    portal.screenshot(bob, "new-topic")

    # A change the policies deny shows up in the preview and blocks the submit button.
    bob.get_by_test_id("partitions").fill("60")
    expect(preview).to_have_attribute("data-outcome", "denied")
    expect(preview.locator("[data-rule-id='topic-bounds.partitions-dev']")).to_be_visible()
    expect(submit).to_be_disabled()
    bob.get_by_test_id("partitions").fill("3")
    expect(preview).to_have_attribute("data-outcome", "auto_approved")

    submit.click()
    request_id = request_id_of(bob)
    journey.requests["topic"] = request_id
    status = bob.get_by_test_id("request-status")
    expect(status).to_have_attribute("data-status", "applied", timeout=APPLIED_TIMEOUT_MS)
    expect(bob.get_by_test_id("applied-banner")).to_be_visible()
    expect(bob.get_by_test_id("request-decision")).to_contain_text("auto approved")
    expect(bob.locator("[data-step='applied']")).to_have_attribute("data-state", "done")
    portal.screenshot(bob, "request")

    # The server agrees, and Kafka has the topic, its config and its ACLs.
    response = requests.get(f"{portal.base}/api/v1/requests/{request_id}", timeout=30,
                            headers=bearer(portal.stack.provider, "bob"))
    body = response.json()
    assert (body["kind"], body["status"], body["requested_by"]) == ("topic.create", "applied", "bob@example.com")
    assert body["decision"]["outcome"] == "auto_approved"
    payments = portal.stack.clusters["payments-dev"]
    partitions, config = topic_on_kafka(payments, TOPIC)
    assert partitions == 3
    assert config["retention.ms"] == str(3 * 24 * 3600 * 1000)
    assert config["cleanup.policy"] == "delete"
    topic_acls = acls_on(payments, ResourceType.TOPIC, TOPIC)
    assert {(WRITER, "WRITE"), (READER, "READ")} <= topic_acls
    assert (READER, "READ") in acls_on(payments, ResourceType.GROUP, "payments.invoice-reader")

    # The passwords the page showed work: the writer produces, the reader consumes in its group.
    writer = as_user(payments, WRITER, journey.passwords[WRITER])

    def delivered() -> bool:
        error = produce_one(writer, TOPIC, b"invoice-1 issued")
        assert error is None, error
        return True

    eventually(delivered)
    reader = as_user(payments, READER, journey.passwords[READER], **{"group.id": "payments.invoice-reader"})
    assert consume_one(reader, TOPIC) == b"invoice-1 issued"


# --- 2. another team asks for access; the owner approves in the inbox -----------------------------

def test_other_team_requests_access_and_owner_approves_in_the_inbox(portal: Portal, journey: Journey) -> None:
    journey.need("topic")
    dave = portal.login("dave")
    journey.pages["dave"] = dave
    # Dave's team has no account on payments-dev yet; it gets one in the Service accounts page.
    journey.passwords[ANALYTICS] = create_service_account(dave, "payments-dev", "ingest.analytics")
    # Bob's accounts belong to payments: dave does not see them.
    expect(dave.get_by_test_id("sa-row")).to_have_count(1)

    # The catalogue finds the topic across clusters.
    dave.get_by_test_id("nav-topics").click()
    dave.get_by_test_id("topic-search-input").fill("invoice")
    row = dave.get_by_test_id("topics-table").locator(f"[data-topic='{TOPIC}']")
    expect(row).to_contain_text("payments-dev")
    expect(row).to_contain_text("applied")
    expect(dave).to_have_url(re.compile(r"/#/topics\?q=invoice$"))
    portal.screenshot(dave, "topics")
    row.get_by_role("link", name=TOPIC).click()

    # The topic page: desired state, the grants payments gave itself, and "request access".
    expect(dave.get_by_test_id("topic-status")).to_have_text("applied")
    expect(dave.get_by_test_id("topic-grants").get_by_test_id("grant-row")).to_have_count(2)
    form = dave.get_by_test_id("request-access-form")
    expect(form.get_by_test_id("access-principal")).to_have_value(ANALYTICS)
    expect(form.get_by_test_id("access-consume")).to_be_checked()
    expect(form.get_by_test_id("access-group")).to_have_value("ingest.analytics")
    form.get_by_test_id("access-reason").fill("Revenue dashboards read invoice events.")
    preview = form.get_by_test_id("policy-preview")
    expect(preview).to_have_attribute("data-state", "decided")
    expect(preview).to_have_attribute("data-outcome", "needs_approval")
    expect(preview.locator("[data-rule-id='access.cross-team-approval']")).to_be_visible()
    form.get_by_test_id("submit-access-request").click()
    request_id = request_id_of(dave)
    journey.requests["access"] = request_id
    expect(dave.get_by_test_id("request-status")).to_have_attribute("data-status", "pending_approval")
    # The requester cannot approve it himself.
    expect(dave.get_by_test_id("approval-actions")).to_have_count(0)

    # Alice, the payments owner, in a fresh browser context: her dashboard and inbox show it.
    alice = portal.login("alice")
    journey.pages["alice"] = alice
    awaiting = alice.get_by_test_id("dashboard-awaiting")
    expect(awaiting).to_contain_text(TOPIC)
    expect(alice.get_by_test_id("dashboard-team-topics")).to_contain_text(TOPIC)
    expect(alice.get_by_test_id("approvals-count")).to_contain_text("1")
    expect(alice.get_by_test_id("menu-toggle")).to_be_hidden()  # the full navigation fits at 1280 px
    portal.screenshot(alice, "dashboard")
    alice.set_viewport_size(MOBILE)
    expect(alice.get_by_test_id("menu-toggle")).to_be_visible()
    expect(awaiting).to_contain_text(TOPIC)
    portal.screenshot(alice, "dashboard-mobile")
    alice.get_by_test_id("menu-toggle").click()
    alice.get_by_test_id("nav-approvals").click()
    item = alice.locator(f"[data-testid='approval-item'][data-request-id='{request_id}']")
    expect(item).to_contain_text("dave@example.com")
    expect(item).to_contain_text("Revenue dashboards read invoice events.")
    portal.screenshot(alice, "approvals-mobile")
    alice.set_viewport_size({"width": 1280, "height": 900})
    expect(item.locator("[data-rule-id='access.cross-team-approval']")).to_be_visible()
    portal.screenshot(alice, "approvals")
    item.get_by_test_id("approve-button").click()
    item.get_by_test_id("approve-comment").fill("Read-only is fine.")
    item.get_by_test_id("confirm-approve").click()
    expect(alice.get_by_test_id("approvals-done")).to_contain_text("approved")
    expect(alice.get_by_test_id("approvals-empty")).to_be_visible()

    # Dave's page updates itself through applied, with alice's approval on it.
    expect(dave.get_by_test_id("request-status")).to_have_attribute("data-status", "applied",
                                                                   timeout=APPLIED_TIMEOUT_MS)
    expect(dave.get_by_test_id("approvals")).to_contain_text("alice@example.com")
    expect(dave.get_by_test_id("approvals")).to_contain_text("Read-only is fine.")

    # Kafka: the consume ACLs are there, and dave's account reads bob's message in its own group.
    payments = portal.stack.clusters["payments-dev"]
    assert (ANALYTICS, "READ") in acls_on(payments, ResourceType.TOPIC, TOPIC)
    assert (ANALYTICS, "READ") in acls_on(payments, ResourceType.GROUP, "ingest.analytics")
    analytics = as_user(payments, ANALYTICS, journey.passwords[ANALYTICS], **{"group.id": "ingest.analytics"})
    assert consume_one(analytics, TOPIC) == b"invoice-1 issued"
    # It may read, not write.
    refused = plain_produce(as_user(payments, ANALYTICS, journey.passwords[ANALYTICS]), TOPIC, b"nope")
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # The topic page now lists dave's grant as applied, and the request in the topic's history.
    dave.get_by_role("link", name="Open the topic").click()
    grant = dave.locator(f"[data-testid='grant-row'][data-principal='{ANALYTICS}']")
    expect(grant).to_have_attribute("data-access", "consume")
    expect(grant).to_contain_text("applied")
    expect(dave.get_by_test_id("topic-history").locator("tbody tr")).to_have_count(2)
    # Asking again for access the account already has is stopped at the field, before any request.
    form = dave.get_by_test_id("request-access-form")
    expect(form.get_by_test_id("policy-preview")).to_have_attribute("data-state", "incomplete")
    form.get_by_test_id("submit-access-request").click()
    expect(form.get_by_test_id("field-error-principal")).to_contain_text("already has consume access")
    portal.screenshot(dave, "topic")


# --- 3. platform approval needed; an admin rejects with a reason the requester sees ---------------

def test_platform_admin_rejects_with_a_reason_the_requester_sees(portal: Portal, journey: Journey) -> None:
    # The portal has no quota form: alice submits a produce quota above the 10 MiB/s default through the
    # API with an access token from the provider; the rest happens in the browser.
    response = requests.post(f"{portal.base}/api/v1/requests", timeout=30,
                             headers=bearer(portal.stack.provider, "alice"),
                             json={"kind": "quota.set", "cluster": "payments-dev",
                                   "spec": {"principal": WRITER, "producer_byte_rate": 50 * 1024 * 1024},
                                   "reason": "Month-end invoice runs burst to 40 MiB/s."})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "pending_approval"
    assert created["decision"]["outcome"] == "needs_approval"
    assert "quota.producer-above-default" in {rule["id"] for rule in created["decision"]["rules"]}
    request_id = created["id"]
    journey.requests["quota"] = request_id

    # It is not for payments to approve: alice's inbox stays empty.
    alice = journey.pages.get("alice") or portal.login("alice")
    journey.pages["alice"] = alice
    alice.goto(portal.url("/approvals"))
    alice.reload()  # the same address again would not reload the page
    expect(alice.get_by_test_id("approvals-empty")).to_be_visible()

    erin = portal.login("erin", "/approvals")
    journey.pages["erin"] = erin
    item = erin.locator(f"[data-testid='approval-item'][data-request-id='{request_id}']")
    expect(item).to_contain_text("alice@example.com")
    expect(item.locator("[data-rule-id='quota.producer-above-default']")).to_be_visible()
    item.get_by_test_id("reject-button").click()
    # A rejection needs a reason: the message sits next to the field and nothing is sent.
    item.get_by_test_id("confirm-reject").click()
    reason = item.get_by_test_id("reject-reason")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(item.locator(".field-errors")).to_be_visible()
    expect(item).to_be_visible()
    reason.fill(REJECTION)
    item.get_by_test_id("confirm-reject").click()
    expect(erin.get_by_test_id("approvals-done")).to_contain_text("rejected")
    expect(item).to_have_count(0)

    # The requester's page shows the reason.
    alice.goto(portal.url(f"/requests/{request_id}"))
    expect(alice.get_by_test_id("request-status")).to_have_attribute("data-status", "rejected")
    expect(alice.get_by_test_id("rejection-reason")).to_have_text(REJECTION)
    expect(alice.get_by_test_id("request-decision")).to_contain_text("needs approval")
    expect(alice.get_by_role("region", name="What was asked")).to_contain_text("50 MB/s per broker")
    portal.screenshot(alice, "request-rejected")
    alice.set_viewport_size(MOBILE)
    expect(alice.get_by_test_id("rejection-reason")).to_be_visible()
    portal.screenshot(alice, "request-rejected-mobile")
    alice.set_viewport_size({"width": 1280, "height": 900})

    stored = requests.get(f"{portal.base}/api/v1/requests/{request_id}", timeout=30,
                          headers=bearer(portal.stack.provider, "alice")).json()
    assert (stored["status"], stored["rejection_reason"], stored["applied_at"]) == ("rejected", REJECTION, None)


# --- 4. the audit log lists it all and verifies its chain ---------------------------------------

def test_audit_page_lists_the_events_and_verifies_the_chain(portal: Portal, journey: Journey) -> None:
    topic, access, quota = journey.need("topic"), journey.need("access"), journey.need("quota")
    erin = journey.pages.get("erin") or portal.login("erin")
    erin.get_by_test_id("nav-clusters").click()
    payments_card = erin.locator("[data-testid='cluster-card'][data-cluster='payments-dev']")
    expect(payments_card.get_by_test_id("cluster-owner")).to_have_text("payments")
    expect(erin.locator("[data-testid='cluster-card'][data-cluster='ingest-dev']")
           .get_by_test_id("cluster-owner")).to_have_text("ingest")
    expect(payments_card.get_by_test_id("capacity-partitions")).to_be_visible()
    portal.screenshot(erin, "clusters")

    erin.get_by_test_id("nav-audit").click()
    verify = erin.get_by_test_id("audit-verify")
    expect(verify).to_have_attribute("data-state", "verified")
    expect(verify).to_contain_text("Chain verified")

    table = erin.get_by_test_id("audit-table")

    def row(action: str, subject: str) -> None:
        expect(table.locator(f"[data-testid='audit-row'][data-action='{action}']")
               .filter(has_text=subject).first).to_be_visible()

    for action, subject in [
        ("request:submit", f"request:{topic}"), ("request:auto_approve", f"request:{topic}"),
        ("request:applied", f"request:{topic}"),
        ("request:submit", f"request:{access}"), ("request:approve", f"request:{access}"),
        ("request:applied", f"request:{access}"),
        ("request:submit", f"request:{quota}"), ("request:reject", f"request:{quota}"),
        ("service_account:create", "ingest.analytics"), ("service_account:create", "payments.invoice-writer"),
    ]:
        row(action, subject)
    expect(table.locator("[data-testid='audit-row'][data-action='topic:apply']").first).to_be_visible()
    expect(table.locator("[data-testid='audit-row'][data-action='access_grant:apply']").first).to_be_visible()
    expect(table.locator("[data-testid='audit-row'][data-action='auth:login']").first).to_be_visible()
    portal.screenshot(erin, "audit")

    # The page shows what the API holds: the same number of events, and the chain really verifies.
    events = audit_actions(portal)
    expect(table.get_by_test_id("audit-row")).to_have_count(min(len(events), 50))
    verdict = requests.get(f"{portal.base}/api/v1/audit/verify", timeout=30,
                           headers=bearer(portal.stack.provider, "erin")).json()
    assert verdict["ok"] is True
    assert verdict["events"] >= len(events)
    rejected = [e for e in events if e["action"] == "request:reject" and e["subject"] == f"request:{quota}"]
    assert rejected
    assert rejected[0]["actor"] == "erin@example.com"
