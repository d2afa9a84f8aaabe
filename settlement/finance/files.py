"""Finance's payout file: the payout list with each payee's full bank account (the screen shows
it masked). Built as a reports.Table so it renders like the other reports."""

from __future__ import annotations

from django.utils.translation import gettext as _

from .. import reports, selectors


def payout_rows(*, period_start=None, period_end=None) -> list[dict]:
    """Approved or paid statements with money to pay, with the payee's bank account."""
    rows = []
    for st in selectors.statements_payable(period_start=period_start, period_end=period_end):
        m = st.merchant
        rows.append({
            "statement": st, "payee": str(m) if m else _("Catering service centre"),
            "bank_name": m.bank_name if m else "", "account_name": m.bank_account_name if m else "",
            "account_no": m.bank_account_no if m else "", "account_masked": m.bank_account_masked if m else "",
        })
    return rows


def payout_table(*, period_start=None, period_end=None) -> reports.Table:
    table = reports.Table(
        title=_("Settlement payout list"),
        headers=[_("Period"), _("Payee"), _("Bank"), _("Account name"), _("Account number"), _("Net payable (yuan)"),
                 _("Management fee (yuan)"), _("Status"), _("Bank reference")],
        money={5, 6},
    )
    for r in payout_rows(period_start=period_start, period_end=period_end):
        st = r["statement"]
        table.rows.append([f"{st.period_start}…{st.period_end}", r["payee"], r["bank_name"], r["account_name"],
                           r["account_no"], st.net, st.fee, str(st.get_status_display()), st.bank_ref])
    table.totals = [_("Total"), "", "", "", "", sum(r[5] for r in table.rows), sum(r[6] for r in table.rows), "", ""]
    missing = [r[1] for r in table.rows if not r[4]]
    if missing:
        table.notes.append(_("No bank account on file: %(payees)s") % {"payees": ", ".join(missing)})
    return table
