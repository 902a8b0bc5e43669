"""JWT validation against a JWKS, with a fake fetcher and a fake clock (no sockets)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, Key, RSAKey, generate_key

from topicdesk.adapters.oidc import GroupMapping, IdentityProviderUnavailable, OidcVerifier, subject_of
from topicdesk.config import OidcSettings, Settings
from topicdesk.domain.errors import Unauthenticated
from topicdesk.domain.identity import Role

ISSUER = "https://idp.example.com"
AUDIENCE = "topicdesk-api"
CLIENT_ID = "topicdesk"
NOW = 1_800_000_000


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


class FakeProvider:
    """Serves a discovery document and a JWKS the test can change (key rotation)."""

    def __init__(self, *keys: Key) -> None:
        self.keys = list(keys)
        self.calls: list[str] = []
        self.down = False
        self.issuer = ISSUER

    def __call__(self, url: str) -> Any:
        self.calls.append(url)
        if self.down:
            raise IdentityProviderUnavailable("the identity provider did not answer")
        if url == f"{ISSUER}/.well-known/openid-configuration":
            return {"issuer": self.issuer, "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
                    "end_session_endpoint": f"{ISSUER}/logout"}
        if url == f"{ISSUER}/jwks":
            return {"keys": [key.as_dict(private=False) for key in self.keys]}
        raise AssertionError(f"unexpected fetch {url}")

    @property
    def jwks_fetches(self) -> int:
        return sum(1 for url in self.calls if url.endswith("/jwks"))


def rsa_key(kid: str) -> RSAKey:
    return generate_key("RSA", 2048, parameters={"kid": kid, "use": "sig"})


def ec_key(kid: str) -> ECKey:
    return generate_key("EC", "P-256", parameters={"kid": kid})


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return rsa_key("key-1")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(signing_key: RSAKey) -> FakeProvider:
    return FakeProvider(signing_key)


@pytest.fixture
def verifier(provider: FakeProvider, clock: Clock) -> OidcVerifier:
    return OidcVerifier(ISSUER, client_id=CLIENT_ID, audience=AUDIENCE, fetch=provider, clock=clock,
                        leeway_seconds=30, min_jwks_refetch=60)


def claims(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-123", "email": "alice@example.com",
                            "iat": NOW - 10, "exp": NOW + 300,
                            "groups": ["team:payments", "team:payments:owner", "team:ingest"]}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Key, *, alg: str = "RS256", kid: str | None = "use-key") -> str:
    header: dict[str, Any] = {"alg": alg}
    chosen = key.kid if kid == "use-key" else kid
    if chosen is not None:
        header["kid"] = chosen
    return jwt.encode(header, payload, key, algorithms=[alg])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rejects(verifier: OidcVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as info:
        verifier.verify_access_token(token)
    return info.value.message


def test_valid_access_token_becomes_identity(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    identity = verifier.verify_access_token(sign(claims(), signing_key))
    assert identity.subject == "alice@example.com"
    assert identity.team_roles == {"payments": Role.OWNER, "ingest": Role.MEMBER}
    assert not identity.platform_admin
    assert identity.via == "jwt"


def test_es256_token_is_accepted(provider: FakeProvider, verifier: OidcVerifier) -> None:
    key = ec_key("ec-1")
    provider.keys.append(key)
    identity = verifier.verify_access_token(sign(claims(groups=["topicdesk-admins"]), key, alg="ES256"))
    assert identity.platform_admin


def test_audience_may_be_one_of_several(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    verifier.verify_access_token(sign(claims(aud=["account", AUDIENCE]), signing_key))


def test_expired_token(verifier: OidcVerifier, signing_key: RSAKey, clock: Clock) -> None:
    token = sign(claims(exp=NOW - 5), signing_key)
    verifier.verify_access_token(token)  # within the 30 s leeway
    clock.now += 60
    assert "expired" in rejects(verifier, token)


def test_not_yet_valid_and_issued_in_the_future(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    assert "not valid yet" in rejects(verifier, sign(claims(nbf=NOW + 120), signing_key))
    assert "issued in the future" in rejects(verifier, sign(claims(iat=NOW + 120), signing_key))
    verifier.verify_access_token(sign(claims(nbf=NOW + 10, iat=NOW + 10), signing_key))  # clock skew


def test_wrong_audience(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    message = rejects(verifier, sign(claims(aud="another-api"), signing_key))
    assert "another audience" in message
    assert AUDIENCE in message


def test_an_id_token_for_the_login_client_is_not_an_api_access_token(verifier: OidcVerifier,
                                                                     signing_key: RSAKey) -> None:
    assert "another audience" in rejects(verifier, sign(claims(aud=CLIENT_ID, nonce="n"), signing_key))


def test_an_id_token_is_refused_even_when_the_audience_is_the_client_id(provider: FakeProvider,
                                                                        signing_key: RSAKey, clock: Clock) -> None:
    verifier = OidcVerifier(ISSUER, client_id=CLIENT_ID, fetch=provider, clock=clock)
    verifier.verify_access_token(sign(claims(aud=CLIENT_ID), signing_key))
    assert "ID token" in rejects(verifier, sign(claims(aud=CLIENT_ID, nonce="n", at_hash="h"), signing_key))


def test_wrong_issuer(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    assert "another issuer" in rejects(verifier, sign(claims(iss="https://evil.example.com"), signing_key))


def test_missing_expiry(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    assert "lacks the exp claim" in rejects(verifier, sign(claims(exp=None), signing_key))


def test_bad_signature_with_a_known_kid(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    forger = rsa_key(str(signing_key.kid))  # same kid, different private key
    assert "signature is not valid" in rejects(verifier, sign(claims(), forger))


def test_tampered_payload(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    header, _, signature = sign(claims(), signing_key).split(".")
    payload = b64(json.dumps(claims(groups=["topicdesk-admins"])).encode())
    assert "signature is not valid" in rejects(verifier, f"{header}.{payload}.{signature}")


def test_alg_none_is_refused(verifier: OidcVerifier) -> None:
    header = b64(json.dumps({"alg": "none"}).encode())
    token = f"{header}.{b64(json.dumps(claims()).encode())}."
    assert "only RS256, ES256" in rejects(verifier, token)


def test_hs256_signed_with_the_public_key_is_refused(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    # The classic key-confusion attack: HMAC keyed with the provider's public key material.
    secret = json.dumps(signing_key.as_dict(private=False), sort_keys=True).encode()
    head = b64(json.dumps({"alg": "HS256", "kid": signing_key.kid}).encode())
    body = b64(json.dumps(claims()).encode())
    mac = b64(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest())
    assert "only RS256, ES256" in rejects(verifier, f"{head}.{body}.{mac}")


def test_rs256_token_cannot_name_an_ec_key(provider: FakeProvider, verifier: OidcVerifier) -> None:
    ec = ec_key("ec-2")
    provider.keys.append(ec)
    forged = sign(claims(), rsa_key("ec-2"))  # RS256 header pointing at an EC key id
    assert "does not publish" in rejects(verifier, forged)


def test_malformed_tokens(verifier: OidcVerifier) -> None:
    for token in ("not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9..", "x" * 20_000):
        rejects(verifier, token)


def test_rotated_key_is_fetched_again(provider: FakeProvider, verifier: OidcVerifier,
                                      signing_key: RSAKey, clock: Clock) -> None:
    verifier.verify_access_token(sign(claims(), signing_key))
    assert provider.jwks_fetches == 1
    clock.now += 61
    rotated = rsa_key("key-2")
    provider.keys = [rotated]
    identity = verifier.verify_access_token(sign(claims(exp=NOW + 3600), rotated))
    assert identity.subject == "alice@example.com"
    assert provider.jwks_fetches == 2
    # Known kids are served from the cache.
    verifier.verify_access_token(sign(claims(exp=NOW + 3600), rotated))
    assert provider.jwks_fetches == 2


def test_a_flood_of_unknown_kids_fetches_the_jwks_at_most_once_per_interval(
        provider: FakeProvider, verifier: OidcVerifier, signing_key: RSAKey, clock: Clock) -> None:
    verifier.verify_access_token(sign(claims(), signing_key))
    clock.now += 61
    for n in range(200):
        assert "does not publish" in rejects(verifier, sign(claims(), signing_key, kid=f"bogus-{n}"))
        clock.now += 0.1
    assert provider.jwks_fetches == 2  # the first load and one re-fetch in the 20 s of flooding
    clock.now += 60
    rejects(verifier, sign(claims(exp=NOW + 3600), signing_key, kid="bogus-late"))
    assert provider.jwks_fetches == 3


def test_token_without_kid_uses_the_only_key_of_its_type(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    # Some providers (oidc-provider-mock among them) sign ID tokens without a kid header.
    assert verifier.verify_access_token(sign(claims(), signing_key, kid=None)).subject == "alice@example.com"


def test_jwks_refresh_failure_keeps_the_cached_keys(provider: FakeProvider, verifier: OidcVerifier,
                                                    signing_key: RSAKey, clock: Clock) -> None:
    verifier.verify_access_token(sign(claims(), signing_key))
    provider.down = True
    clock.now += 7200  # both caches are stale now
    verifier.verify_access_token(sign(claims(exp=NOW + 9000, iat=NOW + 7000), signing_key))


def test_unreachable_provider_is_503_not_401(provider: FakeProvider, verifier: OidcVerifier,
                                             signing_key: RSAKey) -> None:
    provider.down = True
    with pytest.raises(IdentityProviderUnavailable) as info:
        verifier.verify_access_token(sign(claims(), signing_key))
    assert info.value.status == 503


def test_an_unreachable_provider_is_not_asked_again_per_request(provider: FakeProvider, verifier: OidcVerifier,
                                                                signing_key: RSAKey, clock: Clock) -> None:
    provider.down = True
    token = sign(claims(), signing_key)
    for _ in range(100):
        with pytest.raises(IdentityProviderUnavailable):
            verifier.verify_access_token(token)
    assert len(provider.calls) == 1
    clock.now += 5
    provider.down = False
    assert verifier.verify_access_token(token).subject == "alice@example.com"


def test_unknown_kids_while_the_provider_is_down_do_not_retry_per_request(
        provider: FakeProvider, verifier: OidcVerifier, signing_key: RSAKey, clock: Clock) -> None:
    verifier.verify_access_token(sign(claims(), signing_key))
    clock.now += 61
    provider.down = True
    calls = len(provider.calls)
    for n in range(50):
        with pytest.raises((IdentityProviderUnavailable, Unauthenticated)):
            verifier.verify_access_token(sign(claims(exp=NOW + 3600), signing_key, kid=f"bogus-{n}"))
        clock.now += 0.5
    assert len(provider.calls) == calls + 1
    # Tokens signed with the cached key keep working meanwhile.
    verifier.verify_access_token(sign(claims(exp=NOW + 3600), signing_key))


def test_discovery_document_for_another_issuer_is_refused(provider: FakeProvider, verifier: OidcVerifier) -> None:
    provider.issuer = "https://evil.example.com"
    with pytest.raises(IdentityProviderUnavailable, match="names issuer"):
        verifier.metadata()


def test_id_token_checks_nonce_and_client(verifier: OidcVerifier, signing_key: RSAKey) -> None:
    good = sign(claims(aud=CLIENT_ID, nonce="n-1"), signing_key)
    assert verifier.verify_id_token(good, nonce="n-1")["email"] == "alice@example.com"
    with pytest.raises(Unauthenticated, match="nonce"):
        verifier.verify_id_token(good, nonce="n-2")
    with pytest.raises(Unauthenticated, match="nonce"):
        verifier.verify_id_token(sign(claims(aud=CLIENT_ID), signing_key), nonce="n-1")
    with pytest.raises(Unauthenticated, match="another audience"):
        verifier.verify_id_token(sign(claims(nonce="n-1"), signing_key), nonce="n-1")
    other_azp = sign(claims(aud=[CLIENT_ID, "other"], azp="other", nonce="n-1"), signing_key)
    with pytest.raises(Unauthenticated, match="azp"):
        verifier.verify_id_token(other_azp, nonce="n-1")
    with pytest.raises(Unauthenticated, match="lacks the iat claim"):
        verifier.verify_id_token(sign(claims(aud=CLIENT_ID, nonce="n-1", iat=None), signing_key), nonce="n-1")


@pytest.mark.parametrize(("groups", "roles", "admin"), [
    (["team:payments"], {"payments": Role.MEMBER}, False),
    (["team:payments:owner"], {"payments": Role.OWNER}, False),
    (["team:payments:owner", "team:payments"], {"payments": Role.OWNER}, False),
    (["/team:ingest", "topicdesk-admins", "staff"], {"ingest": Role.MEMBER}, True),
    (["team:Bad Name", "team:", "team:x:owner:owner", "teams:payments"], {}, False),
    ("team:payments team:ingest:owner", {"payments": Role.MEMBER, "ingest": Role.OWNER}, False),
    (None, {}, False),
    (42, {}, False),
])
def test_group_mapping(groups: Any, roles: dict[str, Role], admin: bool) -> None:
    identity = GroupMapping().identity({"sub": "s", "groups": groups}, via="jwt")
    assert identity.team_roles == roles
    assert identity.platform_admin is admin


def test_group_mapping_prefixes_and_claim_are_configurable() -> None:
    mapping = GroupMapping(claim="realm_access.roles", team_prefix="kafka-", owner_suffix="-lead",
                           admin_group="kafka-platform")
    claims_ = {"sub": "s", "realm_access": {"roles": ["kafka-payments-lead", "kafka-ingest", "kafka-platform"]}}
    identity = mapping.identity(claims_, via="session")
    assert identity.team_roles == {"payments": Role.OWNER, "ingest": Role.MEMBER}
    assert identity.platform_admin
    # An exact claim name wins over a nested path (Auth0 namespaces claims with URLs).
    url_claim = GroupMapping(claim="https://example.com/groups")
    assert url_claim.groups({"https://example.com/groups": ["team:a"]}) == ["team:a"]


def test_subject_prefers_email_then_username_then_sub() -> None:
    assert subject_of({"sub": "1", "preferred_username": "bob", "email": "bob@example.com"}) == "bob@example.com"
    assert subject_of({"sub": "1", "preferred_username": "bob"}) == "bob"
    assert subject_of({"sub": "1", "email": ""}) == "1"
    with pytest.raises(Unauthenticated):
        subject_of({})


def test_settings_from_env() -> None:
    settings = Settings.from_env({
        "OIDC_ISSUER": "https://idp.example.com/", "OIDC_CLIENT_ID": "topicdesk", "OIDC_CLIENT_SECRET": "s3",
        "OIDC_GROUPS_CLAIM": "roles", "OIDC_TEAM_GROUP_PREFIX": "kafka-", "OIDC_OWNER_GROUP_SUFFIX": "-lead",
        "OIDC_ADMIN_GROUP": "kafka-admins", "TOPICDESK_PUBLIC_URL": "https://topicdesk.example.com/",
    })
    assert settings.oidc is not None
    assert settings.oidc.issuer == "https://idp.example.com"
    assert settings.oidc.api_audience == "topicdesk"
    assert settings.public_url == "https://topicdesk.example.com"
    assert settings.cookie_secure
    verifier = OidcVerifier.from_settings(settings.oidc)
    assert verifier.mapping == GroupMapping("roles", "kafka-", "-lead", "kafka-admins")
    assert Settings.from_env({}).oidc is None
    assert not Settings.from_env({}).cookie_secure
    assert not Settings.from_env({"TOPICDESK_PUBLIC_URL": "https://x", "SESSION_COOKIE_SECURE": "false"}).cookie_secure


@pytest.mark.parametrize("env", [
    {"OIDC_ISSUER": "https://idp"},
    {"OIDC_ISSUER": "https://idp", "OIDC_CLIENT_ID": "c", "OIDC_ALGORITHMS": "RS256,HS256"},
    {"OIDC_ISSUER": "https://idp", "OIDC_CLIENT_ID": "c", "OIDC_ALGORITHMS": "none"},
])
def test_unsafe_or_incomplete_oidc_settings_fail_at_start(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="OIDC"):
        OidcSettings.from_env(env)


def test_verifier_refuses_symmetric_algorithms() -> None:
    fetch: Callable[[str], Any] = FakeProvider()
    with pytest.raises(ValueError, match="asymmetric"):
        OidcVerifier(ISSUER, client_id=CLIENT_ID, algorithms=["RS256", "HS256"], fetch=fetch)
