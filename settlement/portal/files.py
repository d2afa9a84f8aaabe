"""A merchant's own settlement statement as a file (PDF or XLSX): its days from the daily closes,
the statement's totals, fee and net. Built as a reports.Table so it renders like finance's reports."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.formatting import yuan

from .. import reports
from . import selectors


def statement_table(*, statement) -> reports.Table:
    merchant = statement.merchant
    table = reports.Table(
        title=f"{_('Settlement statement')} {merchant.code} {merchant.name} {statement.period_start} — {statement.period_end}",
        headers=[_("Business day"), _("Purchases"), _("Consumption settled (yuan)"), _("Merchant refunds (yuan)"),
                 _("Corrections (yuan)"), _("Records held out"), _("Held out (yuan)")],
        money={2, 3, 4, 6},
    )
    for d in selectors.statement_days(statement=statement):
        table.rows.append([d["day"], d["purchases"], d["settled"], d["refunds"], d["corrections"], d["held_count"],
                           d["held_amount"]])
    # The statement's own figures: a checked statement stays as it was checked.
    table.totals = [_("Total"), statement.purchases, statement.consumption, statement.refunds,
                    statement.corrections, statement.held_count, statement.held_amount]
    table.notes += [
        _("Management fee (0.5%% of %(base)s yuan, M§43): %(fee)s yuan") % {"base": yuan(statement.fee_base),
                                                                           "fee": yuan(statement.fee)},
        _("Net payable: %(net)s yuan") % {"net": yuan(statement.net)},
        _("Status: %(status)s") % {"status": statement.get_status_display()},
    ]
    if statement.applied_at:
        table.notes.append(_("Applied for at %(at)s") % {
            "at": timezone.localtime(statement.applied_at).strftime("%Y-%m-%d %H:%M")})
    if merchant.bank_account_no:
        table.notes.append(_("Paid to: %(bank)s %(name)s %(account)s") % {
            "bank": merchant.bank_name, "name": merchant.bank_account_name, "account": merchant.bank_account_masked})
    if statement.bank_ref:
        table.notes.append(_("Bank reference: %(ref)s") % {"ref": statement.bank_ref})
    return table


def statement_file(*, statement, fmt: str) -> bytes:
    return reports.RENDERERS[fmt](statement_table(statement=statement))
