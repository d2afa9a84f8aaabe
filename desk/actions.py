"""What a clerk can do to a holder or a card from the desk: one entry per service call, with the
permission the service checks, the form, and whether it applies in the current state (for cards
that is services.card_action_applies, i.e. CARD_ACTIONS and TRANSITIONS). Each run returns the
audit entry its receipt (凭条) is printed from, or None when there is nothing to print."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts import selectors, services
from accounts.errors import BusinessError
from accounts.formatting import yuan
from accounts.models import AuditLog, Card, Cardholder, CardType, FeeSchedule

from . import forms


@dataclass(frozen=True)
class DeskAction:
    slug: str
    label: Any
    perm: str
    form_class: type
    run: Callable[[Any, Any, dict], AuditLog | None]  # (user, obj, cleaned_data)
    applies: Callable[[Any], bool] = lambda obj: True
    intro: Any = ""
    default_reason: Any = ""
    danger: bool = False
    key: bool = False  # the form carries a one-time key (deposits)
    extra: Callable[[Any], list] = field(default=lambda obj: [])


def _entry(actor, actions, **where) -> AuditLog | None:
    return selectors.audit_latest(actor=actor, actions=actions, **where)


# --- holder actions ---------------------------------------------------------------------

def _issue(user, holder, data):
    card = services.card_issue_formal(actor=user, holder=holder, fee_payment=data["fee_payment"])
    return _entry(user, ["card_issue"], card=card)


def _deposit_holder(user, holder, data):
    journal = services.purse_deposit_cash(actor=user, holder=holder, amount=data["amount_fen"], key=data["key"])
    return AuditLog.objects.filter(journal=journal, action="cash_deposit").first()


def _close_holder(user, holder, data):
    services.account_close(actor=user, holder=holder, payout=data["payout"], reason=data["reason"])
    return _entry(user, ["account_close"], holder=holder)


def _kiosk_password(user, holder, data):
    services.holder_set_kiosk_password(actor=user, holder=holder, raw_password=data["password1"])
    return None


def _reopen(user, holder, data):
    services.holder_reopen(actor=user, holder=holder, reason=data["reason"])
    return None


def _holder_active(holder) -> bool:
    return holder.status == Cardholder.Status.ACTIVE


def _may_issue(holder) -> bool:
    return services.holder_eligible(holder, CardType.FORMAL) is None


def _first_formal(holder) -> list:
    first = not holder.cards.filter(card_type=CardType.FORMAL).exists()
    if first:
        return [(_("Card fee"), _("None: the first formal card is free (R-FEE-1)."))]
    return [(_("Card fee (yuan)"), _fee(FeeSchedule.Kind.NEW_CARD))]


def _fee(kind) -> str:
    try:
        return yuan(services.fee_amount(kind))
    except BusinessError:
        return gettext("none in force")


HOLDER_ACTIONS = [
    DeskAction("issue", _("Issue formal card"), "accounts.issue_card", forms.IssueForm, _issue, applies=_may_issue,
               intro=_("Issue a formal card to the applicant in person (R-ISSUE-1, R-CARD-2)."), extra=_first_formal),
    DeskAction("deposit", _("Cash deposit"), "accounts.deposit_cash", forms.DepositForm, _deposit_holder,
               applies=_holder_active, key=True,
               intro=_("Cash into the holder's account. The card takes it at any top-up point (过渡余额).")),
    DeskAction("kiosk-password", _("Set query password"), "accounts.change_cardholder", forms.KioskPasswordForm,
               _kiosk_password, applies=_holder_active,
               intro=_("The password the holder uses at the self-service kiosk.")),
    DeskAction("close", _("Close account"), "accounts.close_account", forms.CloseForm, _close_holder,
               applies=_holder_active, danger=True, default_reason=_("The holder leaves the university"),
               intro=_("Close every live card, pay out the balance and close the account (R-CLOSE-1, R-CLOSE-3). "
                       "Subsystem functions must be closed first.")),
    DeskAction("reopen", _("Reopen account"), "accounts.issue_card", forms.ReasonForm, _reopen,
               applies=lambda h: h.status == Cardholder.Status.CLOSED, default_reason=_("Applies again"),
               intro=_("A closed holder who applies again is treated as a new applicant (R-CLOSE-4).")),
]


# --- card actions -----------------------------------------------------------------------

def _loss(user, card, data):
    services.card_report_loss(card=card, actor=user, channel="staff", reason=data["reason"])
    return _entry(user, ["card_report_loss"], card=card)


def _unloss(user, card, data):
    services.card_reverse_loss(card=card, actor=user, reason=data["reason"], id_number=data["id_number"])
    return _entry(user, ["card_reverse_loss"], card=card)


def _freeze(user, card, data):
    services.card_freeze(card=card, actor=user, channel="staff", reason=data["reason"])
    return _entry(user, ["card_freeze"], card=card)


def _unfreeze(user, card, data):
    if card.holder is not None:
        services.holder_id_check(holder=card.holder, id_number=data["id_number"])
    services.card_unfreeze(card=card, actor=user, reason=data["reason"])
    return _entry(user, ["card_unfreeze"], card=card)


def _replace(user, card, data):
    new = services.card_replace(card=card, actor=user, reason=data["reason"], fee_payment=data["fee_payment"])
    return _entry(user, ["card_replace"], card=new)


def _extend(user, card, data):
    services.card_extend(card=card, actor=user, until=data["until"], reason=data["reason"],
                         proof_end_date=data["proof_end_date"])
    return _entry(user, ["card_extend"], card=card)


def _deposit_card(user, card, data):
    journal = services.purse_deposit_cash(actor=user, card=card, amount=data["amount_fen"], key=data["key"])
    return AuditLog.objects.filter(journal=journal, action="cash_deposit").first()


def _close_card(user, card, data):
    services.account_close(actor=user, card=card, payout=data["payout"], reason=data["reason"])
    return _entry(user, ["account_close"], card=card)


def _card(action: str) -> Callable[[Card], bool]:
    return lambda card: services.card_action_applies(card, action)


def _replacement_fee(card) -> list:
    return [(_("Replacement fee (yuan)"), _fee(FeeSchedule.Kind.REPLACEMENT))]


CARD_ACTIONS = [
    DeskAction("loss", _("Report loss"), "accounts.report_loss", forms.OptionalReasonForm, _loss,
               applies=_card("report_loss"), default_reason=_("Reported lost at the counter"), danger=True,
               intro=_("From the report on every terminal refuses the card (R-LOSS-1).")),
    DeskAction("unloss", _("Cancel loss"), "accounts.report_loss", forms.IdCheckForm, _unloss,
               applies=_card("reverse_loss"), default_reason=_("In person with ID"),
               intro=_("In person with ID; the card then works again (R-LOSS-2).")),
    DeskAction("replace", _("Replace card"), "accounts.replace_card", forms.ReplaceForm, _replace,
               applies=_card("replace"), default_reason=_("Card lost"), extra=_replacement_fee,
               intro=_("A new card of the same type and a new number; the old one is dead for good and the balance "
                       "carries over (R-REPLACE-1, R-FEE-3).")),
    DeskAction("freeze", _("Freeze"), "accounts.freeze_card", forms.ReasonForm, _freeze,
               applies=_card("freeze"), default_reason=_("Card and account disagree"), danger=True,
               intro=_("Freeze a card whose on-card balance and account disagree (R-FREEZE-1).")),
    DeskAction("unfreeze", _("Unfreeze"), "accounts.freeze_card", forms.IdCheckForm, _unfreeze,
               applies=_card("unfreeze"), default_reason=_("Difference resolved; in person with ID"),
               intro=_("In person with ID, once the difference is resolved (R-FREEZE-1).")),
    DeskAction("extend", _("Extend validity"), "accounts.extend_card", forms.ExtendForm, _extend,
               applies=_card("extend"), default_reason=_("Proof of a longer study or employment period"),
               intro=_("Extend on the proofs of R-CARD-6, R-CARD-7, R-CARD-8.")),
    DeskAction("deposit", _("Cash deposit"), "accounts.deposit_cash", forms.DepositForm, _deposit_card,
               applies=lambda c: c.card_type == CardType.CONSUMPTION and c.is_live, key=True,
               intro=_("Cash onto an anonymous consumption card's account; the card takes it at any top-up point.")),
    DeskAction("close", _("Settle and close card"), "accounts.close_account", forms.CloseForm, _close_card,
               applies=_card("close"), danger=True, default_reason=_("Returned by the holder"),
               intro=_("Settle and close a consumption card (R-CLOSE-3); real-name cards close with the holder's "
                       "account.")),
]

BY_MODEL = {Cardholder: {a.slug: a for a in HOLDER_ACTIONS}, Card: {a.slug: a for a in CARD_ACTIONS}}


def buttons(user, obj) -> list[DeskAction]:
    """The actions `user` may take on `obj` in its current state, in the desk's order."""
    return [a for a in BY_MODEL[type(obj)].values() if user.has_perm(a.perm) and a.applies(obj)]
