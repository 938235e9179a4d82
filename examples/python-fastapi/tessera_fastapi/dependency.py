"""FastAPI glue: a dependency that authenticates the caller with a `TesseraVerifier`.

    auth = TesseraAuth(verifier)
    auth.install(app)  # strips spoofable identity headers; Tessera-shaped error bodies

    @app.get("/invoices")
    def invoices(caller: Caller = Depends(auth.require_caller("invoices:read"))): ...

Every refusal carries the same generic body per status; the specific reason (a Tessera error
code) goes to the `tessera_fastapi` logger only.
"""

from __future__ import annotations

import logging
import re
from typing import Callable, Iterable, Optional, Tuple

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from .verify import Caller, TesseraVerifier, TokenRefused

# Headers that, in the audited platform, were trusted to say who the caller is. Never again: they
# are removed before any route or dependency sees them. The same list as @tessera/fastify's
# DEFAULT_SPOOFABLE_HEADERS.
DEFAULT_SPOOFABLE_HEADERS: Tuple[str, ...] = (
    "x-gateway-internal",
    "x-internal-token",
    "x-internal-service",
    "x-user-id",
    "x-tenant-id",
    "x-service-id",
    "x-service-name",
    "x-forwarded-user",
    "x-authenticated-user",
)

# RFC 6750 §2.1: "Bearer" (case-insensitive), one or more spaces, a token68.
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

_PUBLIC_BODY = {
    400: {"code": "ERR_REQUEST_INVALID", "message": "bad request"},
    401: {"code": "ERR_UNAUTHENTICATED", "message": "unauthorized"},
    403: {"code": "ERR_POLICY_SCOPE", "message": "forbidden"},
}
_CHALLENGE = {
    "missing": 'Bearer realm="tessera"',  # RFC 6750 §3: no error when no credentials were sent
    401: 'Bearer realm="tessera", error="invalid_token"',
    403: 'Bearer realm="tessera", error="insufficient_scope"',
    400: 'Bearer realm="tessera", error="invalid_request"',
}

logger = logging.getLogger("tessera_fastapi")


class TesseraRefusal(HTTPException):
    """Raised by the dependency. Without `install()` FastAPI still answers with its status."""

    def __init__(self, status: int, challenge: str) -> None:
        super().__init__(
            status_code=status,
            detail=_PUBLIC_BODY[status]["message"],
            headers={"www-authenticate": challenge},
        )


class StripSpoofableHeaders:
    """ASGI middleware removing identity headers a client could set (e.g. x-gateway-internal)."""

    def __init__(self, app, headers: Iterable[str] = DEFAULT_SPOOFABLE_HEADERS) -> None:
        self.app = app
        self._names = frozenset(name.lower().encode("latin-1") for name in headers)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            kept = [(k, v) for (k, v) in scope["headers"] if k.lower() not in self._names]
            if len(kept) != len(scope["headers"]):
                scope = dict(scope, headers=kept)
        await self.app(scope, receive, send)


class TesseraAuth:
    """Authenticates requests with one verifier (one service: one issuer, one audience)."""

    def __init__(
        self,
        verifier: TesseraVerifier,
        *,
        spoofable_headers: Iterable[str] = DEFAULT_SPOOFABLE_HEADERS,
    ) -> None:
        self.verifier = verifier
        self.spoofable_headers = tuple(spoofable_headers)

    def install(self, app: FastAPI) -> None:
        """Adds the header-stripping middleware (outermost) and the refusal body handler."""
        app.add_middleware(StripSpoofableHeaders, headers=self.spoofable_headers)

        async def refusal(_request: Request, exc: TesseraRefusal) -> JSONResponse:
            return JSONResponse(
                _PUBLIC_BODY[exc.status_code], status_code=exc.status_code, headers=exc.headers
            )

        app.add_exception_handler(TesseraRefusal, refusal)

    def require_caller(self, *scopes: str) -> Callable[[Request], Caller]:
        """A dependency returning the verified `Caller`; 401 without a valid token, 403 when the
        token lacks one of `scopes`. Synchronous on purpose: FastAPI runs it in its thread pool,
        so a JWKS fetch never blocks the event loop."""
        required = tuple(scopes)

        def dependency(request: Request) -> Caller:
            caller = self._authenticate(request)
            missing = [scope for scope in required if scope not in caller.scopes]
            if missing:
                self._log(request, "ERR_POLICY_SCOPE", f"missing {' '.join(missing)}", caller)
                raise TesseraRefusal(403, _CHALLENGE[403])
            return caller

        return dependency

    def _authenticate(self, request: Request) -> Caller:
        if "access_token" in request.query_params:
            # RFC 6750 §2.3 tokens in URLs end up in logs and caches: refused, never read.
            self._log(request, "ERR_CREDENTIALS_LOCATION", "access_token in the query string")
            raise TesseraRefusal(401, _CHALLENGE[401])
        values = request.headers.getlist("authorization")
        if not values:
            self._log(request, "ERR_CREDENTIALS_MISSING")
            raise TesseraRefusal(401, _CHALLENGE["missing"])
        if len(values) > 1:
            self._log(request, "ERR_CREDENTIALS_DUPLICATE", "more than one Authorization header")
            raise TesseraRefusal(400, _CHALLENGE[400])
        match = _BEARER.fullmatch(values[0])
        if match is None:
            self._log(request, "ERR_CREDENTIALS_MISSING", "not a Bearer credential")
            raise TesseraRefusal(401, _CHALLENGE[401])
        try:
            caller = self.verifier.verify(match.group(1))
        except TokenRefused as refused:
            self._log(request, refused.reason, refused.detail)
            raise TesseraRefusal(401, _CHALLENGE[401]) from None
        return caller

    @staticmethod
    def _log(
        request: Request, reason: str, detail: str = "", caller: Optional[Caller] = None
    ) -> None:
        request_id = request.headers.get("x-request-id", "")
        logger.warning(
            "tessera refused request_id=%s method=%s path=%r reason=%s caller=%s detail=%s",
            request_id if _REQUEST_ID.fullmatch(request_id) else "-",
            request.method,
            request.url.path,
            reason,
            caller.spiffe_id if caller is not None else "-",
            detail or "-",
        )
