"""Signatures of the online payment channel's messages (WeChat Pay v2 style): HMAC-SHA256 over the
parameters sorted by name as k=v&…&key=<merchant key>, upper-case hex, in the field `sign`.
No Django imports: the host and the channel emulator share it."""

from __future__ import annotations

import hashlib
import hmac


def sign(params: dict, key: str) -> str:
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] not in ("", None))
    return hmac.new(key.encode(), f"{text}&key={key}".encode(), hashlib.sha256).hexdigest().upper()


def signed(params: dict, key: str) -> dict:
    return {**params, "sign": sign(params, key)}


def verify(params: dict, key: str) -> bool:
    given = params.get("sign")
    return isinstance(given, str) and hmac.compare_digest(given, sign(params, key))
