"""
Authentication: who is calling? Works on a ``RequestView``, never on a raw scope.

This package is the auth layer. It asks ``gateway.iam`` for keys and sessions and
never talks to the store itself.
"""

from __future__ import annotations

from gateway.auth.sigv4 import (
    accepted_canonical_uris,
    canonical_headers,
    canonical_query,
    canonical_request,
    canonical_uri,
    signature,
    signing_key,
    string_to_sign,
)
from gateway.auth.sigv4_parse import SignedRequest, parse_authorization
from gateway.auth.sigv4_sign import presign_url, sign_request
from gateway.auth.sigv4_verify import SignatureMismatch, SigningKeyCache, verify

__all__ = [
    "SignatureMismatch",
    "SignedRequest",
    "SigningKeyCache",
    "accepted_canonical_uris",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "parse_authorization",
    "presign_url",
    "sign_request",
    "signature",
    "signing_key",
    "string_to_sign",
    "verify",
]
