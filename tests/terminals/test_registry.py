"""The terminal registry: registration, keys, assignment history, offline periods, PARAMS."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.errors import NotAllowed
from merchants.models import MerchantKind
from terminals import selectors, services
from terminals.models import Terminal


@pytest.mark.django_db
def test_terminal_add_command_prints_id_and_key(admin_user, merchants):
    out = io.StringIO()
    call_command("terminal_add", "--merchant", merchants[MerchantKind.DINING].code, "--kind", "dining", stdout=out)
    line = out.getvalue().strip()
    tid, key = line.split()
    terminal = Terminal.objects.get(pk=int(tid.split("=")[1]))
    assert bytes(terminal.key).hex() == key.split("=")[1] and len(bytes(terminal.key)) == 32


@pytest.mark.django_db
def test_key_rotation_changes_the_key(admin_user, make_terminal):
    terminal, key = make_terminal()
    new = services.terminal_key_rotate(actor=admin_user, terminal=terminal)
    terminal.refresh_from_db()
    assert new != key and bytes(terminal.key) == new


@pytest.mark.django_db
def test_assignment_history_R_TERM_1(admin_user, make_terminal, merchants):
    """R-TERM-1: a terminal moves between merchants with a history."""
    terminal, _ = make_terminal()
    services.terminal_assign(actor=admin_user, terminal=terminal, merchant=merchants[MerchantKind.RETAIL],
                             at=timezone.now() + dt.timedelta(seconds=1))
    history = list(terminal.assignments.order_by("valid_from"))
    assert [a.merchant.kind for a in history] == [MerchantKind.DINING, MerchantKind.RETAIL]
    assert history[0].valid_to == history[1].valid_from


@pytest.mark.django_db
def test_params_from_rates_and_offline_period_R_SUR_1_R_TERM_2(admin_user, make_terminal, rates):
    """R-SUR-1/2 rates are data; R-TERM-2 offline authorisation shows in PARAMS and bumps its version."""
    terminal, _ = make_terminal()
    before = selectors.terminal_params(terminal)
    assert (before.board_fee_bp, before.energy_fee_bp, before.water_multiplier_pct) == (1000, 500, 200)
    assert before.offline_until == 0
    now = timezone.now()
    services.offline_authorise(actor=admin_user, terminal=terminal, valid_from=now - dt.timedelta(minutes=1),
                               valid_to=now + dt.timedelta(hours=2), reason="network works")
    terminal.refresh_from_db()
    after = selectors.terminal_params(terminal)
    assert after.offline_until == int((now + dt.timedelta(hours=2)).timestamp())
    assert after.params_version > before.params_version


@pytest.mark.django_db
def test_a_future_rate_raises_params_version_when_it_takes_effect(admin_user, make_terminal, rates):
    terminal, _ = make_terminal()
    v1 = selectors.params_version(terminal)
    services.surcharge_rate_add(actor=admin_user, effective_from=timezone.now() + dt.timedelta(days=1),
                                board_fee_bp=1200, energy_fee_bp=500, water_multiplier_pct=200)
    assert selectors.params_version(terminal) == v1
    assert selectors.params_version(terminal, timezone.now() + dt.timedelta(days=2)) == v1 + 1


@pytest.mark.django_db
def test_only_staff_with_permission_register_terminals(make_user, merchants):
    clerk = make_user("fin", "finance")
    with pytest.raises(NotAllowed):
        services.terminal_add(actor=clerk, merchant=merchants[MerchantKind.DINING])
