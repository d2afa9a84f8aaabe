"""Kiosk pages. The kiosk's state lives in the session under kiosk_* keys only, for at most
the idle limit; every page is no-store so the browser's Back never shows the last person."""

from __future__ import annotations

import time

from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from ..errors import BusinessError
from ..models import Card, Cardholder
from . import services
from .forms import KioskLoginForm, KioskResetForm

HOLDER, AT = "kiosk_holder", "kiosk_at"


def _messages() -> dict[str, str]:
    return {
        "consumption": _("A consumption card is anonymous, so it cannot be reported lost (R-LOSS-1). "
                         "Its balance cannot be recovered; buy a new consumption card at the card centre."),
        "already_lost": _("This card is already reported lost and blocked on every terminal."),
        "frozen": _("This card is frozen and already refused by every terminal. "
                    "Please go to the card centre with your ID."),
        "not_live": _("This card is no longer in use."),
    }


def _clear(request) -> None:
    for key in (HOLDER, AT):
        request.session.pop(key, None)


def _holder(request) -> Cardholder | None:
    """The signed-in holder, if the last tap was within the idle limit; otherwise forget them."""
    pk, at = request.session.get(HOLDER), request.session.get(AT, 0)
    if pk is None or time.time() - at > services.kiosk_idle_seconds():
        _clear(request)
        return None
    holder = Cardholder.objects.filter(pk=pk, status=Cardholder.Status.ACTIVE).select_related("purse__account").first()
    if holder is None:
        _clear(request)
        return None
    request.session[AT] = time.time()
    return holder


def _render(request, template, context=None, status=200):
    ctx = {"idle_seconds": services.kiosk_idle_seconds(), **(context or {})}
    return render(request, template, ctx, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def start(request):
    _clear(request)  # the start screen never carries anyone's data
    error = ""
    form = KioskLoginForm(request.POST or None)
    if request.method == "POST":
        holder = None
        if form.is_valid():
            holder = services.kiosk_authenticate(number=form.cleaned_data["number"],
                                                 password=form.cleaned_data["password"])
        if holder is not None:
            request.session.cycle_key()
            request.session[HOLDER], request.session[AT] = holder.pk, time.time()
            return redirect("kiosk:cards")
        # One answer for an unknown number, a wrong password and a locked holder.
        error = _("The number or password is wrong, or this number is locked for a while. "
                  "After 5 wrong passwords the kiosk locks the number for 15 minutes.")
        form = KioskLoginForm()
    return _render(request, "kiosk/start.html", {
        "form": form, "error": error, "timed_out": "timeout" in request.GET,
        "password_set": "password_set" in request.GET,
        "consumption_note": _messages()["consumption"],
    }, status=200)


@never_cache
@require_http_methods(["GET", "POST"])
def reset(request):
    """Set a new query password with the ID number and the registered mobile number."""
    _clear(request)
    error = ""
    form = KioskResetForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                done = services.kiosk_password_reset(id_number=data["id_number"], phone=data["phone"],
                                                     new_password=data["password1"])
            except BusinessError as exc:
                done, error = False, " ".join(str(m) for m in exc.messages)
            if done:
                return redirect("/kiosk/?password_set=1")
            if not error:
                # One answer for an unknown ID number, a wrong or missing phone and a locked holder.
                error = _("The ID number and mobile number do not match a holder's record, or this holder is locked "
                          "for a while. If your mobile number changed, go to the card centre with your ID.")
        else:
            error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        form = KioskResetForm(initial={"id_number": form.data.get("id_number", "")[:20]})
    return _render(request, "kiosk/reset.html", {"form": form, "error": error})


@never_cache
def cards(request, error: str = ""):
    holder = _holder(request)
    if holder is None:
        return redirect("/kiosk/?timeout=1")
    reasons = _messages()
    rows = []
    for card in services.kiosk_cards(holder=holder):
        why = services.kiosk_loss_reason(card)
        rows.append({"card": card, "why_not": reasons[why] if why else ""})
    return _render(request, "kiosk/cards.html", {
        "holder": holder, "rows": rows, "balance": services.kiosk_balance(holder=holder), "error": error,
        "pending": services.kiosk_pending(holder=holder),
        "transactions": services.kiosk_transactions(holder=holder),
    })


@never_cache
@require_http_methods(["GET", "POST"])
def loss(request, card_no: int):
    holder = _holder(request)
    if holder is None:
        return redirect("/kiosk/?timeout=1")
    card = Card.objects.filter(holder=holder, card_no=card_no).first()
    if card is None:
        raise Http404
    why = services.kiosk_loss_reason(card)
    if why:
        return cards(request, error=_messages()[why])
    if request.method == "POST":
        try:
            services.kiosk_loss_report(holder=holder, card_no=card_no)
        except BusinessError as exc:
            return cards(request, error=str(exc))
        return redirect("kiosk:reported", card_no=card_no)
    return _render(request, "kiosk/confirm.html", {"holder": holder, "card": card})


@never_cache
def reported(request, card_no: int):
    holder = _holder(request)
    if holder is None:
        return redirect("/kiosk/?timeout=1")
    card = Card.objects.filter(holder=holder, card_no=card_no, status="lost").first()
    if card is None:
        raise Http404
    return _render(request, "kiosk/reported.html", {"holder": holder, "card": card})


@never_cache
def end(request):
    _clear(request)
    return redirect("kiosk:start")
