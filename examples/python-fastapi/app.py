"""A demo billing service protected by Tessera tokens, verified with PyJWT.

Configuration from the environment:
    TESSERA_ISSUER        the authority's issuer, e.g. http://127.0.0.1:7700
    TESSERA_JWKS_URI      the authority's jwks_uri (its metadata document names it)
    TESSERA_AUDIENCE      this service's SPIFFE ID, e.g. spiffe://tessera.local/billing
    TESSERA_TRUST_DOMAIN  optional: every SPIFFE ID in a token must be in it

Run it with uvicorn (`/usr/bin/python3 -m uvicorn --factory app:create_app`), or `app.py --port 0`,
which listens on a free loopback port and prints `listening on http://127.0.0.1:PORT`.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from dataclasses import asdict

from fastapi import Depends, FastAPI, Request

from tessera_fastapi import (
    DEFAULT_SPOOFABLE_HEADERS,
    Caller,
    RemoteJwks,
    TesseraAuth,
    TesseraVerifier,
)


def create_app() -> FastAPI:
    issuer = os.environ["TESSERA_ISSUER"]
    verifier = TesseraVerifier(
        issuer=issuer,
        audience=os.environ["TESSERA_AUDIENCE"],
        jwks=RemoteJwks(os.environ["TESSERA_JWKS_URI"], timeout_seconds=2.0),
        trust_domain=os.environ.get("TESSERA_TRUST_DOMAIN") or None,
    )
    auth = TesseraAuth(verifier)
    app = FastAPI(title="billing (Tessera, PyJWT)", docs_url=None, redoc_url=None, openapi_url=None)
    auth.install(app)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.get("/whoami")
    def whoami(request: Request, caller: Caller = Depends(auth.require_caller())) -> dict:
        # The middleware removed these before any route saw them: always an empty list here.
        seen = [name for name in DEFAULT_SPOOFABLE_HEADERS if name in request.headers]
        return {"caller": asdict(caller), "spoofable_headers_seen": seen}

    @app.get("/invoices")
    def invoices(caller: Caller = Depends(auth.require_caller("invoices:read"))) -> dict:
        # A delegated caller sees only its user's tenant; a service caller, whatever it asks for.
        return {"tenant": caller.tenant, "for": caller.user or caller.spiffe_id, "invoices": []}

    return app


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    import uvicorn

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(), log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    print(f"listening on http://{args.host}:{port}", flush=True)
    server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
