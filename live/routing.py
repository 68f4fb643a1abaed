"""Which store answers a given read: the active one, or the database for the canary.

Canary: requests carrying the canary header value read from the database, and so does a given
percentage of the rest. A client's bucket is a hash of a stable key (a cookie this app sets, else
the client address) onto 0-100: a client is in the canary when its bucket is below the
percentage, so it stays there while the percentage only rises.
"""

from __future__ import annotations

import hashlib

from live.runtime import State
from migrator.models import Backend

CLIENT_COOKIE = "catalog_client"
# Long enough to keep a client in its bucket through a canary phase, short enough to go away
# soon after: it is set only while a canary with a percentage is on.
COOKIE_AGE = 24 * 3600


def cookie_wanted(state: State) -> bool:
    """Whether responses should carry the client cookie: only a percentage canary needs it."""
    return state.canary_enabled and state.canary_percent > 0 and state.active != Backend.DATABASE


def bucket(key: str) -> float:
    """A client's fixed place in [0, 100), to two decimals."""
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 / 100


def client_key(request) -> tuple[str, str | None]:
    """The stable key of the client, and the cookie to set when it had none.

    Without the cookie the key is derived from the client address, and the cookie set to that
    same key: a client that keeps cookies stays in the bucket its first request fell in, and one
    that does not (curl, API clients) stays in its address's bucket.
    """
    cookie = request.COOKIES.get(CLIENT_COOKIE)
    if cookie:
        return cookie, None
    address = request.META.get("REMOTE_ADDR", "") or "unknown"
    key = hashlib.sha256(f"client:{address}".encode()).hexdigest()[:22]
    return key, key


def route(request, state: State) -> tuple[str, str | None]:
    """``(store name, cookie to set or None)`` for this read."""
    key, new_cookie = client_key(request)
    if state.canary_enabled and state.active != Backend.DATABASE:
        header = request.headers.get(state.canary_header, "")
        if header and header == state.canary_value:
            return Backend.DATABASE, new_cookie
        if bucket(key) < state.canary_percent:
            return Backend.DATABASE, new_cookie
    return state.active, new_cookie
