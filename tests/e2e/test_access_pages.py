"""The access pages in real headless Chromium against the real server, reconciler, OIDC provider and
Kafka, each effect checked with real clients rather than through our database:
 1. alice (payments owner) creates an API token on the tokens page; it works as Bearer against
    /api/v1/me, its last use shows, and after she revokes it in the portal it answers 401;
 2. alice sets a quota for a service account within the default (applied at once) and changes it,
    current -> new, to one above the default: an exception that erin (platform admin) approves in her
    inbox; both values are read back from the broker with DescribeClientQuotas (kafka-python, as the
    project's quota adapter does);
 3. alice deletes the account in the portal (typed confirmation, its quota listed); its credential
    stops authenticating on the broker.
Saves docs/screenshots/tokens.png, quotas.png and approvals-exception.png.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import pytest
import requests
from playwright.sync_api import Page, expect

from tests.e2e.portal_fixtures import Portal
from tests.kafka_clients import as_user, authenticates, eventually
from topicdesk.adapters import kafka_quotas
from topicdesk.local_kafka.cluster import LocalCluster

pytestmark = pytest.mark.e2e

APPLIED_TIMEOUT_MS = 60_000
MIB = 1024 * 1024
RUN = uuid.uuid4().hex[:6]
ACCOUNT = f"payments.e2e-quota-{RUN}"
PRINCIPAL = f"User:{ACCOUNT}"


@dataclass
class Steps:
    pages: dict[str, Page] = field(default_factory=dict)
    passwords: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def steps() -> Steps:
    return Steps()


def user_quotas(cluster: LocalCluster, principal: str) -> dict[str, float]:
    """The principal's `user` quotas as the broker answers DescribeClientQuotas (kafka-python)."""
    config = kafka_quotas.admin_config_from_confluent(cluster.client_config(), request_timeout_ms=15000)
    with kafka_quotas.open_admin(config) as admin:
        entries = kafka_quotas.describe_client_quotas(
            admin, [kafka_quotas.QuotaFilter("user", kafka_quotas.MatchType.EXACT, principal.removeprefix("User:"))],
            strict=True)
    return {key: value for entry in entries for key, value in entry.values.items()}


def open_service_accounts(page: Page) -> None:
    page.get_by_test_id("nav-service-accounts").click()
    page.get_by_test_id("sa-cluster").select_option("payments-dev")
    expect(page.get_by_role("heading", name="Service accounts on payments-dev")).to_be_visible()


# --- 1. API tokens -----------------------------------------------------------------------------

def test_a_token_made_in_the_portal_works_as_bearer_and_stops_after_revoke(portal: Portal, steps: Steps) -> None:
    alice = steps.pages["alice"] = portal.login("alice")
    alice.get_by_test_id("nav-tokens").click()
    expect(alice.get_by_test_id("page-title")).to_have_text("API tokens")
    expect(alice.get_by_test_id("tokens-empty")).to_be_visible()
    alice.get_by_test_id("token-name").fill(f"ci-deploy-{RUN}")
    alice.get_by_test_id("token-role").select_option("member")
    alice.get_by_test_id("token-expiry").select_option("30")
    alice.get_by_test_id("create-token-submit").click()
    token = alice.get_by_test_id("token-value").input_value()
    assert re.fullmatch(r"tdk_[0-9a-f]{32}_[A-Za-z0-9_-]{43}", token)
    expect(alice.get_by_test_id("copy-token")).to_be_visible()
    row = alice.locator(f"[data-testid='token-row'][data-token-name='ci-deploy-{RUN}']")
    expect(row.get_by_test_id("token-last-used")).to_have_text("never")

    me = requests.get(f"{portal.base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["subject"] == f"token:payments/ci-deploy-{RUN}"
    assert me.json()["roles"] == ["payments:member"]
    portal.screenshot(alice, "tokens")

    # The secret is gone once stored; the list shows the use that just happened.
    alice.get_by_test_id("token-done").click()
    expect(alice.get_by_test_id("token-value")).to_have_count(0)
    alice.reload()
    expect(row.get_by_test_id("token-last-used").locator("time")).to_be_visible()

    row.get_by_test_id(f"revoke-ci-deploy-{RUN}").click()
    row.get_by_test_id(f"confirm-revoke-ci-deploy-{RUN}").click()
    expect(row).to_have_attribute("data-state", "revoked")

    def refused() -> bool | None:
        answer = requests.get(f"{portal.base}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        return answer.status_code == 401 or None

    # The server's workers each cache a validated token for up to 5 s.
    assert eventually(refused, timeout=15, interval=0.5) is True


# --- 2. quotas, with an exception for a platform admin -----------------------------------------

def test_a_quota_set_in_the_portal_is_on_the_broker_and_an_exception_goes_to_erin(
    portal: Portal, steps: Steps,
) -> None:
    alice = steps.pages.get("alice") or portal.login("alice")
    payments = portal.stack.clusters["payments-dev"]
    open_service_accounts(alice)
    alice.get_by_test_id("sa-name").fill(ACCOUNT)
    alice.get_by_test_id("create-sa-submit").click()
    expect(alice.get_by_test_id("credentials")).to_have_attribute("data-principal", PRINCIPAL)
    steps.passwords[PRINCIPAL] = alice.get_by_test_id("sa-password").input_value()
    alice.get_by_test_id("credentials-done").click()

    # Within the default: applied at once.
    alice.get_by_test_id(f"set-quota-{ACCOUNT}").click()
    form = alice.get_by_test_id("quota-form")
    expect(form.get_by_test_id("quota-current-producer_byte_rate")).to_have_text("no quota")
    form.get_by_test_id("quota-producer_byte_rate").fill("8")
    preview = form.get_by_test_id("policy-preview")
    expect(preview).to_have_attribute("data-outcome", "auto_approved")
    expect(preview.get_by_test_id("preview-summary")).to_contain_text("Produce: no quota → 8 MiB/s")
    form.get_by_test_id("submit-quota").click()
    alice.wait_for_url(re.compile(r"/#/requests/[^/?]+$"))
    expect(alice.get_by_test_id("request-status")).to_have_attribute("data-status", "applied",
                                                                     timeout=APPLIED_TIMEOUT_MS)
    assert user_quotas(payments, PRINCIPAL) == {"producer_byte_rate": 8 * MIB}

    # Above the default: the preview shows current -> new and says what alice can do.
    open_service_accounts(alice)
    expect(alice.get_by_test_id(f"quota-{ACCOUNT}")).to_contain_text("Produce 8 MiB/s")
    alice.get_by_test_id(f"set-quota-{ACCOUNT}").click()
    form = alice.get_by_test_id("quota-form")
    expect(form.get_by_test_id("quota-current-producer_byte_rate")).to_have_text("8 MiB/s")
    form.get_by_test_id("quota-producer_byte_rate").fill("50")
    form.get_by_test_id("quota-reason").fill("Month-end settlement export.")
    preview = form.get_by_test_id("policy-preview")
    expect(preview).to_have_attribute("data-outcome", "needs_approval")
    expect(preview.get_by_test_id("preview-summary")).to_contain_text("Produce: 8 MiB/s → 50 MiB/s")
    expect(preview.get_by_test_id("preview-next-step")).to_contain_text("You can submit now: a platform admin decides")
    expect(preview.locator("[data-rule-id='quota.producer-above-default']")).to_contain_text(
        "A produce quota of 50 MiB/s for " + PRINCIPAL + " is above the default 10 MiB/s: ask for at most 10 MiB/s, "
        "or submit and a platform admin decides.")
    portal.screenshot(alice, "quotas")
    form.get_by_test_id("submit-quota").click()
    alice.wait_for_url(re.compile(r"/#/requests/[^/?]+$"))
    request_id = alice.url.rsplit("/", 1)[1]
    expect(alice.get_by_test_id("request-status")).to_have_attribute("data-status", "pending_approval")
    # It is not for payments' owner: alice's own inbox stays without it.
    open_service_accounts(alice)
    expect(alice.get_by_test_id(f"quota-{ACCOUNT}").get_by_test_id("quota-pending")).to_be_visible()

    erin = steps.pages["erin"] = portal.login("erin", "/approvals")
    item = erin.locator(f"[data-testid='approval-item'][data-request-id='{request_id}']")
    expect(item).to_contain_text("Month-end settlement export.")
    expect(item.locator("[data-rule-id='quota.producer-above-default']")).to_be_visible()
    portal.screenshot(erin, "approvals-exception")
    item.get_by_test_id("approve-button").click()
    item.get_by_test_id("approve-comment").fill("One month, then back to 10 MiB/s.")
    item.get_by_test_id("confirm-approve").click()
    expect(erin.get_by_test_id("approvals-done")).to_contain_text("approved")

    alice.goto(portal.url(f"/requests/{request_id}"))
    expect(alice.get_by_test_id("request-status")).to_have_attribute("data-status", "applied",
                                                                     timeout=APPLIED_TIMEOUT_MS)
    expect(alice.get_by_test_id("approvals")).to_contain_text("erin@example.com")
    assert user_quotas(payments, PRINCIPAL) == {"producer_byte_rate": 50 * MIB}


# --- 3. deleting the service account -----------------------------------------------------------

def test_a_service_account_deleted_in_the_portal_can_no_longer_authenticate(portal: Portal, steps: Steps) -> None:
    if PRINCIPAL not in steps.passwords:
        pytest.fail("this step needs the service account of the quota step, which did not get that far",
                    pytrace=False)
    alice = steps.pages.get("alice") or portal.login("alice")
    payments = portal.stack.clusters["payments-dev"]
    assert authenticates(as_user(payments, PRINCIPAL, steps.passwords[PRINCIPAL])) is None

    open_service_accounts(alice)
    alice.get_by_test_id(f"delete-{ACCOUNT}").click()
    panel = alice.get_by_test_id("delete-account")
    expect(panel.get_by_test_id("delete-quota")).to_contain_text("produce 50 MiB/s")
    confirm = panel.get_by_test_id("confirm-delete")
    expect(confirm).to_be_disabled()
    panel.get_by_test_id("delete-confirm-name").fill(ACCOUNT[:-1])
    expect(confirm).to_be_disabled()
    panel.get_by_test_id("delete-confirm-name").fill(ACCOUNT)
    confirm.click()
    expect(alice.get_by_test_id("sa-deleted")).to_contain_text("its quota")
    expect(alice.locator(f"[data-testid='sa-row'][data-principal='{PRINCIPAL}']")).to_have_count(0)

    # The reconciler removes the SCRAM credential and the quota: checked on the broker.
    def locked_out() -> bool | None:
        return authenticates(as_user(payments, PRINCIPAL, steps.passwords[PRINCIPAL]), timeout=5) is not None or None

    assert eventually(locked_out, timeout=60, interval=1.0) is True
    assert eventually(lambda: user_quotas(payments, PRINCIPAL) == {} or None, timeout=30) is True
