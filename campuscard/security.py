"""Small guards between hostile input and third-party code."""

from __future__ import annotations

from django.conf import settings

# django-axes stores the username of every failed login in a varchar(255), but Django's login
# form does not enforce the username's max_length before authenticate(): a 300-character name
# made every login page answer 500 (DataError) instead of "wrong username or password".
AXES_USERNAME_MAX = 255


def axes_username(request, credentials: dict | None = None) -> str | None:
    """The username django-axes records and locks on, cut to what its table holds."""
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")
    if credentials:
        username = credentials.get(field)
    else:
        username = getattr(request, "data", request.POST).get(field)
    return username[:AXES_USERNAME_MAX] if isinstance(username, str) else username
