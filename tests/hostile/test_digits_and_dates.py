"""Unicode digits and far dates on every page (issue 10, "No input gives a 500").

str.isdigit() is True for '²' and '٣', which int() refuses: nine pages answered 500 to ?q=². A year
9999 date parses and then overflows when a day is added or it becomes a datetime: the finance desk
and the revenue API answered 500. Every page, every role, with such queries and such form bodies:
a 4xx or an ordinary page, never a 500, and nothing changes. accounts.parsing is the one parser.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib import admin

from accounts.parsing import card_no_param, date_param, int_param, month_param

from .conftest import login, roles, snapshot
from .test_url_smoke import _PARAM, routes

pytestmark = pytest.mark.django_db

SUP2, ARABIC3 = "%C2%B2", "%D9%A3"  # '²', '٣': isdigit() says yes, int() says no (or reads 3)
FAR = "9999-12-31"
QUERIES = [  # one refused parameter per query: the admin answers ?e=1 to a parameter it does not know
    f"?q={SUP2}", f"?q=1{ARABIC3}", f"?card={SUP2}&record={SUP2}", f"?terminal={SUP2}",
    "?card=%EF%BC%91",  # fullwidth "１": int() reads it, the parser does not
    f"?day={FAR}&month=9999-12", f"?start=9999-12-30&end={FAR}", f"?end={FAR}",
]
FAR_BODY = {
    "until": FAR, "proof_end_date": FAR, "start_date": FAR, "end_date": FAR, "effective_from": FAR,
    "valid_from": f"{FAR} 23:59:59", "valid_to": f"{FAR} 23:59:59", "valid_from_0": FAR, "valid_from_1": "23:59:59",
    "valid_to_0": FAR, "valid_to_1": "23:59:59", "last_day": FAR, "occurred_at": f"{FAR} 23:59:59", "day": FAR,
    "month": "9999-12", "start": FAR, "end": FAR, "graduation_year": "9999", "reason": "far dates", "note": "x",
    "amount_yuan": "²", "amount": "²", "card_no": "²", "record": "²", "quantity": "²", "confirm": "yes",
}


def test_the_one_parser_refuses_unicode_digits_and_far_dates():
    assert int_param("²") is None and int_param("٣") is None and int_param("１") is None
    assert int_param("12") == 12 and int_param(" 7 ") == 7 and int_param("9" * 30) is None
    assert card_no_param("4294967296") is None and card_no_param("0") is None and card_no_param("20000001") == 20000001
    assert date_param(FAR) is None and date_param("2026-02-30") is None and date_param("2026-02-28") == dt.date(2026, 2, 28)
    assert month_param("9999-12") is None and month_param("2026-13") is None and month_param("2026-03") == dt.date(2026, 3, 1)


def _fill(route: str, world) -> str | None:
    """The route with real ids: the world's objects, so forms behind an id are reached too."""
    values = {"card_no": str(world["card"].card_no), "number": world["holder"].number, "code": world["merchant"].code,
              "fmt": "csv", "action": "approve"}
    url = route
    for conv, name in _PARAM.findall(route):
        value = values.get(name)
        if value is None:
            return None
        url = url.replace(f"<{conv}:{name}>" if conv else f"<{name}>", value, 1)
    return "/" + url


def _admin_object_urls() -> list[str]:
    """Every admin page of every registered model's first object: change pages and their actions
    (not delete: the super admin may delete what the admin lets it)."""
    urls = []
    for model, model_admin in admin.site._registry.items():
        obj = model.objects.order_by("pk").first()
        for pattern in model_admin.get_urls():
            route = str(pattern.pattern)
            if "<path:object_id>" not in route or obj is None or route.endswith(("delete/", "history/")):
                continue
            urls.append(f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
                        + route.replace("<path:object_id>", str(obj.pk)))
    return urls


# The super admin reaches every admin page and the finance desk; the merchant user the portal; the
# token the API. Staff, finance and anonymous callers see subsets of these (and cost CI a minute).
@pytest.mark.parametrize("who", ["merchant", "root", "api"])
def test_no_page_answers_500_to_unicode_digits_or_far_dates(world, who):
    """Every route (admin and fronts, with the world's ids), GET with each query and POST the far
    dates and unicode digits: never a 500, nothing changes (no money moves)."""
    user, token = roles(world)[who]
    urls = sorted({u for r in routes(admin=False) + routes(admin=True) if (u := _fill(r, world)) and "logout" not in u})
    # An object's own pages read no query string: they get the form body only.
    object_urls = sorted(set(_admin_object_urls()) - set(urls)) if who == "root" else []  # root sees every page
    before = snapshot()
    failures = []
    for url in urls + object_urls:
        client = login(user, token=token)
        for query in QUERIES if url in urls else ():
            response = client.get(url + query)
            if response.status_code >= 500 and not url.startswith("/health/"):
                failures.append(("GET", url + query, response.status_code))
        response = client.post(url, FAR_BODY)
        if response.status_code >= 500 and not url.startswith("/health/"):
            failures.append(("POST", url, response.status_code))
    assert failures == [], "\n".join(map(str, failures))
    after = snapshot()
    if who == "root":  # the reason in the body lets root freeze and unfreeze the card; no money moves
        before, after = ({k: v for k, v in s.items() if k in ("balances", "purses", "keys")} for s in (before, after))
    assert after == before
