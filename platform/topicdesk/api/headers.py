"""Security headers on every response (OWASP ASVS V14.4 / V3.4).

The portal is a Vite build with no inline script or style (frontend/index.html links its hashed
assets), so its policy allows only this origin; every other response (JSON, problem+json, YAML)
is never a document to render, so its policy allows nothing at all.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, request

from topicdesk.config import Settings

PORTAL_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
              "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action {forms}")
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Features the portal never uses, denied to it and to anything that might be injected into it.
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
                      "payment=(), usb=()")
HSTS = "max-age=31536000"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def portal_csp(settings: Settings) -> str:
    # A browser's form post to /auth/logout is redirected to the identity provider's end-session page,
    # and Chromium checks form-action on that redirect too.
    forms = "'self'"
    if settings.oidc is not None:
        issuer = urlsplit(settings.oidc.issuer)
        if issuer.scheme and issuer.netloc:
            forms += f" {issuer.scheme}://{issuer.netloc}"
    return PORTAL_CSP.format(forms=forms)


def came_over_https(settings: Settings) -> bool:
    """HTTPS to this process, or to the proxy in front of it when that proxy is trusted."""
    if request.scheme == "https":
        return True
    if settings.trusted_proxy:
        forwarded = request.headers.get("X-Forwarded-Proto", "")
        return forwarded.split(",")[0].strip().lower() == "https"
    return False


def register_security_headers(app: Flask, settings: Settings) -> None:
    # Built once: werkzeug's Headers is a list, and a setdefault per header scanned it each time.
    html_headers = (*COMMON.items(), ("Content-Security-Policy", portal_csp(settings)))
    data_headers = (*COMMON.items(), ("Content-Security-Policy", DATA_CSP))
    ours = frozenset(name.lower() for name, _ in data_headers) | {"cache-control"}

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        # Headers a view set itself win (setdefault semantics); one pass finds them.
        present = {name.lower() for name, _ in headers.items()} & ours
        wanted = html_headers if response.mimetype == "text/html" else data_headers
        headers.extend([(n, v) for n, v in wanted if n.lower() not in present] if present else wanted)
        if came_over_https(settings):
            headers.setdefault("Strict-Transport-Security", HSTS)
        # API answers are per caller and may carry secrets (passwords, tokens): never stored by a cache.
        # The portal's own files keep the Cache-Control the portal blueprint gives them.
        if request.blueprint != "portal":
            if "cache-control" in present:
                headers["Cache-Control"] = "no-store"
            else:
                headers.add("Cache-Control", "no-store")
        return response
