"""Verifies Tessera access tokens with PyJWT, applying the same rules as @tessera/core's verifier.

Framework-free: `TesseraVerifier.verify(token)` returns a `Caller` or raises `TokenRefused` whose
`reason` is one of Tessera's error codes (`ERR_TOKEN_AUDIENCE`, ...). Reasons are for logs and
tests, never for the wire. See ../README.md for the checks and how they map to Tessera's.
"""

from __future__ import annotations

import base64
import json
import math
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Literal, Mapping, NamedTuple, Optional, Tuple

import httpx
import jwt

# The algorithms Tessera's authority signs with. Closed: never `none`, never HMAC (a shared secret
# would let every verifier mint tokens), no RSA.
TESSERA_ALGORITHMS = ("ES256", "EdDSA")
# Each algorithm's only acceptable key type and curve: a key is used for one algorithm only.
_KEY_SHAPE = {"ES256": ("EC", "P-256"), "EdDSA": ("OKP", "Ed25519")}
ACCESS_TOKEN_TYP = "at+jwt"  # RFC 9068 §2.1
DEFAULT_LEEWAY_SECONDS = 5
MAX_LEEWAY_SECONDS = 30
MAX_LIFETIME_SECONDS = 3600
MAX_TOKEN_BYTES = 8192
MAX_ACTOR_CHAIN = 8
MAX_JWKS_BYTES = 64 * 1024

_ALLOWED_HEADER = frozenset(("alg", "kid", "typ"))
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
# SPIFFE ID standard §2.1 and §2.2, as @tessera/core parses them: strict, never normalised.
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]{1,255}")
_PATH_SEGMENT = re.compile(r"[a-zA-Z0-9._-]+")
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


class TokenRefused(Exception):
    """A token was refused. `reason` is a Tessera error code; `detail` is for operators only."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Caller:
    """Who called, as the verified token says.

    `kind` is "service" for a client-credentials token and "delegated" for a token-exchange token
    acting for a user: then `user` is the user (`sub`), `user_issuer` who vouched for them, and
    `actors` the services that carried the request, nearest first (`actors[0] == spiffe_id`).
    """

    kind: Literal["service", "delegated"]
    spiffe_id: str
    scopes: Tuple[str, ...]
    jti: str
    issuer: str
    issued_at: int
    expires_at: int
    tenant: Optional[str] = None
    user: Optional[str] = None
    user_issuer: Optional[str] = None
    actors: Tuple[str, ...] = ()

    def has_scopes(self, required: Tuple[str, ...]) -> bool:
        return all(scope in self.scopes for scope in required)


def parse_workload_id(value: object, trust_domain: Optional[str] = None) -> str:
    """A workload SPIFFE ID (`spiffe://td/path`), of `trust_domain` when given, or ValueError."""
    if not isinstance(value, str) or len(value) > 2048 or not value.startswith("spiffe://"):
        raise ValueError("not a SPIFFE ID")
    domain, slash, path = value[len("spiffe://") :].partition("/")
    if not _TRUST_DOMAIN.fullmatch(domain):
        raise ValueError("bad trust domain")
    if slash == "" or path == "":
        raise ValueError("a workload ID needs a path")
    for segment in path.split("/"):
        if segment in (".", "..") or not _PATH_SEGMENT.fullmatch(segment):
            raise ValueError("bad path segment")
    if trust_domain is not None and domain != trust_domain:
        raise ValueError("another trust domain")
    return value


class JwksKey(NamedTuple):
    """A published key and the one algorithm it may verify (the JWK's `alg`)."""

    alg: str
    jwk: jwt.PyJWK


class RemoteJwks:
    """The authority's JWKS, fetched with a timeout and a size cap, and cached.

    PyJWT 2.6's PyJWKClient fetches with urllib and no timeout, so a stalled authority would hang
    requests. Here: httpx with `timeout_seconds`, proxies from the environment ignored, no
    redirects, at most 64 KiB; a regular refresh after `refresh_seconds`; an unknown `kid`
    triggers at most one fetch per `cooldown_seconds` (a flood of forged kids is not a flood of
    fetches); keys not refreshed for `max_stale_seconds` are no longer used (fail closed). Only
    keys with a `kid` and an allowed `alg` of the matching type and curve are kept. Thread-safe.
    The defaults are @tessera/fastify's (`RemoteJwks`).
    """

    def __init__(
        self,
        url: str,
        *,
        algorithms: Tuple[str, ...] = TESSERA_ALGORITHMS,
        timeout_seconds: float = 5.0,
        refresh_seconds: float = 300.0,
        cooldown_seconds: float = 30.0,
        max_stale_seconds: float = 24 * 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("jwks_uri must be an http(s) URL")
        self._url = url
        self._algorithms = algorithms
        self._timeout = timeout_seconds
        self._refresh = refresh_seconds
        self._cooldown = cooldown_seconds
        self._max_stale = max_stale_seconds
        self._clock = clock
        self._keys: Dict[str, JwksKey] = {}
        self._last_success = float("-inf")
        self._last_attempt = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0
        """How many fetches were attempted (for tests and metrics)."""

    def get(self, kid: str) -> Optional[JwksKey]:
        if self._clock() - self._last_success >= self._refresh:
            self._fetch_unless_recent()
        key = self._current(kid)
        if key is None:
            self._fetch_unless_recent()
            key = self._current(kid)
        return key

    def _current(self, kid: str) -> Optional[JwksKey]:
        if self._clock() - self._last_success > self._max_stale:
            return None
        return self._keys.get(kid)

    def _fetch_unless_recent(self) -> None:
        with self._lock:  # one fetch at a time; the others wait, then see its result
            now = self._clock()
            if now - self._last_attempt < self._cooldown:
                return
            self._last_attempt = now
            self.fetches += 1
            try:
                self._keys = self._download()
                self._last_success = self._clock()
            except (httpx.HTTPError, ValueError, jwt.PyJWTError):
                pass  # keep the keys we had until they are stale; the caller sees an unknown kid

    def _download(self) -> Dict[str, JwksKey]:
        with httpx.Client(timeout=self._timeout, trust_env=False, follow_redirects=False) as client:
            accept = {"accept": "application/json"}
            with client.stream("GET", self._url, headers=accept) as response:
                if response.status_code != 200:
                    raise ValueError(f"JWKS answered {response.status_code}")
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise ValueError("JWKS is too large")
        document = json.loads(body)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWK set")
        keys: Dict[str, JwksKey] = {}
        for jwk in document["keys"]:
            if not isinstance(jwk, dict):
                continue
            kid, alg = jwk.get("kid"), jwk.get("alg")
            if not isinstance(kid, str) or alg not in self._algorithms:
                continue  # a key without a kid, or for another algorithm, is never used
            if (jwk.get("kty"), jwk.get("crv")) != _KEY_SHAPE[alg] or "d" in jwk:
                continue
            if jwk.get("use", "sig") != "sig":
                continue
            keys[kid] = JwksKey(alg, jwt.PyJWK(jwk, alg))
        return keys


def _numeric_date(claims: Mapping[str, object], name: str, required: bool) -> Optional[float]:
    value = claims.get(name)
    if value is None and not required:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise TokenRefused("ERR_TOKEN_CLAIMS", f'"{name}" must be a NumericDate')
    return value


def _required_string(claims: Mapping[str, object], name: str, max_length: int) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or value == "" or len(value) > max_length:
        raise TokenRefused("ERR_TOKEN_CLAIMS", f'"{name}" must be a non-empty string')
    return value


def _parse_scope(value: object) -> Tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, str):
        raise TokenRefused("ERR_TOKEN_CLAIMS", '"scope" must be a string')
    if value == "":
        return ()
    tokens = value.split(" ")
    valid = all(_SCOPE_TOKEN.fullmatch(token) for token in tokens)
    if not valid or len(set(tokens)) != len(tokens):
        raise TokenRefused("ERR_TOKEN_CLAIMS", "scope has an invalid or repeated token")
    return tuple(tokens)


def _actor_chain(act: object, trust_domain: Optional[str]) -> Tuple[str, ...]:
    actors = []
    link = act
    while link is not None:
        if len(actors) == MAX_ACTOR_CHAIN:
            raise TokenRefused("ERR_TOKEN_ACT", "chain is too deep")
        if not isinstance(link, dict):
            raise TokenRefused("ERR_TOKEN_ACT", '"act" is not an object')
        try:
            actors.append(parse_workload_id(link.get("sub"), trust_domain))
        except ValueError:
            raise TokenRefused("ERR_TOKEN_ACT", "an actor is not a workload SPIFFE ID") from None
        link = link.get("act")
    return tuple(actors)


def _b64url_strict(segment: str) -> bytes:
    """Canonical unpadded base64url only: Python's decoder would skip characters outside the
    alphabet and accept non-zero trailing bits, so one token could be spelt several ways."""
    if not _SEGMENT.fullmatch(segment):
        raise TokenRefused("ERR_TOKEN_MALFORMED", "a segment is not base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:
        raise TokenRefused("ERR_TOKEN_MALFORMED", "a segment is not base64url") from None
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != segment:
        raise TokenRefused("ERR_TOKEN_MALFORMED", "a segment is not canonical base64url")
    return data


def _decode_header(data: bytes) -> Dict[str, object]:
    try:
        header = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested thousands deep
        raise TokenRefused("ERR_TOKEN_MALFORMED", "header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise TokenRefused("ERR_TOKEN_MALFORMED", "header is not a JSON object")
    return header


class TesseraVerifier:
    """Verifies access tokens for one service. Create once; reuse for every request (thread-safe).

    `issuer` is the authority's issuer (compared exactly), `audience` this service's SPIFFE ID
    (`aud` must be exactly it), `jwks` the authority's keys (a `RemoteJwks`, or anything with
    `get(kid) -> JwksKey | None`).
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks: RemoteJwks,
        algorithms: Tuple[str, ...] = TESSERA_ALGORITHMS,
        leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
        max_lifetime_seconds: int = MAX_LIFETIME_SECONDS,
        trust_domain: Optional[str] = None,
    ) -> None:
        if not issuer:
            raise ValueError("issuer is required")
        parse_workload_id(audience, trust_domain)
        if not algorithms or any(alg not in TESSERA_ALGORITHMS for alg in algorithms):
            raise ValueError("algorithms must be a non-empty subset of ES256 and EdDSA")
        if not 0 <= leeway_seconds <= MAX_LEEWAY_SECONDS:
            raise ValueError(f"leeway_seconds must be 0..{MAX_LEEWAY_SECONDS}")
        if not 0 < max_lifetime_seconds <= MAX_LIFETIME_SECONDS:
            raise ValueError(f"max_lifetime_seconds must be 1..{MAX_LIFETIME_SECONDS}")
        self.issuer = issuer
        self.audience = audience
        self._jwks = jwks
        self._algorithms = algorithms
        self._leeway = leeway_seconds
        self._max_lifetime = max_lifetime_seconds
        self._trust_domain = trust_domain

    def verify(self, token: str) -> Caller:
        header = self._check_form_and_header(token)
        key = self._jwks.get(header["kid"])
        if key is None:
            raise TokenRefused("ERR_TOKEN_KID_UNKNOWN")
        if key.alg != header["alg"]:  # no algorithm confusion: a key verifies one algorithm
            raise TokenRefused("ERR_TOKEN_ALG", "header alg differs from the key alg")
        claims = self._decode(token, key.jwk, header["alg"])
        return self._caller(claims)

    def _check_form_and_header(self, token: str) -> Dict[str, str]:
        if not isinstance(token, str) or token == "":
            raise TokenRefused("ERR_TOKEN_MALFORMED", "empty")
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenRefused("ERR_TOKEN_TOO_LARGE")
        segments = token.split(".")
        if len(segments) != 3:
            raise TokenRefused("ERR_TOKEN_MALFORMED", "not three segments")
        header = _decode_header(_b64url_strict(segments[0]))
        _b64url_strict(segments[1])
        _b64url_strict(segments[2])
        if any(name not in _ALLOWED_HEADER for name in header):
            # jku, x5u, jwk, x5c, crit, b64, zip... would let the token pick its key or processing.
            raise TokenRefused("ERR_TOKEN_HEADER", "forbidden or unknown header parameter")
        if header.get("alg") not in self._algorithms:
            raise TokenRefused("ERR_TOKEN_ALG", "only ES256 and EdDSA are allowed")
        typ = header.get("typ")
        # RFC 7515 §4.1.9: media types are case-insensitive and "application/" may be omitted.
        normalised = typ.lower().removeprefix("application/") if isinstance(typ, str) else None
        if normalised != ACCESS_TOKEN_TYP:
            raise TokenRefused("ERR_TOKEN_TYP")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid == "" or len(kid) > 256:
            raise TokenRefused("ERR_TOKEN_KID_MISSING")
        return {"alg": header["alg"], "kid": kid}

    def _decode(self, token: str, key: jwt.PyJWK, alg: str) -> Dict[str, object]:
        try:
            return jwt.decode(
                token,
                key.key,
                algorithms=[alg],  # the header's, already allowed and equal to the key's
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._leeway,
                options={
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_nbf": True,
                    # Checked below, after nbf, in @tessera/core's order (PyJWT checks iat first).
                    "verify_iat": False,
                    "verify_aud": True,
                    "verify_iss": True,
                    "require": ["exp", "iat", "iss", "aud", "sub", "jti"],
                },
            )
        except jwt.InvalidSignatureError:
            raise TokenRefused("ERR_TOKEN_SIGNATURE") from None
        except jwt.ExpiredSignatureError:
            raise TokenRefused("ERR_TOKEN_EXPIRED") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("ERR_TOKEN_NOT_YET_VALID") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("ERR_TOKEN_AUDIENCE") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("ERR_TOKEN_ISSUER") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRefused("ERR_TOKEN_ALG") from None
        except jwt.DecodeError as error:
            raise TokenRefused("ERR_TOKEN_MALFORMED", str(error)) from None
        except (jwt.PyJWTError, TypeError, ValueError) as error:
            # Missing or malformed claims: PyJWT 2.6 lets a TypeError out of `int(iat)` for a
            # non-numeric `iat`/`exp` such as a list, after the signature was verified.
            raise TokenRefused("ERR_TOKEN_CLAIMS", type(error).__name__) from None

    def _caller(self, claims: Dict[str, object]) -> Caller:
        # PyJWT checked the signature, iss, aud (one of), nbf and exp; Tessera's stricter rules
        # follow, in @tessera/core's order.
        if claims.get("iss") != self.issuer:
            raise TokenRefused("ERR_TOKEN_ISSUER")
        aud = claims.get("aud")
        single = aud[0] if isinstance(aud, list) and len(aud) == 1 else aud
        if single != self.audience:  # exactly this service, not "one of several"
            raise TokenRefused("ERR_TOKEN_AUDIENCE", "more than one audience")
        exp = _numeric_date(claims, "exp", True) or 0
        iat = _numeric_date(claims, "iat", True) or 0
        nbf = _numeric_date(claims, "nbf", False)
        now = time.time()  # the clock PyJWT used for exp and nbf
        if now >= exp + self._leeway:
            raise TokenRefused("ERR_TOKEN_EXPIRED")
        if nbf is not None and now + self._leeway < nbf:
            raise TokenRefused("ERR_TOKEN_NOT_YET_VALID")
        if iat > now + self._leeway:
            raise TokenRefused("ERR_TOKEN_ISSUED_IN_FUTURE")
        if exp <= iat:
            raise TokenRefused("ERR_TOKEN_CLAIMS", '"exp" is not after "iat"')
        if exp - iat > self._max_lifetime:
            raise TokenRefused("ERR_TOKEN_LIFETIME")
        jti = _required_string(claims, "jti", 256)
        sub = _required_string(claims, "sub", 2048)
        client_id = _required_string(claims, "client_id", 2048)
        scopes = _parse_scope(claims.get("scope"))
        tenant = claims.get("tenant_id")
        if tenant is not None and not (isinstance(tenant, str) and 0 < len(tenant) <= 256):
            raise TokenRefused("ERR_TOKEN_CLAIMS", '"tenant_id" must be a non-empty string')
        if "cnf" in claims:
            # RFC 8705: a certificate-bound token is valid only with the client certificate it is
            # bound to, which this dependency does not see. Refuse rather than accept it unbound.
            raise TokenRefused("ERR_TOKEN_BINDING", "certificate-bound tokens are not supported")
        common = dict(
            scopes=scopes,
            jti=jti,
            issuer=self.issuer,
            issued_at=int(iat),
            expires_at=int(exp),
            tenant=tenant,
        )
        act = claims.get("act")
        if act is None:
            try:
                spiffe_id = parse_workload_id(sub, self._trust_domain)
            except ValueError:
                raise TokenRefused("ERR_TOKEN_SUBJECT", "not a workload SPIFFE ID") from None
            if client_id != spiffe_id:
                raise TokenRefused("ERR_TOKEN_SUBJECT", '"client_id" differs from "sub"')
            return Caller(kind="service", spiffe_id=spiffe_id, **common)
        actors = _actor_chain(act, self._trust_domain)
        if not actors or client_id != actors[0]:
            raise TokenRefused("ERR_TOKEN_SUBJECT", '"client_id" differs from "act.sub"')
        user_issuer = claims.get("user_iss")
        return Caller(
            kind="delegated",
            spiffe_id=actors[0],
            user=sub,
            user_issuer=user_issuer if isinstance(user_issuer, str) else None,
            actors=actors,
            **common,
        )
