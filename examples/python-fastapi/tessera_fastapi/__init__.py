"""Verify Tessera access tokens in a FastAPI service with PyJWT (see ../README.md)."""

from .dependency import DEFAULT_SPOOFABLE_HEADERS, StripSpoofableHeaders, TesseraAuth
from .verify import Caller, RemoteJwks, TesseraVerifier, TokenRefused, parse_workload_id

__all__ = [
    "DEFAULT_SPOOFABLE_HEADERS",
    "Caller",
    "RemoteJwks",
    "StripSpoofableHeaders",
    "TesseraAuth",
    "TesseraVerifier",
    "TokenRefused",
    "parse_workload_id",
]
