"""Reads for the day-close page (对帐日结) a finance clerk reads: the trial balance (试算平衡表) in
yuan with its checks, the comparison with the previous closed day, and every difference the close
found in words, with links to the records, journals and flags behind it.

Amounts stay integer fen here; the template shows them in yuan. Every code is turned into its
label here (account kinds, journal kinds, exception kinds, record problems, terminal problems),
so the page shows no code. Links point at the admin pages of the rows themselves.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from accounts import daybook
from accounts.formatting import yuan
from accounts.models import Journal, LedgerAccount
from accounts.parsing import int_param
from terminals import labels as terminal_labels
from terminals import selectors as terminal_selectors
from terminals.models import CardFlag, Record

from . import selectors
from .models import CloseException, DayClose, DayPurse

K = CloseException.Kind


def account_kind_label(kind: str) -> str:
    """An account kind's name; a kind added later shows under its own label when it has one."""
    return str(dict(LedgerAccount.Kind.choices).get(kind, kind))


def _normal(kind: str, closing: int) -> int:
    normal = LedgerAccount.NORMAL.get(kind)
    return int(normal) if normal is not None else (1 if closing >= 0 else -1)


def _sides(amount: int) -> tuple[int | None, int | None]:
    """A debit-positive balance as (debit, credit): the side it stands on, the other empty."""
    if amount > 0:
        return amount, None
    if amount < 0:
        return None, -amount
    return 0, None


def postings_url(dc: DayClose, kind: str, account_id: int | None = None) -> str:
    url = reverse("admin:settlement_dayclose_postings", args=[dc.pk, kind])
    return f"{url}?{urlencode({'account': account_id})}" if account_id else url


def trial_balance(dc: DayClose) -> dict:
    """The 试算平衡表: per account kind the opening and closing balance on their side, the day's
    debits and credits; totals per column and whether each pair balances."""
    rows = list(dc.trial_balance.all())
    # Debit-normal kinds (cash, bank clearing, suspense) first, then what the system owes.
    order = {k: i for i, k in enumerate(LedgerAccount.Kind.values)}
    rows.sort(key=lambda r: (-_normal(r.kind, r.closing), order.get(r.kind, len(order)), r.kind))
    out, sums = [], dict.fromkeys(("opening_debit", "opening_credit", "debit", "credit", "closing_debit",
                                   "closing_credit", "postings"), 0)
    for r in rows:
        od, oc = _sides(r.opening)
        cd, cc = _sides(r.closing)
        row = {"kind": r.kind, "label": account_kind_label(r.kind), "opening_debit": od, "opening_credit": oc,
               "debit": r.debit, "credit": r.credit, "closing_debit": cd, "closing_credit": cc,
               "postings": r.postings, "url": postings_url(dc, r.kind)}
        for k in sums:
            sums[k] += row[k] or 0
        out.append(row)
    checks = [
        {"label": _("Opening balances"), "debit": sums["opening_debit"], "credit": sums["opening_credit"]},
        {"label": _("Day's postings"), "debit": sums["debit"], "credit": sums["credit"]},
        {"label": _("Closing balances"), "debit": sums["closing_debit"], "credit": sums["closing_credit"]},
    ]
    for c in checks:
        c["ok"] = c["debit"] == c["credit"]
        c["difference"] = c["debit"] - c["credit"]
    return {"rows": out, "totals": sums, "checks": checks, "balanced": all(c["ok"] for c in checks)}


def previous_close(dc: DayClose) -> DayClose | None:
    return DayClose.objects.filter(day__lt=dc.day).order_by("-day").first()


def comparison(dc: DayClose, prev: DayClose | None) -> list[dict]:
    """Day on day: the day's figures beside the previous closed day's, with the change. Money in
    fen (`money`), counts as they are; each account kind's closing balance on its normal side."""
    def row(label, today, before, money=True):
        change = None if before is None else today - before
        pct = None
        if before:
            pct = round(change * 100 / abs(before), 1)
        return {"label": label, "today": today, "before": before, "change": change, "pct": pct, "money": money}

    p = prev
    out = [
        row(_("Records"), dc.records, p and p.records, money=False),
        row(_("Purchases (消费额)"), dc.purchase_amount, p and p.purchase_amount),
        row(_("Consumption settled (结算消费额)"), dc.settled, p and p.settled),
        row(_("Catering surcharge collected (代收搭伙能源费)"), dc.surcharge_amount, p and p.surcharge_amount),
        row(_("Held out (暂挂金额)"), dc.held_amount, p and p.held_amount),
        row(_("Cash top-ups"), dc.deposit_amount, p and p.deposit_amount),
        row(_("Open differences"), dc.open_exceptions, p and p.open_exceptions, money=False),
    ]
    today_kinds = {r.kind: r for r in dc.trial_balance.all()}
    prev_kinds = {r.kind: r for r in p.trial_balance.all()} if p else {}
    out.append(row(_("Debits of the day"), sum(r.debit for r in today_kinds.values()),
                   sum(r.debit for r in prev_kinds.values()) if p else None))
    for kind in sorted(set(today_kinds) | set(prev_kinds), key=lambda k: account_kind_label(k)):
        t, b = today_kinds.get(kind), prev_kinds.get(kind)
        normal = _normal(kind, (t or b).closing)
        out.append(row(_("Closing balance: %(kind)s") % {"kind": account_kind_label(kind)},
                       normal * t.closing if t else 0, (normal * b.closing if b else 0) if p else None))
    return out


# --- the differences -----------------------------------------------------------------------------

def _link(label: str, url: str) -> dict:
    return {"label": label, "url": url}


def _records_url(**filters) -> str:
    return f"{reverse('admin:terminals_record_changelist')}?{urlencode(filters)}"


def differences(dc: DayClose) -> list[dict]:
    """The close's exceptions of the day in words: what differs, by how much, what it means, how
    it was resolved, and links to the rows behind it. Open ones first."""
    return describe(dc, list(dc.exceptions.select_related("resolved_by").order_by("resolved_at", "kind", "id")))


def describe_many(excs) -> dict[int, dict]:
    """Exception id -> its description (see describe), for exceptions of any days (the admin list)."""
    by_close: dict[int, list] = {}
    for e in excs:
        by_close.setdefault(e.day_close_id, []).append(e)
    out = {}
    for dc in DayClose.objects.filter(pk__in=list(by_close)):
        out.update({d["exception"].pk: d for d in describe(dc, by_close[dc.pk])})
    return out


def describe(dc: DayClose, excs: list) -> list[dict]:
    """Each exception of `dc` in words: kind, what it concerns, the difference, what differs, and
    links to the records, journals and flags behind it."""
    ids = {k: [e.ref for e in excs if e.kind == k] for k in K.values}
    ints = {k: [n for r in v if (n := int_param(r)) is not None] for k, v in ids.items()}
    merchants = selectors.merchant_facts(merchant_ids=ints[K.MERCHANT]) if ints[K.MERCHANT] else {}
    merchant_rows = {m.merchant_id: m for m in dc.merchants.filter(merchant_id__in=ints[K.MERCHANT])}
    operators = {o.operator_id: o for o in dc.operators.select_related("operator").filter(
        operator_id__in=ints[K.OPERATOR])}
    purses = {p.account_id: p for p in DayPurse.objects.filter(day=dc.day, account_id__in=ints[K.PURSE])}
    accounts = daybook.accounts_named(account_ids=ints[K.PURSE]) if ints[K.PURSE] else {}
    records = terminal_selectors.records_by_id(ids=ints[K.RECORD]) if ints[K.RECORD] else {}
    flags = terminal_selectors.card_flags_by_id(ids=ints[K.CARD_FLAG]) if ints[K.CARD_FLAG] else {}
    kinds = {r.kind: r for r in dc.trial_balance.all()}
    journals_url = f"{reverse('admin:accounts_journal_changelist')}?{urlencode({'business_day': dc.day})}"
    flag_kinds = dict(CardFlag.Kind.choices)

    out = []
    for e in excs:
        d = {"exception": e, "kind_label": e.get_kind_display(), "amount": e.amount, "money": True, "links": [],
             "subject": "", "text": ""}
        ref = int_param(e.ref)
        if e.kind == K.TRIAL_BALANCE and e.ref.startswith("opening:"):
            kind = e.ref.split(":", 1)[1]
            opening = kinds[kind].opening if kind in kinds else 0
            d["subject"] = account_kind_label(kind)
            d["text"] = _("Opening balance %(opening)s yuan; the last closing plus the movements since give "
                          "%(expected)s yuan.") % {"opening": _yuan_side(opening),
                                                   "expected": _yuan_side(opening - e.amount)}
            d["links"] = [_link(_("Postings of the day"), postings_url(dc, kind))]
        elif e.kind == K.TRIAL_BALANCE:
            d["subject"] = _("All accounts")
            d["text"] = _("Debits and credits of the day differ by %(amount)s yuan.") % {"amount": yuan(e.amount)}
            d["links"] = [_link(_("Journals of the day"), journals_url)]
        elif e.kind == K.PURSE:
            p, a = purses.get(ref), accounts.get(ref, {})
            d["subject"] = _("Purse %(code)s") % {"code": a.get("code", e.ref)}
            if p:
                d["text"] = _("Opening %(opening)s yuan rebuilt from its balance; yesterday's closing was "
                              "%(expected)s yuan.") % {"opening": yuan(p.opening), "expected": yuan(p.opening - e.amount)}
            d["links"] = [_link(_("Postings of the day"), postings_url(dc, LedgerAccount.Kind.PURSE, ref)),
                          _link(_("Purse"), f"{reverse('admin:accounts_purse_changelist')}?"
                                            f"{urlencode({'account__id__exact': ref})}")]
        elif e.kind == K.MERCHANT:
            m, row = merchants.get(ref, {}), merchant_rows.get(ref)
            d["subject"] = f"{m.get('code', '')} {m.get('name', '')}".strip() or e.ref
            if row:
                d["text"] = _("Postings credited %(booked)s yuan to its payable; its records add up to "
                              "%(stored)s yuan.") % {"booked": yuan(row.payable_from_batches), "stored": yuan(row.settled)}
            d["links"] = [_link(_("Records of the day"), _records_url(merchant__id__exact=ref, business_day=dc.day)),
                          _link(_("Postings of the day"), postings_url(dc, LedgerAccount.Kind.MERCHANT,
                                                                       m.get("payable_account_id")))]
        elif e.kind == K.ACCOUNT:
            stored = {"surcharge": dc.surcharge_amount, "suspense": dc.held_amount}.get(e.ref, 0)
            d["subject"] = account_kind_label(e.ref)
            d["text"] = _("Postings credited %(booked)s yuan; the records add up to %(stored)s yuan.") % {
                "booked": yuan(stored + e.amount), "stored": yuan(stored)}
            d["links"] = [_link(_("Postings of the day"), postings_url(dc, e.ref))]
        elif e.kind == K.OPERATOR:
            op = operators.get(ref)
            d["subject"] = str(op.operator) if op else _("Operator %(no)s") % {"no": e.ref}
            if op:
                d["text"] = _("Cash booked %(booked)s yuan; the top-up records add up to %(stored)s yuan.") % {
                    "booked": yuan(op.cash_from_terminals), "stored": yuan(op.deposit_amount)}
            d["links"] = [_link(_("Top-ups of the day"), _records_url(operator_no=e.ref, business_day=dc.day))]
            if op:
                d["links"].append(_link(_("Postings of the day"), postings_url(dc, LedgerAccount.Kind.CASH,
                                                                               op.cash_account_id)))
        elif e.kind == K.CARD_FLAG:
            f = flags.get(ref)
            if f:
                d["subject"] = _("Card %(card_no)s") % {"card_no": f["card_no"]}
                if f["kind"] == CardFlag.Kind.COUNTER_GAP:  # counters, not money
                    d["money"] = False
                    d["text"] = _("%(kind)s: the host expected counter %(expected)s, the card said %(actual)s.") % {
                        "kind": flag_kinds.get(f["kind"], f["kind"]), "expected": f["expected"], "actual": f["actual"]}
                else:
                    d["text"] = _("%(kind)s: the host expected %(expected)s yuan, the card said %(actual)s yuan.") % {
                        "kind": flag_kinds.get(f["kind"], f["kind"]), "expected": yuan(f["expected"]),
                        "actual": yuan(f["actual"])}
                d["links"] = [_link(_("Flag"), reverse("admin:terminals_cardflag_change", args=[ref])),
                              _link(_("Record"), reverse("admin:terminals_record_change", args=[f["record_id"]]))]
        elif e.kind == K.RECORD:
            r = records.get(ref)
            if r:
                d["subject"] = _("Terminal %(terminal)s record %(seq)s, card %(card_no)s") % {
                    "terminal": r["terminal_id"], "seq": r["term_seq"], "card_no": r["card_no"]}
                d["text"] = _("%(status)s: %(problems)s") % {
                    "status": Record.Status(r["status"]).label, "problems": terminal_labels.record_problems_text(r["problems"])}
                d["links"] = [_link(_("Record"), reverse("admin:terminals_record_change", args=[ref]))]
        elif e.kind == K.BANK and e.ref.startswith("diff:"):
            d["subject"] = _("Bank statement difference")
            d["text"] = _("The bank's statement and the campus records differ by %(amount)s yuan; not yet "
                          "adjusted (R-ADJ-1).") % {"amount": yuan(e.amount)}
            d["links"] = [_link(_("Statement difference"), reverse("admin:moneyin_statementdifference_change",
                                                                   args=[e.ref.split(":", 1)[1]]))]
        elif e.kind == K.BANK:
            d["subject"] = account_kind_label(LedgerAccount.Kind.BANK)
            d["text"] = _("Bank transfers booked to bank clearing and the transfers credited differ by %(amount)s "
                          "yuan.") % {"amount": yuan(e.amount)}
            d["links"] = [_link(_("Bank transfers"), reverse("admin:moneyin_banktransfer_changelist"))]
        elif e.kind == K.TERMINAL and ref is not None:
            d["subject"] = _("Terminal %(terminal)s") % {"terminal": ref}
            d["links"] = [_link(_("Terminal"), reverse("admin:terminals_terminal_change", args=[ref]))]
        if not d["subject"]:
            d["subject"] = e.ref
        if e.resolved_at is None:
            d["links"].append(_link(_("Resolve"), reverse("admin:settlement_closeexception_resolve", args=[e.pk])))
        out.append(d)
    return out


def _yuan_side(amount: int) -> str:
    """A debit-positive balance in words: "1.00 (debit)" / "2.00 (credit)"."""
    if amount < 0:
        return _("%(amount)s (credit)") % {"amount": yuan(-amount)}
    return _("%(amount)s (debit)") % {"amount": yuan(amount)}


# --- the rest of the page ---------------------------------------------------------------------------

def merchants(dc: DayClose) -> list[dict]:
    rows = list(dc.merchants.order_by("merchant_id"))
    facts = selectors.merchant_facts(merchant_ids=[r.merchant_id for r in rows]) if rows else {}
    out = []
    for r in rows:
        f = facts.get(r.merchant_id, {})
        out.append({"row": r, "code": f.get("code", ""), "name": f.get("name", ""),
                    "url": _records_url(merchant__id__exact=r.merchant_id, business_day=dc.day)})
    return out


def attention(dc: DayClose) -> dict:
    """What the close counted that staff deal with elsewhere, from its stored totals, in words."""
    t = dc.totals or {}
    terminals = [{"terminal_id": x["terminal_id"], "problems": terminal_labels.terminal_problems_text(x["problems"]),
                  "url": reverse("admin:terminals_terminal_change", args=[x["terminal_id"]])}
                 for x in t.get("terminals_attention", [])[:50]]
    return {
        "card_flags_open": t.get("card_flags", {}).get("open", 0),
        "card_flags_raised": t.get("card_flags", {}).get("raised", 0),
        "records_open": t.get("record_exceptions", {}).get("open", 0),
        "records_received": t.get("record_exceptions", {}).get("received", 0),
        "lost_ranges": t.get("lost_ranges", 0), "record_conflicts": t.get("record_conflicts", 0),
        "terminals": terminals, "terminals_count": t.get("terminals_attention_count", 0),
        "pending_written": t.get("pending_written", 0),
        "purses_moved": t.get("purses", {}).get("moved", 0),
        "purses_mismatched": t.get("purses", {}).get("mismatched", 0),
        "flags_url": f"{reverse('admin:terminals_cardflag_changelist')}?resolved_at__isnull=True",
        "records_url": _records_url(status=Record.Status.EXCEPTION),
    }


def day_close_detail(*, dc: DayClose) -> dict:
    prev = previous_close(dc)
    return {
        "dc": dc, "previous": prev, "trial": trial_balance(dc), "comparison": comparison(dc, prev),
        "differences": differences(dc), "merchants": merchants(dc),
        "operators": list(dc.operators.select_related("operator").order_by("operator_id")),
        "attention": attention(dc),
        "journals_url": f"{reverse('admin:accounts_journal_changelist')}?{urlencode({'business_day': dc.day})}",
    }


def day_postings(*, dc: DayClose, kind: str, account_id: int | None = None) -> dict:
    count, rows = daybook.day_postings(day=dc.day, kind=kind, account_id=account_id)
    jk = dict(Journal.Kind.choices)
    for r in rows:
        r["journal_kind_label"] = jk.get(r["journal_kind"], r["journal_kind"])
        r["debit"], r["credit"] = (r["amount"], None) if r["amount"] > 0 else (None, -r["amount"])
        r["url"] = reverse("admin:accounts_journal_change", args=[r["journal_id"]])
    return {"dc": dc, "kind": kind, "kind_label": account_kind_label(kind), "count": count, "rows": rows,
            "debit": sum(r["debit"] or 0 for r in rows), "credit": sum(r["credit"] or 0 for r in rows),
            "account_id": account_id}
