"""OpenID Connect: the provider's metadata and signing keys (cached), JWT validation, claims -> Identity.

Every rejected token becomes `Unauthenticated` with a message that says what was wrong (expired, bad
signature, another audience, another issuer) and never repeats the token. A provider that cannot be
reached is `IdentityProviderUnavailable` (503), not a 401: the caller's token may well be fine.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import requests
from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import Key, import_key

from topicdesk.config import ASYMMETRIC_JWT_ALGORITHMS, OidcSettings
from topicdesk.domain.errors import TopicdeskError, Unauthenticated
from topicdesk.domain.identity import Identity, Role

log = logging.getLogger(__name__)

FetchJson = Callable[[str], Any]
Clock = Callable[[], float]

# Team names as the rest of Topicdesk spells them; a group that maps to anything else is ignored.
TEAM_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
# The key type each signature family needs: an RSA key can never verify an ES256 token and so on.
KEY_TYPE_FOR_ALG = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
MAX_TOKEN_BYTES = 16_384


class IdentityProviderUnavailable(TopicdeskError):
    status = 503
    reason = "identity_provider_unavailable"
    title = "Identity provider unavailable"


def fetch_json(url: str, *, timeout: float = 5.0) -> Any:
    """GET a JSON document from the identity provider."""
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        raise IdentityProviderUnavailable(
            f"the identity provider did not answer {url} ({type(exc).__name__}); try again shortly") from exc


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of the discovery document Topicdesk uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    end_session_endpoint: str | None = None

    @classmethod
    def from_document(cls, document: Any, expected_issuer: str) -> ProviderMetadata:
        if not isinstance(document, dict):
            raise IdentityProviderUnavailable("the identity provider's discovery document is not a JSON object")
        issuer = document.get("issuer")
        # OpenID Connect Discovery 1.0 §4.3: the document must name the issuer we asked.
        if not isinstance(issuer, str) or issuer.rstrip("/") != expected_issuer.rstrip("/"):
            raise IdentityProviderUnavailable(
                f"the discovery document names issuer {issuer!r}, not the configured {expected_issuer!r}")
        missing = [name for name in ("authorization_endpoint", "token_endpoint", "jwks_uri")
                   if not isinstance(document.get(name), str)]
        if missing:
            raise IdentityProviderUnavailable(f"the discovery document lacks {', '.join(missing)}")

        def optional(name: str) -> str | None:
            value = document.get(name)
            return value if isinstance(value, str) and value else None

        return cls(issuer=issuer, authorization_endpoint=document["authorization_endpoint"],
                   token_endpoint=document["token_endpoint"], jwks_uri=document["jwks_uri"],
                   userinfo_endpoint=optional("userinfo_endpoint"),
                   end_session_endpoint=optional("end_session_endpoint"))


@dataclass(frozen=True)
class GroupMapping:
    """How group names in a token become team memberships, team ownership and platform admin."""

    claim: str = "groups"
    team_prefix: str = "team:"
    owner_suffix: str = ":owner"
    admin_group: str = "topicdesk-admins"

    def groups(self, claims: dict[str, Any]) -> list[str]:
        value = claims.get(self.claim)
        if value is None and "." in self.claim:
            # Nested claims such as Keycloak's `realm_access.roles`; an exact claim name (which may
            # itself contain dots, like Auth0's namespaced URLs) wins.
            value = claims
            for part in self.claim.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, str):
            value = re.split(r"[\s,]+", value)
        if not isinstance(value, list):
            return []
        # Keycloak's full group paths start with "/".
        return [item.lstrip("/") for item in value if isinstance(item, str) and item]

    def team_roles(self, groups: Iterable[str]) -> tuple[dict[str, Role], bool]:
        roles: dict[str, Role] = {}
        admin = False
        for group in groups:
            if group == self.admin_group:
                admin = True
                continue
            if not self.team_prefix or not group.startswith(self.team_prefix):
                continue
            team, role = group[len(self.team_prefix):], Role.MEMBER
            if self.owner_suffix and team.endswith(self.owner_suffix):
                team, role = team[:-len(self.owner_suffix)], Role.OWNER
            if not TEAM_NAME.match(team):
                continue
            if role == Role.OWNER or team not in roles:
                roles[team] = role
        return roles, admin

    def identity(self, claims: dict[str, Any], *, via: str) -> Identity:
        roles, admin = self.team_roles(self.groups(claims))
        return Identity(subject=subject_of(claims), team_roles=roles, platform_admin=admin, via=via)

    @classmethod
    def from_settings(cls, settings: OidcSettings) -> GroupMapping:
        return cls(claim=settings.groups_claim, team_prefix=settings.team_group_prefix,
                   owner_suffix=settings.owner_group_suffix, admin_group=settings.admin_group)


def subject_of(claims: dict[str, Any]) -> str:
    """The name people recognise: email, else preferred_username, else the provider's `sub`."""
    for name in ("email", "preferred_username", "sub"):
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:300]
    raise Unauthenticated("the token names no subject (no email, preferred_username or sub claim)")


def _key_type_for(alg: str) -> str | None:
    return KEY_TYPE_FOR_ALG.get(alg[:2])


class OidcVerifier:
    """Validates the provider's JWTs. Thread-safe; one instance per process.

    The discovery document and the JWKS are cached for `metadata_ttl` / `jwks_ttl` seconds. A token
    whose `kid` is not in the cached JWKS triggers one re-fetch (the provider rotated its keys), but at
    most once per `min_jwks_refetch` seconds, so a flood of made-up kids cannot hammer the provider.
    After a failed fetch the provider is not asked again for `failure_backoff` seconds (requests
    meanwhile get 503 at once instead of queueing behind timeouts); stale cached documents stay in use.
    """

    def __init__(
        self,
        issuer: str,
        *,
        client_id: str,
        audience: str | None = None,
        mapping: GroupMapping | None = None,
        algorithms: Iterable[str] = ("RS256", "ES256"),
        leeway_seconds: int = 60,
        fetch: FetchJson = fetch_json,
        clock: Clock = time.time,
        metadata_ttl: float = 3600.0,
        jwks_ttl: float = 3600.0,
        min_jwks_refetch: float = 30.0,
        failure_backoff: float = 5.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.audience = audience or client_id
        self.mapping = mapping or GroupMapping()
        self.algorithms = tuple(algorithms)
        unsafe = set(self.algorithms) - ASYMMETRIC_JWT_ALGORITHMS
        if unsafe or not self.algorithms:
            raise ValueError(f"only asymmetric JWT algorithms may be allowed, not {sorted(unsafe)}")
        self.leeway_seconds = leeway_seconds
        self._fetch = fetch
        self._clock = clock
        self._metadata_ttl = metadata_ttl
        self._jwks_ttl = jwks_ttl
        self._min_jwks_refetch = min_jwks_refetch
        self._failure_backoff = failure_backoff
        self._unavailable_until = float("-inf")
        self._last_refetch = float("-inf")
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: list[Key] = []
        self._keys_at: float | None = None

    @classmethod
    def from_settings(cls, settings: OidcSettings, **kwargs: Any) -> OidcVerifier:
        return cls(settings.issuer, client_id=settings.client_id, audience=settings.api_audience,
                   mapping=GroupMapping.from_settings(settings), algorithms=settings.algorithms,
                   leeway_seconds=settings.leeway_seconds, **kwargs)

    # -- provider documents -------------------------------------------------------------------

    def metadata(self) -> ProviderMetadata:
        with self._lock:
            return self._metadata_locked()

    def _provider_fetch(self, url: str) -> Any:
        now = self._clock()
        if now < self._unavailable_until:
            raise IdentityProviderUnavailable("the identity provider was unreachable moments ago; try again shortly")
        try:
            return self._fetch(url)
        except IdentityProviderUnavailable:
            self._unavailable_until = now + self._failure_backoff
            raise

    def _metadata_locked(self) -> ProviderMetadata:
        now = self._clock()
        if self._metadata is None or now - self._metadata_at >= self._metadata_ttl:
            try:
                document = self._provider_fetch(f"{self.issuer}/.well-known/openid-configuration")
                self._metadata = ProviderMetadata.from_document(document, self.issuer)
                self._metadata_at = now
            except IdentityProviderUnavailable:
                if self._metadata is None:
                    raise
                log.warning("could not refresh the OIDC discovery document; using the cached one")
                self._metadata_at = now
        return self._metadata

    def _refresh_keys_locked(self) -> None:
        now = self._clock()
        document = self._provider_fetch(self._metadata_locked().jwks_uri)
        raw_keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(raw_keys, list):
            raise IdentityProviderUnavailable("the identity provider's JWKS has no 'keys' list")
        keys = []
        for raw in raw_keys:
            # Symmetric keys have no place in a public key set; encryption keys do not verify.
            if not isinstance(raw, dict) or raw.get("kty") == "oct" or raw.get("use", "sig") != "sig":
                continue
            try:
                keys.append(import_key(raw))
            except (JoseError, ValueError, TypeError) as exc:
                log.warning("ignoring a JWKS key the verifier cannot use (kid=%s): %s", raw.get("kid"), exc)
        self._keys, self._keys_at = keys, now

    def _candidate_keys(self, kid: str | None, alg: str) -> list[Key]:
        key_type = _key_type_for(alg)

        def matching() -> list[Key]:
            return [key for key in self._keys
                    if key.key_type == key_type and (kid is None or key.kid == kid)
                    and key.alg in (None, alg)]

        with self._lock:
            now = self._clock()
            if self._keys_at is None or now - self._keys_at >= self._jwks_ttl:
                try:
                    self._refresh_keys_locked()
                except IdentityProviderUnavailable:
                    if self._keys_at is None:
                        raise
                    log.warning("could not refresh the OIDC JWKS; using the cached keys")
                    self._keys_at = now
            found = matching()
            since_last = now - max(self._keys_at or 0.0, self._last_refetch)
            if not found and kid is not None and since_last >= self._min_jwks_refetch:
                log.info("a token names an unknown signing key; fetching the JWKS again (key rotation)")
                # Counted before the attempt: a provider that is down is not retried per request either.
                self._last_refetch = now
                self._refresh_keys_locked()
                found = matching()
        return found

    # -- tokens -------------------------------------------------------------------------------

    def verify_access_token(self, token: str) -> Identity:
        """An OIDC access token (JWT) sent as `Authorization: Bearer` -> the caller's Identity."""
        claims = self._decode(token, kind="access token", audience=self.audience)
        # When the API audience is the client id, an ID token would pass the audience check; only ID
        # tokens carry `nonce` / `at_hash`.
        if "nonce" in claims or "at_hash" in claims:
            raise Unauthenticated("an ID token is not an access token; send the access token")
        return self.mapping.identity(claims, via="jwt")

    def verify_id_token(self, token: str, *, nonce: str) -> dict[str, Any]:
        """The ID token from the login callback -> its claims (issuer, audience, expiry and nonce checked)."""
        claims = self._decode(token, kind="ID token", audience=self.client_id, require_iat=True)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.client_id:
            raise Unauthenticated("the ID token was issued to another client (azp)")
        supplied = claims.get("nonce")
        if not isinstance(supplied, str) or not hmac.compare_digest(supplied.encode(), nonce.encode()):
            raise Unauthenticated("the ID token's nonce does not match this login; start again at /auth/login")
        return claims

    def identity_from_claims(self, claims: dict[str, Any], *, via: str) -> Identity:
        return self.mapping.identity(claims, via=via)

    def _decode(self, token: str, *, kind: str, audience: str, require_iat: bool = False) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthenticated(f"the {kind} is too large")
        try:
            header = jws.extract_compact(token.encode()).headers()
        except (JoseError, ValueError, TypeError, UnicodeError) as exc:
            raise Unauthenticated(f"the {kind} is not a well-formed JWT") from exc
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise Unauthenticated(f"the {kind} is signed with {str(alg)[:20]!r}; only "
                                  f"{', '.join(self.algorithms)} signatures are accepted")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated(f"the {kind} has a malformed key id")
        keys = self._candidate_keys(kid, alg)
        if not keys:
            raise Unauthenticated(f"the {kind} is signed with a key the identity provider does not publish")
        decoded = None
        for key in keys:
            try:
                decoded = jwt.decode(token, key, algorithms=[alg])
                break
            except BadSignatureError:
                continue
            except (JoseError, ValueError, TypeError) as exc:
                raise Unauthenticated(f"the {kind} could not be verified ({type(exc).__name__})") from exc
        if decoded is None:
            raise Unauthenticated(f"the {kind}'s signature is not valid")
        claims = decoded.claims
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": self.issuer},
            "aud": {"essential": True, "value": audience},
            "exp": {"essential": True},
            "sub": {"essential": True},
        }
        if require_iat:
            options["iat"] = {"essential": True}
        registry = jwt.JWTClaimsRegistry(now=lambda: int(self._clock()), leeway=self.leeway_seconds, **options)
        try:
            registry.validate(claims)
        except ExpiredTokenError as exc:
            raise Unauthenticated(f"the {kind} has expired") from exc
        except MissingClaimError as exc:
            raise Unauthenticated(f"the {kind} lacks the {exc.claim} claim") from exc
        except InvalidClaimError as exc:
            raise Unauthenticated(self._claim_message(kind, exc.claim, audience)) from exc
        return claims

    def _claim_message(self, kind: str, claim: str, audience: str) -> str:
        if claim == "iss":
            return f"the {kind} was issued by another issuer (expected {self.issuer})"
        if claim == "aud":
            return f"the {kind} is for another audience (expected {audience})"
        if claim == "nbf":
            return f"the {kind} is not valid yet"
        if claim == "iat":
            return f"the {kind} was issued in the future"
        return f"the {kind} has an invalid {claim} claim"
