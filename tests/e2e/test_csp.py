"""The portal works under its Content-Security-Policy: real Chromium logs in through the real provider and
opens every main page; no console error, no uncaught error and no CSP violation on any of them."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from playwright.sync_api import ConsoleMessage, expect

from tests.e2e.portal_fixtures import Portal

pytestmark = pytest.mark.e2e

# Runs before any page script: every violation of the policy is kept for the test to read.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push({directive: event.violatedDirective, blocked: event.blockedURI,
                               source: event.sourceFile, line: event.lineNumber});
});
"""
PAGES = (("nav-dashboard", "/"), ("nav-new-topic", "/topics/new"), ("nav-approvals", "/approvals"),
         ("nav-topics", "/topics"), ("nav-service-accounts", "/service-accounts"), ("nav-clusters", "/clusters"),
         ("nav-audit", "/audit"))


def test_every_main_page_runs_under_the_csp_without_console_errors(portal: Portal) -> None:
    index = requests.get(f"{portal.base}/", timeout=30)
    policy = index.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert index.headers["X-Frame-Options"] == "DENY"

    messages: list[str] = []
    page = portal.new_page()
    page.context.add_init_script(RECORD_VIOLATIONS)

    def on_console(message: ConsoleMessage) -> None:
        # Only this origin's pages: the provider's sign-in page is another site with its own headers.
        if message.type in ("error", "warning") and page.url.startswith(portal.base):
            messages.append(f"{page.url} {message.type}: {message.text}")

    page.on("console", on_console)
    page.goto(portal.url("/"))
    page.get_by_test_id("login").click()
    page.wait_for_url(f"{portal.stack.provider.issuer}/oauth2/authorize**")
    page.locator("input[name=sub]").fill("alice")
    page.get_by_role("button", name="Authorize", exact=True).click()
    page.wait_for_url(f"{portal.base}/**")
    expect(page.get_by_test_id("user")).to_contain_text("payments")
    # Before sign-in the portal asks /auth/session and gets the 401 that shows the sign-in button;
    # Chromium logs that answer as a failed resource. Everything from here on must be clean.
    messages.clear()
    violations: list[dict[str, Any]] = []
    for test_id, path in PAGES:
        page.get_by_test_id(test_id).click()
        expect(page).to_have_url(portal.url(path))
        expect(page.locator("main")).to_be_visible()
        page.wait_for_load_state("networkidle")
        violations += page.evaluate("window.__cspViolations")
    page.reload()
    expect(page.get_by_test_id("user")).to_contain_text("payments")
    page.wait_for_load_state("networkidle")
    violations += page.evaluate("window.__cspViolations")
    assert violations == [], violations
    assert messages == [], messages
    assert not portal.page_errors, portal.page_errors
