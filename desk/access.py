"""Who may use the desk, and which of its pages. The services check every permission again."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.views.decorators.cache import never_cache

# Any one of these opens the desk: card-centre staff and finance find holders, cashiers take
# cash, the intake clerk imports freshmen and staff.
DESK_PERMS = ("accounts.view_cardholder", "accounts.deposit_cash", "accounts.add_intake")


def may_use_desk(user) -> bool:
    return bool(user.is_active and user.is_staff and any(user.has_perm(p) for p in DESK_PERMS))


def desk_view(*perms: str):
    """A desk page: signed in (the admin's login page), staff with a desk permission, and every
    one of `perms`; never cached (a holder's page must not come back through Back after logout)."""

    def decorate(view):
        @wraps(view)
        @login_required(login_url="admin:login")
        @never_cache
        def wrapper(request, *args, **kwargs):
            if not may_use_desk(request.user) or not all(request.user.has_perm(p) for p in perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorate
