"""PKCE (RFC 7636): a one-time secret that binds an authorization code to whoever asked for it.

The authorize URL carries ``code_challenge`` (the SHA-256 of a fresh ``code_verifier``,
base64url without padding) with ``code_challenge_method=S256``; the token exchange carries
the verifier itself. A code intercepted on its way back through the browser (a hostile app on
the redirect port, a leaked address in a log or history) is worthless without the verifier,
which never leaves this process.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

METHOD = "S256"


def new_code_verifier() -> str:
    """64 random bytes as base64url: 86 characters of ``[A-Za-z0-9_-]`` (RFC 7636 allows
    43 to 128 of the unreserved characters)."""
    return secrets.token_urlsafe(64)


def code_challenge(verifier: str) -> str:
    """``BASE64URL(SHA256(ASCII(verifier)))`` without ``=`` padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
