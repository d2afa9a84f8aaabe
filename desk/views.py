"""The desk's pages: find a holder, see everything about them on one screen, act with a
confirmation, print the receipt. Views parse, call one service or selector, and render."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import selectors, services
from accounts.admin_views import audit_rows
from accounts.errors import BusinessError, NotAllowed
from accounts.formatting import yuan
from accounts.models import Card, Cardholder, CardType
from accounts.parsing import card_no_param
from terminals import selectors as terminal_selectors

from . import actions, receipts
from .access import desk_view
from .dashboard import desk_dashboard
from .forms import HolderForm, PhotoForm, SearchForm

SEARCH_LIMIT = 50


def _errors(exc: BusinessError) -> str:
    return " ".join(str(m) for m in exc.messages)


@desk_view()
def home(request):
    return render(request, "desk/home.html", {"form": SearchForm(), **desk_dashboard(user=request.user)})


@desk_view("accounts.view_cardholder")
def search(request):
    """One match (a card swiped, a whole number) opens the holder at once; several are listed."""
    form = SearchForm(request.GET or None)
    q = form.cleaned_data["q"].strip() if form.is_valid() else ""
    holders, card = [], None
    if q:
        if (card_no := card_no_param(q)) is not None:
            card = selectors.card_get(card_no=card_no)
            if card is not None and card.holder_id is None:
                return redirect("desk:card", card_no=card.card_no)  # an anonymous consumption card
        holders = list(selectors.holder_search(q=q).select_related("unit", "purse__account")[:SEARCH_LIMIT + 1])
        if len(holders) == 1:
            return redirect("desk:holder", pk=holders[0].pk)
    return render(request, "desk/search.html", {
        "form": form, "q": q, "holders": holders[:SEARCH_LIMIT], "more": len(holders) > SEARCH_LIMIT,
    })


def _holder_page(request, holder: Cardholder) -> dict:
    user = request.user
    cards = selectors.holder_cards(holder=holder)
    purse = getattr(holder, "purse", None)
    history = selectors.holder_history(holder=holder).select_related("journal").order_by("-id")[:30]
    history_rows = audit_rows(history)
    for row, entry in zip(history_rows, history):
        row["receipt"] = entry.pk if receipts.has_receipt(entry) else None
    return {
        "holder": holder,
        "cards": [{"card": c, "actions": actions.buttons(user, c)} for c in cards],
        "holder_actions": actions.buttons(user, holder),
        "purse": purse,
        "records": terminal_selectors.card_records(card_nos=[c.card_no for c in cards], limit=20) if cards else [],
        "postings": selectors.purse_postings(account=purse.account, limit=20, host_only=True) if purse else [],
        "history": history_rows,
        "can_edit": user.has_perm("accounts.change_cardholder"),
        "form": SearchForm(),
    }


@desk_view("accounts.view_cardholder")
def holder(request, pk: int):
    holder = get_object_or_404(Cardholder.objects.select_related("unit", "purse__account"), pk=pk)
    return render(request, "desk/holder.html", _holder_page(request, holder))


@desk_view("accounts.view_cardholder")
def card(request, card_no: int):
    """A card by its number: a real-name card opens its holder; an anonymous one its own page."""
    card = selectors.card_get(card_no=card_no)
    if card is None:
        raise Http404
    if card.holder_id is not None:
        return redirect(f"{reverse('desk:holder', args=[card.holder_id])}#card-{card.card_no}")
    return render(request, "desk/card.html", {
        "card": card, "purse": card.purse, "actions": actions.buttons(request.user, card),
        "records": terminal_selectors.card_records(card_nos=[card.card_no], limit=20),
        "history": audit_rows(selectors.card_history(card=card).order_by("-id")[:30]), "form": SearchForm(),
    })


@desk_view("accounts.add_cardholder")
@require_http_methods(["GET", "POST"])
def holder_new(request):
    form = HolderForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {f: form.cleaned_data[f] for f in services.HOLDER_FIELDS if f in form.cleaned_data}
        name, category = data.pop("name"), data.pop("category")
        try:
            holder = services.holder_create(actor=request.user, number=form.cleaned_data["number"], name=name,
                                            category=category, **{k: v for k, v in data.items() if v not in ("", None)})
        except BusinessError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, _("Cardholder %(holder)s is registered.") % {"holder": holder})
            return redirect("desk:holder", pk=holder.pk)
    return render(request, "desk/holder_form.html", {"form": form, "title": _("New cardholder")})


@desk_view("accounts.change_cardholder")
@require_http_methods(["GET", "POST"])
def holder_edit(request, pk: int):
    holder = get_object_or_404(Cardholder, pk=pk)
    form = HolderForm(request.POST or None, instance=holder)
    if request.method == "POST" and form.is_valid():
        data = {f: form.cleaned_data[f] for f in services.HOLDER_FIELDS if f in form.cleaned_data}
        try:
            services.holder_update(actor=request.user, holder=holder, reason=form.cleaned_data.get("change_reason", ""),
                                   **data)
        except BusinessError as exc:
            form.add_error(None, _errors(exc))
        else:
            messages.success(request, _("The details of %(holder)s are saved.") % {"holder": holder})
            return redirect("desk:holder", pk=holder.pk)
    return render(request, "desk/holder_form.html", {"form": form, "holder": holder,
                                                     "title": _("Details of %(holder)s") % {"holder": holder}})


@desk_view("accounts.view_cardholder")
@require_http_methods(["GET", "POST"])
def holder_photo(request, pk: int):
    """GET: the photo itself (personal data: desk users only, never a public media URL).
    POST: a new photo."""
    holder = get_object_or_404(Cardholder, pk=pk)
    if request.method == "POST":
        if not request.user.has_perm("accounts.change_cardholder"):
            raise PermissionDenied
        form = PhotoForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                services.holder_photo_set(actor=request.user, holder=holder, content=form.cleaned_data["photo"].read())
            except BusinessError as exc:
                messages.error(request, _errors(exc))
            else:
                messages.success(request, _("The photo is saved."))
        else:
            messages.error(request, _("Choose a JPEG or PNG photo."))
        return redirect("desk:holder", pk=holder.pk)
    if not holder.photo:
        raise Http404
    try:
        handle = default_storage.open(holder.photo.name, "rb")
    except OSError:
        raise Http404 from None
    response = FileResponse(handle, content_type="image/jpeg")
    response["Cache-Control"] = "private, no-store"
    return response


def _action_view(request, obj, slug: str, back: str):
    action = actions.BY_MODEL[type(obj)].get(slug)
    if action is None:
        raise Http404
    if not request.user.has_perm(action.perm):
        raise PermissionDenied
    form_kwargs = {"obj": obj}
    if action.default_reason:
        form_kwargs["default_reason"] = str(action.default_reason)
    if request.method == "POST":
        form = action.form_class(request.POST, **form_kwargs)
        if form.is_valid():
            try:
                entry = action.run(request.user, obj, form.cleaned_data)
            except NotAllowed as exc:
                raise PermissionDenied(_errors(exc)) from exc
            except BusinessError as exc:
                form.add_error(None, _errors(exc))
            else:
                messages.success(request, _("Done: %(action)s.") % {"action": action.label})
                if entry is not None and receipts.has_receipt(entry):
                    return redirect("desk:receipt", pk=entry.pk)
                return HttpResponseRedirect(back)
    else:
        initial = {"key": services.cash_deposit_key()} if action.key else {}
        form = action.form_class(initial=initial, **form_kwargs)
    return render(request, "desk/action.html", {
        "action": action, "obj": obj, "form": form, "back": back, "applies": action.applies(obj),
        "summary": _summary(obj) + [(str(k), v) for k, v in action.extra(obj)],
    })


def _summary(obj) -> list[tuple]:
    if isinstance(obj, Cardholder):
        purse = getattr(obj, "purse", None)
        return [(_("Cardholder"), f"{obj.name}（{obj.number}）"), (_("Category"), obj.get_category_display()),
                (_("ID number"), obj.id_number_masked or "-"),
                (_("Account balance (yuan)"), yuan(purse.account.balance if purse else 0))]
    rows = [(_("Card number"), obj.card_no), (_("Card type"), obj.get_card_type_display()),
            (_("Status"), obj.get_status_display()), (_("Valid until"), obj.valid_until)]
    if obj.holder is not None:
        rows.insert(0, (_("Cardholder"), f"{obj.holder.name}（{obj.holder.number}）"))
        rows.append((_("ID number on file"), obj.holder.id_number_masked or "-"))
    rows.append((_("Account balance (yuan)"), yuan(obj.purse.account.balance)))
    return rows


@desk_view("accounts.view_cardholder")
@require_http_methods(["GET", "POST"])
def holder_action(request, pk: int, slug: str):
    holder = get_object_or_404(Cardholder.objects.select_related("purse__account"), pk=pk)
    return _action_view(request, holder, slug, reverse("desk:holder", args=[holder.pk]))


@desk_view()
@require_http_methods(["GET", "POST"])
def card_action(request, card_no: int, slug: str):
    card = Card.objects.select_related("holder", "purse__account").filter(card_no=card_no).first()
    if card is None:
        raise Http404
    if not (request.user.has_perm("accounts.view_cardholder") or card.card_type == CardType.CONSUMPTION):
        raise PermissionDenied
    back = (reverse("desk:holder", args=[card.holder_id]) if card.holder_id
            else reverse("desk:card", args=[card.card_no]))
    return _action_view(request, card, slug, back)


@desk_view()
def receipt(request, pk: int):
    entry = selectors.audit_entry_get(pk=pk)
    if entry is None or not receipts.has_receipt(entry):
        raise Http404
    user = request.user
    if entry.actor_id != user.pk and not user.has_perm("accounts.view_auditlog"):
        raise PermissionDenied
    back = (reverse("desk:holder", args=[entry.holder_id]) if entry.holder_id
            else reverse("desk:card", args=[entry.card.card_no]) if entry.card_id else reverse("desk:home"))
    return render(request, "desk/receipt.html", {**receipts.receipt(entry), "back": back})
