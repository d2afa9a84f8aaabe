"""Every URL the project serves, found from the URL resolver (so a new endpoint is covered the day
it is added), hit with junk: path parameters out of range or malformed, junk query strings and
form bodies, every HTTP method, as every kind of caller. None may answer 500, and none may move
money or create anything."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from .conftest import login, roles, snapshot

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999999"  # past bigint
JUNK_PARAMS = {
    "int": ["0", HUGE],
    "str": ["x" * 300, "%00", "..", "国%27%22<b>", "-1"],
    "path": ["0", HUGE, "abc", "1/../../etc", "国"],
    "slug": ["x" * 300],
}
JUNK_QUERY = ("?month=9999-99&start=2026-02-30&end=x&day=-1&page=-5&terminal=1e9&card=%E5%9B%BD&status=zz"
              "&by=year&number=%00&q=" + "%25" * 50 + "%00&o=99&p=abc&next=https://evil.example/&fmt=exe&e=1&all=1")
JUNK_BODY = {
    "number": "1" * 500, "password": "x" * 500, "amount": "-1e309", "amount_yuan": "NaN", "bank_ref": "=cmd|' /C calc'!A0" * 20,
    "reason": "'; DROP TABLE accounts_card; --", "comment": "\x00", "username": "a" * 300, "action": "zz",
    "month": "2026-13", "day": "0000-00-00", "base_amount": str(10**30), "quantity": "-3", "csrfmiddlewaretoken": "x",
}
_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def routes(admin: bool) -> list[str]:
    """Every route of the project (admin ones or the others), with `<conv:name>` placeholders."""
    out = []
    for route in _walk(get_resolver().url_patterns):
        if route.startswith("^") or "(?P<" in route:  # the admin's regex routes (app index, view on site)
            route = _regex_to_route(route)
            if route is None:
                continue
        if route.startswith("admin/") == admin:
            out.append(route)
    return sorted(set(out))


def _regex_to_route(route: str) -> str | None:
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<path:\1>", route)
    return None if re.search(r"[()\[\]\\*+?|]", route) else route


def concrete(route: str) -> list[str]:
    """The route with each placeholder replaced by each junk value of its converter."""
    params = _PARAM.findall(route)
    if not params:
        return ["/" + route]
    urls = []
    for conv, _name in params[:1]:
        for junk in JUNK_PARAMS.get(conv or "str", JUNK_PARAMS["str"]):
            url = route
            for c2, n2 in params:
                value = junk if (c2, n2) == (conv, _name) else JUNK_PARAMS.get(c2 or "str", ["x"])[0]
                url = url.replace(f"<{c2}:{n2}>" if c2 else f"<{n2}>", value, 1)
            urls.append("/" + url)
    return urls


def hit_everything(world, urls, who, methods=("get", "post", "put", "delete", "patch")):
    failures = []
    for name in who:
        user, token = roles(world)[name]
        for url in urls:
            for method in methods:
                client = login(user, token=token)  # fresh each time: a junk POST to logout must not leak
                call = getattr(client, method)
                if method == "get":
                    response = call(url + JUNK_QUERY)
                elif method == "post":
                    response = call(url + JUNK_QUERY, JUNK_BODY)
                else:
                    response = call(url, "junk=1&" * 20, content_type="application/x-www-form-urlencoded")
                if response.status_code >= 500 and not (url == "/health/" and response.status_code == 503):
                    failures.append((name, method.upper(), url, response.status_code))  # 503: no worker here
    return failures


def test_the_resolver_sees_every_front():
    """If a front moves, the smoke test below must still find it."""
    found = routes(admin=False)
    for prefix in ("kiosk/", "merchant/", "finance/", "api/v1/", "health/", "api/schema/"):
        assert any(r.startswith(prefix) for r in found), prefix


@pytest.mark.parametrize("who", ["anonymous", "merchant", "staff", "finance", "root", "api"])
def test_no_front_answers_500_to_junk_and_nothing_changes(world, who):
    urls = [u for r in routes(admin=False) for u in concrete(r)]
    before = snapshot()
    failures = hit_everything(world, urls, [who])
    assert failures == [], "\n".join(map(str, failures))
    assert snapshot() == before


def test_no_admin_page_answers_500_to_junk_ids_and_queries(world):
    """The super admin (who sees every page) GETs every admin route with junk ids and a junk
    query string; POSTs junk to every one of them. Form errors, 302, 400, 403, 404: never 500."""
    urls = [u for r in routes(admin=True) for u in concrete(r)]
    urls = [u for u in urls if "/logout/" not in u]
    before = snapshot()
    failures = hit_everything(world, urls, ["root"], methods=("get", "post"))
    assert failures == [], "\n".join(map(str, failures))
    assert snapshot() == before


def test_admin_changelists_take_junk_filters_as_staff(world):
    """Card-centre staff, who see fewer pages: each changelist with junk search, ordering, page and
    filters."""
    from django.contrib import admin

    failures = []
    client = login(world["staff"])
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        for q in (JUNK_QUERY, "?q=" + "9" * 30, "?q=%00", "?pk__in=a,b", "?id__gt=" + HUGE, "?o=-0.1.x"):
            response = client.get(url + q)
            if response.status_code >= 500:
                failures.append((url + q, response.status_code))
    assert failures == [], "\n".join(map(str, failures))
