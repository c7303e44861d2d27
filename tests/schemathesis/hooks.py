"""Schemathesis hooks for the emulator: every request carries its own token.

The emulator, like the service, wants a JWT whose `aud` is the URL of the request (scheme,
host and path), signed HS256 with the access key, as Microsoft's server SDK signs them. The
key and the emulator's address come from the environment (ASRS_ACCESS_KEY, ASRS_BASE_URL).
"""

import base64
import hashlib
import hmac
import json
import os
import time

import schemathesis

KEY = os.environ["ASRS_ACCESS_KEY"].encode()
BASE = os.environ["ASRS_BASE_URL"].rstrip("/")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(audience: str) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    now = int(time.time())
    claims = _b64(json.dumps({"aud": audience, "iat": now, "exp": now + 3600}).encode())
    signing_input = f"{header}.{claims}".encode()
    signature = hmac.new(KEY, signing_input, hashlib.sha256).digest()
    return f"{header}.{claims}.{_b64(signature)}"


# No caching: the audience differs with every path.
@schemathesis.auth(refresh_interval=None)
class PerRequestToken:
    def get(self, case, context):
        return None

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = "Bearer " + sign(BASE + case.formatted_path)
