"""Idle session expiry without a database write on every request."""

from __future__ import annotations

import time

# How often a signed-in user's session expiry is pushed on. Saving the session on every request
# (SESSION_SAVE_EVERY_REQUEST) cost a write per page; a minute of slack on an 8-hour idle limit
# costs nothing.
TOUCH_EVERY_S = 60


class IdleSessionMiddleware:
    """Mark a non-empty session modified at most once a minute, so SessionMiddleware saves it and
    its expiry moves to now + SESSION_COOKIE_AGE: that age is then an idle limit. Listed right
    after SessionMiddleware, so it runs before the session is saved on the way out."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and not session.is_empty():
            now = int(time.time())
            if now - session.get("_touched", 0) >= TOUCH_EVERY_S:
                session["_touched"] = now
        return response
