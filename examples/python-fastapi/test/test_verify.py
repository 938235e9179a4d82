"""Unit tests of tessera_fastapi.verify: the claim rules a real authority never breaks.

A real authority signs only well-formed tokens, so the rules about claims (audience lists, actor
chains, client_id, lifetime, scope syntax, cnf) are checked here with tokens signed by local keys,
and RemoteJwks against a loopback JWKS server. Run by test/fastapi-pyjwt.test.ts:

    cd examples/python-fastapi && /usr/bin/python3 -m unittest discover -s test -v
"""

from __future__ import annotations

import base64
import json
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from tessera_fastapi import RemoteJwks, TesseraVerifier, TokenRefused
from tessera_fastapi.verify import MAX_ACTOR_CHAIN, JwksKey

ISSUER = "http://127.0.0.1:7700"
TD = "spiffe://tessera.local"
BILLING = f"{TD}/billing"
EVENTS = f"{TD}/event-service"
GATEWAY = f"{TD}/gateway"
EVIL = "spiffe://evil.example"
HEADER = {"kid": "es-1", "typ": "at+jwt"}

ES_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()


def public_jwk(private, alg: str, kid: str) -> Dict[str, object]:
    algorithm = jwt.get_algorithm_by_name(alg)
    jwk = json.loads(algorithm.to_jwk(private.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


class StaticKeys:
    """The verifier's key source, without HTTP."""

    def __init__(self, *keys: Dict[str, object]) -> None:
        self._keys = {k["kid"]: JwksKey(k["alg"], jwt.PyJWK(k, k["alg"])) for k in keys}

    def get(self, kid: str) -> Optional[JwksKey]:
        return self._keys.get(kid)


KEYS = StaticKeys(public_jwk(ES_KEY, "ES256", "es-1"), public_jwk(ED_KEY, "EdDSA", "ed-1"))


def sign(
    claims: Dict[str, object],
    *,
    drop: tuple = (),
    alg: str = "ES256",
    kid: str = "es-1",
    typ: str = "at+jwt",
) -> str:
    now = int(time.time())
    payload = {
        "iss": ISSUER,
        "aud": BILLING,
        "sub": EVENTS,
        "client_id": EVENTS,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": "jti-1",
        "scope": "invoices:read",
        **claims,
    }
    for name in drop:
        payload.pop(name)
    key = ES_KEY if alg == "ES256" else ED_KEY
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": typ})


def verifier(**options) -> TesseraVerifier:
    return TesseraVerifier(
        issuer=ISSUER, audience=BILLING, jwks=KEYS, trust_domain="tessera.local", **options
    )


def chain(depth: int) -> Dict[str, object]:
    link: Dict[str, object] = {"sub": f"{TD}/hop-{depth}"}
    for hop in range(depth - 1, 0, -1):
        link = {"sub": f"{TD}/hop-{hop}", "act": link}
    return link


NOW = int(time.time())

# Correctly signed tokens that Tessera's verifier refuses, each with its reason.
REFUSED = [
    (
        "two audiences, this one among them",
        sign({"aud": [BILLING, f"{TD}/ledger"]}),
        "ERR_TOKEN_AUDIENCE",
    ),
    ("another audience", sign({"aud": f"{TD}/ledger"}), "ERR_TOKEN_AUDIENCE"),
    ("another issuer", sign({"iss": "http://127.0.0.1:1"}), "ERR_TOKEN_ISSUER"),
    (
        "sub not a SPIFFE ID",
        sign({"sub": "event-service", "client_id": "event-service"}),
        "ERR_TOKEN_SUBJECT",
    ),
    ("sub is a trust domain", sign({"sub": TD, "client_id": TD}), "ERR_TOKEN_SUBJECT"),
    (
        "sub in another trust domain",
        sign({"sub": f"{EVIL}/event-service", "client_id": f"{EVIL}/event-service"}),
        "ERR_TOKEN_SUBJECT",
    ),
    (
        "sub with a dot-dot segment",
        sign({"sub": f"{TD}/a/../b", "client_id": f"{TD}/a/../b"}),
        "ERR_TOKEN_SUBJECT",
    ),
    ("client_id differs from sub", sign({"client_id": GATEWAY}), "ERR_TOKEN_SUBJECT"),
    ("client_id missing", sign({}, drop=("client_id",)), "ERR_TOKEN_CLAIMS"),
    ("jti missing", sign({}, drop=("jti",)), "ERR_TOKEN_CLAIMS"),
    ("exp missing", sign({}, drop=("exp",)), "ERR_TOKEN_CLAIMS"),
    ("iat missing", sign({}, drop=("iat",)), "ERR_TOKEN_CLAIMS"),
    ("iat is a list", sign({"iat": [NOW]}), "ERR_TOKEN_CLAIMS"),
    ("exp is a numeric string", sign({"exp": str(NOW + 300)}), "ERR_TOKEN_CLAIMS"),
    ("exp is true (PyJWT reads 1970)", sign({"exp": True}), "ERR_TOKEN_EXPIRED"),
    (
        "expired beyond the 5 s leeway",
        sign({"iat": NOW - 300, "nbf": NOW - 300, "exp": NOW - 6}),
        "ERR_TOKEN_EXPIRED",
    ),
    ("nbf beyond the leeway", sign({"nbf": NOW + 60}), "ERR_TOKEN_NOT_YET_VALID"),
    (
        "iat in the future, no nbf",
        sign({"iat": NOW + 60, "exp": NOW + 360}, drop=("nbf",)),
        "ERR_TOKEN_ISSUED_IN_FUTURE",
    ),
    ("exp not after iat", sign({"iat": NOW, "exp": NOW}), "ERR_TOKEN_CLAIMS"),
    ("lifetime over 3600 s", sign({"iat": NOW, "exp": NOW + 3601}), "ERR_TOKEN_LIFETIME"),
    ("scope with two spaces", sign({"scope": "invoices:read  reports:read"}), "ERR_TOKEN_CLAIMS"),
    ("scope repeating a token", sign({"scope": "invoices:read invoices:read"}), "ERR_TOKEN_CLAIMS"),
    ("scope with a quote", sign({"scope": 'invoices:"read'}), "ERR_TOKEN_CLAIMS"),
    ("scope as a list", sign({"scope": ["invoices:read"]}), "ERR_TOKEN_CLAIMS"),
    ("tenant_id empty", sign({"tenant_id": ""}), "ERR_TOKEN_CLAIMS"),
    ("tenant_id a number", sign({"tenant_id": 7}), "ERR_TOKEN_CLAIMS"),
    ("certificate-bound (cnf)", sign({"cnf": {"x5t#S256": "abc"}}), "ERR_TOKEN_BINDING"),
    ("act not an object", sign({"sub": "alice", "act": EVENTS}), "ERR_TOKEN_ACT"),
    ("act without sub", sign({"sub": "alice", "act": {"act": {"sub": GATEWAY}}}), "ERR_TOKEN_ACT"),
    (
        "an actor not a SPIFFE ID",
        sign({"sub": "alice", "act": {"sub": EVENTS, "act": {"sub": "gateway"}}}),
        "ERR_TOKEN_ACT",
    ),
    (
        f"an actor chain deeper than {MAX_ACTOR_CHAIN}",
        sign({"sub": "alice", "client_id": f"{TD}/hop-1", "act": chain(MAX_ACTOR_CHAIN + 1)}),
        "ERR_TOKEN_ACT",
    ),
    (
        "client_id differs from act.sub",
        sign({"sub": "alice", "client_id": GATEWAY, "act": {"sub": EVENTS}}),
        "ERR_TOKEN_SUBJECT",
    ),
    ("typ JWT", sign({}, typ="JWT"), "ERR_TOKEN_TYP"),
    ("typ at+jwt with a suffix", sign({}, typ="at+jwt; x=1"), "ERR_TOKEN_TYP"),
    ("ES256 header with the EdDSA key's kid", sign({}, kid="ed-1"), "ERR_TOKEN_ALG"),
    (
        "HS256 with any secret",
        jwt.encode({"sub": EVENTS}, "secret", algorithm="HS256", headers=HEADER),
        "ERR_TOKEN_ALG",
    ),
    (
        "a header with x5c",
        jwt.encode({"sub": EVENTS}, ES_KEY, algorithm="ES256", headers={**HEADER, "x5c": ["MIIB"]}),
        "ERR_TOKEN_HEADER",
    ),
    ("a non-string token", None, "ERR_TOKEN_MALFORMED"),
    (
        "a header nested 6000 arrays deep",
        base64.urlsafe_b64encode(b"[" * 6000).rstrip(b"=").decode() + ".e30.AAAA",
        "ERR_TOKEN_MALFORMED",
    ),
    ("four segments", sign({}) + ".e30", "ERR_TOKEN_MALFORMED"),
    (
        "a segment with a character outside base64url",
        sign({}).replace(".", ".+", 1),
        "ERR_TOKEN_MALFORMED",
    ),
]


class ClaimRules(unittest.TestCase):
    def test_accepts_a_service_token(self) -> None:
        caller = verifier().verify(sign({"tenant_id": "acme"}))
        self.assertEqual(caller.kind, "service")
        self.assertEqual(caller.spiffe_id, EVENTS)
        self.assertEqual(caller.scopes, ("invoices:read",))
        self.assertEqual(caller.tenant, "acme")
        self.assertIsNone(caller.user)

    def test_accepts_an_eddsa_token(self) -> None:
        self.assertEqual(verifier().verify(sign({}, alg="EdDSA", kid="ed-1")).spiffe_id, EVENTS)

    def test_refuses_eddsa_when_only_es256_is_allowed(self) -> None:
        with self.assertRaises(TokenRefused) as refused:
            verifier(algorithms=("ES256",)).verify(sign({}, alg="EdDSA", kid="ed-1"))
        self.assertEqual(refused.exception.reason, "ERR_TOKEN_ALG")

    def test_accepts_what_tessera_accepts(self) -> None:
        accepted = [
            ("a one-element audience list", sign({"aud": [BILLING]})),
            ("typ in capitals with application/", sign({}, typ="application/AT+JWT")),
            ("expired within the 5 s leeway", sign({"iat": NOW - 300, "exp": NOW - 3})),
            ("a lifetime of exactly 3600 s", sign({"iat": NOW, "exp": NOW + 3600})),
            ("no scope", sign({}, drop=("scope",))),
            ("an empty scope", sign({"scope": ""})),
            ("no nbf", sign({}, drop=("nbf",))),
        ]
        for name, token in accepted:
            with self.subTest(name):
                verifier().verify(token)

    def test_reads_a_delegated_token(self) -> None:
        token = sign(
            {
                "sub": "alice",
                "user_iss": "http://127.0.0.1:7710",
                "tenant_id": "acme",
                "act": {"sub": EVENTS, "act": {"sub": GATEWAY}},
            }
        )
        caller = verifier().verify(token)
        self.assertEqual(caller.kind, "delegated")
        self.assertEqual(caller.spiffe_id, EVENTS)
        self.assertEqual(caller.user, "alice")
        self.assertEqual(caller.user_issuer, "http://127.0.0.1:7710")
        self.assertEqual(caller.actors, (EVENTS, GATEWAY))

    def test_accepts_an_actor_chain_of_the_maximum_depth(self) -> None:
        token = sign({"sub": "alice", "client_id": f"{TD}/hop-1", "act": chain(MAX_ACTOR_CHAIN)})
        self.assertEqual(len(verifier().verify(token).actors), MAX_ACTOR_CHAIN)

    def test_refuses_what_tessera_refuses(self) -> None:
        for name, token, reason in REFUSED:
            with self.subTest(name):
                with self.assertRaises(TokenRefused) as refused:
                    verifier().verify(token)
                self.assertEqual(refused.exception.reason, reason)

    def test_refuses_bad_configuration(self) -> None:
        bad = [
            {"issuer": "", "audience": BILLING},
            {"issuer": ISSUER, "audience": "billing"},
            {"issuer": ISSUER, "audience": BILLING, "algorithms": ("HS256",)},
            {"issuer": ISSUER, "audience": BILLING, "algorithms": ()},
            {"issuer": ISSUER, "audience": BILLING, "leeway_seconds": 31},
            {"issuer": ISSUER, "audience": BILLING, "max_lifetime_seconds": 3601},
        ]
        for options in bad:
            with self.subTest(options):
                with self.assertRaises(ValueError):
                    TesseraVerifier(jwks=KEYS, **options)


class JwksServer:
    """A loopback JWKS endpoint counting its requests; `delay` stalls every answer."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.delay = 0.0
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests += 1
                time.sleep(server.delay)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *_args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, *_args) -> None:
                pass  # a client that timed out closed the connection: expected here

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def jwks_body(keys: List[Dict[str, object]]) -> bytes:
    return json.dumps({"keys": keys}).encode()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RemoteJwksRules(unittest.TestCase):
    def setUp(self) -> None:
        self.es = public_jwk(ES_KEY, "ES256", "es-1")
        self.server = JwksServer(jwks_body([self.es]))
        self.clock = FakeClock()
        self.jwks = RemoteJwks(self.server.url, clock=self.clock, timeout_seconds=0.5)

    def tearDown(self) -> None:
        self.server.close()

    def test_fetches_once_and_serves_known_kids_from_the_cache(self) -> None:
        for _ in range(5):
            self.assertEqual(self.jwks.get("es-1").alg, "ES256")
        self.assertEqual(self.server.requests, 1)

    def test_an_unknown_kid_refetches_at_most_once_per_cooldown(self) -> None:
        self.jwks.get("es-1")
        for index in range(20):
            self.assertIsNone(self.jwks.get(f"forged-{index}"))
        self.assertEqual(self.server.requests, 1)  # the first fetch was under 30 s ago
        self.clock.now += 31
        ed = public_jwk(ED_KEY, "EdDSA", "ed-1")
        self.server.body = jwks_body([self.es, ed])  # the authority rotated
        self.assertEqual(self.jwks.get("ed-1").alg, "EdDSA")
        self.assertEqual(self.server.requests, 2)

    def test_refreshes_after_the_refresh_interval(self) -> None:
        self.jwks.get("es-1")
        self.clock.now += 301
        self.server.body = jwks_body([])  # the key was withdrawn
        self.assertIsNone(self.jwks.get("es-1"))
        self.assertEqual(self.server.requests, 2)

    def test_a_stalled_authority_costs_one_bounded_wait_and_keeps_the_cached_keys(self) -> None:
        self.jwks.get("es-1")
        # The answer would withdraw the key, but it comes after 2 s and the timeout is 0.5 s: the
        # refresh fails and the cached key stays in use. Without the timeout, get() would wait
        # for the answer and return None.
        self.server.body = jwks_body([])
        self.server.delay = 2.0
        self.clock.now += 301
        self.assertIsNotNone(self.jwks.get("es-1"))
        self.clock.now += 24 * 3600
        self.server.delay = 0.0
        self.server.body = b"not json"
        self.assertIsNone(self.jwks.get("es-1"))  # stale beyond 24 h: fail closed

    def test_keeps_only_keys_tessera_would_use(self) -> None:
        ignored = [
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
            {**public_jwk(ES_KEY, "ES256", "no-alg"), "alg": None},
            {**public_jwk(ES_KEY, "ES256", "enc"), "use": "enc"},
            {**public_jwk(ED_KEY, "EdDSA", "ed-as-es"), "alg": "ES256"},
            {**self.es, "kid": None},
            {**public_jwk(ES_KEY, "ES256", "private"), "d": "AAAA"},
        ]
        self.server.body = jwks_body([self.es, *ignored])
        self.assertIsNotNone(self.jwks.get("es-1"))
        for key in ("hmac", "no-alg", "enc", "ed-as-es", "private"):
            self.clock.now += 31
            self.assertIsNone(self.jwks.get(key), key)

    def test_refuses_an_oversized_jwks(self) -> None:
        self.server.body = jwks_body([self.es] + [{"kid": "x" * 1000, "kty": "EC"}] * 80)
        self.assertIsNone(self.jwks.get("es-1"))


if __name__ == "__main__":
    unittest.main()
