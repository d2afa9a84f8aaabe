"""What people read for the codes terminals/ stores: one mapping per code family, used by every
screen (admin, dashboard, daily close, portal) so that no raw code reaches a page.

- record problems (Record.problems, written by intake and posting);
- terminal health problems (selectors.registry.day_terminal_health);
- the kinds of open exceptions counted for the dashboard (selectors.exceptions.open_exceptions_by_kind);
- a record's kind, card type and flags (protocol bytes).

tests/terminals/test_labels.py checks that every code the source writes has a label here.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import CardType

from . import wire
from .models import CardFlag

RECORD_PROBLEMS = {
    "not_assigned": gettext_lazy("Terminal not assigned to a merchant"),
    "unknown_card": gettext_lazy("Unknown card"),
    "card_type_mismatch": gettext_lazy("Card type differs from the card on file"),
    "arithmetic": gettext_lazy("Balances and amount do not add up"),
    "surcharge": gettext_lazy("Surcharge differs from the rates"),
    "deposit_not_topup": gettext_lazy("Top-up at a terminal that does not take top-ups"),
    "insufficient_host_balance": gettext_lazy("Account balance too low"),
    "offline_unauthorised": gettext_lazy("Offline without authorisation (held out)"),
    "suspected_duplicate": gettext_lazy("Suspected duplicate charge"),
    "more_than_pending": gettext_lazy("More than the pending credit"),
    "unknown_operator": gettext_lazy("Unknown top-up operator"),
    "late_record": gettext_lazy("Late record"),
    "unknown": gettext_lazy("No problem recorded"),
}

# Record fields a strict decode refuses (wire.record_field_problems: "card_type 5", "flags 0x80" …).
RECORD_FIELDS = {
    "card_type": gettext_lazy("card type"),
    "kind": gettext_lazy("record kind"),
    "flags": gettext_lazy("flags"),
    "reserved": gettext_lazy("reserved bytes"),
}

TERMINAL_PROBLEMS = {
    "not_seen": gettext_lazy("Not heard from all day"),
    "unsent": gettext_lazy("Reports records not yet sent"),
    "blocklist_lag": gettext_lazy("Block list behind"),
}

OTHER_EXCEPTIONS = {
    "lost_records": gettext_lazy("Records declared lost by terminals"),
    "record_conflict": gettext_lazy("Resends that differ from the record"),
}


def record_problem_label(code: str) -> str:
    if code.startswith("field:"):
        name, _sep, rest = code[len("field:"):].partition(" ")
        return _("Malformed record field: %(field)s %(value)s") % {
            "field": RECORD_FIELDS.get(name, name), "value": rest}
    label = RECORD_PROBLEMS.get(code)
    return str(label) if label is not None else _("Other problem (%(code)s)") % {"code": code}


def record_problems_text(codes) -> str:
    """A record's problems as one line of labels ("、" in Chinese, ", " in English)."""
    return _(", ").join(record_problem_label(c) for c in codes or ())


def terminal_problems_text(codes) -> str:
    return _(", ").join(str(TERMINAL_PROBLEMS.get(c, c)) for c in codes or ())


def open_exception_label(key: str) -> str:
    """A key of selectors.open_exceptions_by_kind ("record:<problem>", "card_flag:<kind>",
    "lost_records", "record_conflict")."""
    family, _sep, code = key.partition(":")
    if family == "record" and code:
        return _("Record not posted: %(problem)s") % {"problem": record_problem_label(code)}
    if family == "card_flag" and code:
        kinds = dict(CardFlag.Kind.choices)
        return _("Card-vs-account: %(kind)s") % {"kind": kinds.get(code, code)}
    label = OTHER_EXCEPTIONS.get(key)
    return str(label) if label is not None else _("Other problem (%(code)s)") % {"code": key}


RECORD_KINDS = {wire.RecordKind.PURCHASE: gettext_lazy("Purchase"),
                wire.RecordKind.DEPOSIT: gettext_lazy("Top-up")}
RECORD_FLAGS = {wire.FLAG_OFFLINE: gettext_lazy("offline"),
                wire.FLAG_WRITE_UNCERTAIN: gettext_lazy("card write uncertain")}


def record_kind_label(kind: int) -> str:
    return str(RECORD_KINDS.get(kind, kind))


def card_type_label(card_type: int) -> str:
    return str(dict(CardType.choices).get(card_type, card_type))


def record_flags_text(flags: int) -> str:
    names = [str(label) for bit, label in RECORD_FLAGS.items() if flags & bit]
    if flags & ~wire.FLAGS_KNOWN:
        names.append(_("unknown bits %(bits)s") % {"bits": f"{flags & ~wire.FLAGS_KNOWN:#04x}"})
    return _(", ").join(names) or "—"
