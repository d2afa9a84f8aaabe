"""R-ADJ-1 (M§34): the bank's statement against the campus side: matched, long (长款), short (短款),
amount differs; every difference moved to suspense at once (bank clearing then equals the bank's
statement) and cleared by one of the four adjustments, asked by one person, approved by another
through accounts' maker-checker. Bad statement rows: a clear error, nothing changes."""

from __future__ import annotations

import pytest

from accounts import services
from accounts.errors import BusinessError
from accounts.models import Journal, LedgerAccount, Purse
from accounts.timeutil import business_day
from moneyin.banklink import bank_transfer
from moneyin.models import BankStatement, StatementDifference
from moneyin.reconcile import difference_adjustment_request, statement_import
from tests.accounts.helpers import formal_card

pytestmark = pytest.mark.django_db
K = StatementDifference.Kind


@pytest.fixture
def fin_a(make_user):
    return make_user("fin_a", "finance")


@pytest.fixture
def fin_b(make_user):
    return make_user("fin_b", "finance")


def bank_balance() -> int:
    return LedgerAccount.objects.get(kind="bank").balance


def suspense_balance() -> int:
    return LedgerAccount.objects.get(kind="suspense").balance


def test_r_adj_1_every_difference_kind_and_all_four_adjustments(bank, staff, fin_a, fin_b):
    h1 = formal_card(staff).holder
    h2 = formal_card(staff).holder
    ok, dropped, more, less, dropped2 = (bank_transfer(holder=h, amount=a) for h, a in
                                         ((h1, 1000), (h1, 5000), (h2, 4000), (h2, 2000), (h2, 600)))
    assert {t.status for t in (ok, dropped, more, less, dropped2)} == {"approved"}
    day = business_day()
    lines = bank.statement(day).splitlines()
    assert len(lines) == 6
    by_rrn = {line.split(",")[1]: line for line in lines[1:]}

    def amount(line, yuan):
        return ",".join(line.split(",")[:-1] + [yuan])

    rows = [by_rrn[ok.rrn], amount(by_rrn[more.rrn], "45.00"), amount(by_rrn[less.rrn], "15.00"),
            # The bank debited a holder's card for a transfer the campus never credited.
            f"{day},999000000001,000777,6222020000000000001,{h1.number},,8.00"]
    csv_text = "\n".join([lines[0], *rows]) + "\n"
    st = statement_import(actor=fin_a, day=day, content=csv_text.encode(), filename="bank.csv")
    assert (st.rows, st.matched, st.bank_total, st.campus_total) == (4, 1, 1000 + 4500 + 1500 + 800, 12600)
    diffs = {d.rrn: d for d in st.differences.all()}
    assert {(d.kind, d.difference) for d in diffs.values()} == {
        (K.SHORT, -5000), (K.SHORT, -600), (K.AMOUNT, 500), (K.AMOUNT, -500), (K.LONG, 800)}
    # Bank clearing now says what the bank says; suspense holds the differences to explain.
    assert bank_balance() == st.bank_total
    assert suspense_balance() == -(st.bank_total - st.campus_total)

    plan = {
        dropped.rrn: services.Adjustment.DEBIT_CAMPUS_CARD,   # 从校园卡扣款
        less.rrn: services.Adjustment.DEBIT_BANK_CARD,        # 从银行卡扣款
        dropped2.rrn: services.Adjustment.HOLDER_PAYS_IN,     # 持卡补缴款
        more.rrn: services.Adjustment.REFUND_HOLDER,          # 向持卡人补款
        "999000000001": services.Adjustment.REFUND_HOLDER,
    }
    # A kind that does not clear the difference's side is refused.
    with pytest.raises(BusinessError, match="cleared by"):
        difference_adjustment_request(actor=fin_a, difference=diffs[dropped.rrn],
                                      kind=services.Adjustment.REFUND_HOLDER, reason="x")
    for rrn, kind in plan.items():
        req = difference_adjustment_request(actor=fin_a, difference=diffs[rrn], kind=kind, reason="对帐差异")
        with pytest.raises(BusinessError, match="already"):
            difference_adjustment_request(actor=fin_a, difference=diffs[rrn], kind=kind, reason="again")
        with pytest.raises(BusinessError, match="someone other"):  # four eyes: the asker never approves
            services.adjustment_decide(actor=fin_a, request=req, approve=True)
        assert not StatementDifference.objects.get(pk=diffs[rrn].pk).resolved
        services.adjustment_decide(actor=fin_b, request=req, approve=True)
        assert StatementDifference.objects.get(pk=diffs[rrn].pk).resolved
    assert suspense_balance() == 0
    p1 = Purse.objects.select_related("account").get(holder=h1)
    p2 = Purse.objects.select_related("account").get(holder=h2)
    assert p1.account.balance == 1000 + 5000 - 5000 + 800
    assert p2.account.balance == 4000 + 2000 + 600 + 500
    assert Journal.objects.filter(kind="recon").count() == 5


def test_r_adj_1_rejected_adjustment_can_be_asked_again(bank, staff, fin_a, fin_b):
    h = formal_card(staff).holder
    t = bank_transfer(holder=h, amount=300)
    day = business_day()
    st = statement_import(actor=fin_a, day=day, content=bank.statement(day).splitlines()[0] + "\n")
    d = st.differences.get()
    assert d.kind == K.SHORT and d.rrn == t.rrn
    req = difference_adjustment_request(actor=fin_a, difference=d, kind="debit_bank_card", reason="r")
    services.adjustment_decide(actor=fin_b, request=req, approve=False, note="wrong kind")
    req2 = difference_adjustment_request(actor=fin_a, difference=d, kind="debit_campus_card", reason="r")
    services.adjustment_decide(actor=fin_b, request=req2, approve=True)
    d.refresh_from_db()
    assert d.resolved and suspense_balance() == 0


@pytest.mark.parametrize("row, error", [
    ("2026-13-01,{rrn},000001,6222,{acct},,10.00", "bad date"),
    ("yesterday,{rrn},000001,6222,{acct},,10.00", "bad date"),
    ("{day},{rrn},000001,6222,{acct},,10.0", "bad amount"),
    ("{day},{rrn},000001,6222,{acct},,-1.00", "bad amount"),
    ("{day},{rrn},000001,6222,{acct},,0.00", "bad amount"),
    ("{day},{rrn},000001,6222,{acct},,1e3", "bad amount"),
    ("{day},ABC,000001,6222,{acct},,10.00", "bad reference"),
    ("{day},{rrn},000001,6222,{acct},10.00", "columns"),
    ("2000-01-01,{rrn},000001,6222,{acct},,10.00", "is not the statement's day"),
])
def test_r_adj_1_bad_statement_rows_change_nothing(bank, staff, fin_a, row, error):
    h = formal_card(staff).holder
    t = bank_transfer(holder=h, amount=300)
    day = business_day()
    good = bank.statement(day).splitlines()
    bad = row.format(day=day, rrn="123456789012", acct=h.number)
    journals, bank_before = Journal.objects.count(), bank_balance()
    with pytest.raises(BusinessError, match=error) as exc:
        statement_import(actor=fin_a, day=day, content="\n".join([*good, bad]) + "\n")
    assert "Row 3" in str(exc.value)
    assert BankStatement.objects.count() == 0 and Journal.objects.count() == journals and bank_balance() == bank_before
    assert t.status == "approved"


def test_r_adj_1_statement_file_errors(bank, staff, fin_a):
    day = business_day()
    for content, error in ((b"rrn,amount\n", "header"), (b"\xff\xfe", "UTF-8")):
        with pytest.raises(BusinessError, match=error):
            statement_import(actor=fin_a, day=day, content=content)
    header = "date,rrn,stan,bank_card,campus_account,campus_card,amount\n"
    dup = header + f"{day},123456789012,1,1,1,,1.00\n{day},123456789012,1,1,1,,1.00\n"
    with pytest.raises(BusinessError, match="twice"):
        statement_import(actor=fin_a, day=day, content=dup)
    statement_import(actor=fin_a, day=day, content=header)
    with pytest.raises(BusinessError, match="already imported"):
        statement_import(actor=fin_a, day=day, content=header)
    with pytest.raises(Exception, match="not allowed"):
        statement_import(actor=staff, day=day, content=header)


def test_r_adj_1_statement_command_fetches_from_the_emulator(bank, staff, fin_a, tmp_path):
    from django.core.management import CommandError, call_command

    h = formal_card(staff).holder
    bank_transfer(holder=h, amount=4321)
    day = business_day()
    bad = tmp_path / "bad.csv"
    bad.write_text("date,rrn,stan,bank_card,campus_account,campus_card,amount\nx,1,1,1,1,,1.00\n")
    with pytest.raises(CommandError, match="Row 2"):
        call_command("statement_import", day=str(day), actor=fin_a.username, file=str(bad))
    assert not BankStatement.objects.exists()
    call_command("statement_import", day=str(day), actor=fin_a.username, fetch=True)
    st = BankStatement.objects.get()
    assert (st.rows, st.matched, st.differences.count()) == (1, 1, 0)
