"""API keys and webhook signing secrets: how they are made and how keys are stored.

An API key is random text shown once; only its SHA-256 is stored, so a database leak does
not leak working keys. A signing secret must be stored as is: the server needs it to
recompute the HMAC of each delivery.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

API_KEY_PREFIX = "mk_live_"
DISPLAY_PREFIX_LENGTH = len(API_KEY_PREFIX) + 6
SIGNING_SECRET_PREFIX = "whsec_"


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """Enough of the key to recognise it in a list, far too little to use it."""
    return key[:DISPLAY_PREFIX_LENGTH]


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return SIGNING_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
