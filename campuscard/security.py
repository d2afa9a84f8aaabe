"""Small guards between hostile input and third-party code."""

from __future__ import annotations

import ipaddress

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


def _in_networks(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(request) -> str:
    """The address a login lockout counts against (django-axes, AXES_CLIENT_IP_CALLABLE).

    Behind a reverse proxy every request comes from the proxy's address: locking that address
    locked every staff and merchant login. The client's address is read from the proxy's header
    (settings.TRUSTED_PROXY_HEADER, e.g. X-Forwarded-For) only when the request came from a
    trusted proxy (settings.TRUSTED_PROXIES), and then as the right-most address in it that is not
    itself a trusted proxy: what our proxy appended, not what the client wrote in front of it. A
    client cannot choose its address to escape the lock by sending the header itself.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    header = getattr(settings, "TRUSTED_PROXY_HEADER", "")
    proxies = getattr(settings, "TRUSTED_PROXY_NETWORKS", ())
    if not header or not _in_networks(remote, proxies):
        return remote
    key = "HTTP_" + header.upper().replace("-", "_")
    for hop in reversed(str(request.META.get(key, "")).split(",")[-20:]):
        try:
            hop = str(ipaddress.ip_address(hop.strip()))
        except ValueError:
            break  # junk in the chain: trust nothing left of it
        if not _in_networks(hop, proxies):
            return hop
    return remote
