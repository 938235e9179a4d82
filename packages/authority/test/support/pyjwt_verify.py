"""Verifies one access token with PyJWT against a JWKS, as a Python resource server would.

Run by packages/authority/test/token-exchange-pyjwt.test.ts with /usr/bin/python3 (Debian's
python3-jwt and python3-cryptography):

    /usr/bin/python3 pyjwt_verify.py JWKS_URI ISSUER AUDIENCE ALGORITHM < token

The token is read from stdin. The keys come from PyJWKClient (the JWKS fetched over loopback,
no proxy), the key picked by the token's `kid`; `jwt.decode` then checks the signature with
ALGORITHM only, `iss`, `aud`, `exp`, `nbf` and `iat`, and requires `exp`, `iat`, `iss`, `aud`,
`sub` and `jti`.

Prints one JSON object on stdout and exits 0 when the token is verified:
    {"ok": true, "pyjwt": VERSION, "header": {...}, "claims": {...}}
or exits 1 when PyJWT refuses it:
    {"ok": false, "pyjwt": VERSION, "error": EXCEPTION_CLASS_NAME, "detail": MESSAGE}
Anything else (bad arguments, PyJWT not importable) exits 2 with a message on stderr.
"""

import json
import sys
import urllib.request

try:
    import jwt
except ImportError as error:  # the test decides whether that is a skip or a failure
    print(f"cannot import PyJWT: {error}", file=sys.stderr)
    sys.exit(2)

LOOPBACK = ("http://127.0.0.1:", "http://[::1]:")


def main() -> int:
    if len(sys.argv) != 5:
        print("usage: pyjwt_verify.py JWKS_URI ISSUER AUDIENCE ALGORITHM < token", file=sys.stderr)
        return 2
    jwks_uri, issuer, audience, algorithm = sys.argv[1:]
    if not jwks_uri.startswith(LOOPBACK):
        print("the JWKS must be on a loopback address", file=sys.stderr)
        return 2
    # PyJWKClient fetches with urllib.request.urlopen: no proxy from the environment, ever.
    urllib.request.install_opener(urllib.request.build_opener(urllib.request.ProxyHandler({})))
    token = sys.stdin.read().strip()
    try:
        signing_key = jwt.PyJWKClient(jwks_uri, cache_jwk_set=False).get_signing_key_from_jwt(
            token
        )
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options={
                "verify_signature": True,
                "verify_exp": True,
                "verify_nbf": True,
                "verify_iat": True,
                "verify_aud": True,
                "verify_iss": True,
                "require": ["exp", "iat", "iss", "aud", "sub", "jti"],
            },
        )
        header = jwt.get_unverified_header(token)  # read only after the signature checked out
    except (jwt.PyJWTError, ValueError) as error:
        result = {
            "ok": False,
            "pyjwt": jwt.__version__,
            "error": type(error).__name__,
            "detail": str(error),
        }
        print(json.dumps(result))
        return 1
    print(json.dumps({"ok": True, "pyjwt": jwt.__version__, "header": header, "claims": claims}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
