"""Fixtures for merchants: the people who sign the forms, a unit, merchants pending and active."""

import pytest
from django.contrib.auth import get_user_model

from merchants import services
from merchants.models import MerchantKind, MerchantUser
from tests.factories import UnitFactory


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def root(make_user):
    return make_user("mroot", "super_admin", is_superuser=True)


@pytest.fixture
def centre(make_user):
    return make_user("centre_a", "card_centre")


@pytest.fixture
def centre2(make_user):
    return make_user("centre_b", "card_centre")


@pytest.fixture
def fin(make_user):
    return make_user("fin_a", "finance")


@pytest.fixture
def unit(db):
    return UnitFactory(code="HQ", name="后勤集团")


@pytest.fixture
def other_unit(db):
    return UnitFactory(code="LIB", name="图书馆")


def _fresh(user):
    return get_user_model().objects.get(pk=user.pk)


@pytest.fixture
def officer(root, unit, make_user):
    """An officer of the managing unit (主管部门)."""
    user = make_user("officer_hq", None)
    services.unit_approver_add(actor=root, unit=unit, user=user)
    return _fresh(user)


@pytest.fixture
def other_officer(root, other_unit, make_user):
    user = make_user("officer_lib", None)
    services.unit_approver_add(actor=root, unit=other_unit, user=user)
    return _fresh(user)


@pytest.fixture
def plain_user(db):
    """A login that is not staff: merchant users are these."""
    counter = {"n": 0}

    def make(name=None):
        counter["n"] += 1
        return get_user_model().objects.create_user(username=name or f"muser{counter['n']}", password="pw")

    return make


@pytest.fixture
def contact(plain_user):
    return plain_user("contact_a")


@pytest.fixture
def applicant(plain_user):
    return plain_user("contact_p")


@pytest.fixture
def applied(centre, unit, applicant):
    """A merchant applied for on its access form (U§5): PENDING, contact named."""
    return services.merchant_apply(actor=centre, code="C01", name="第一食堂", kind=MerchantKind.DINING, unit=unit,
                                   contact=applicant, payload={"business_scope": "师生餐饮"})


@pytest.fixture
def merchant(root, unit, contact):
    """An approved (ACTIVE) internal dining merchant with its settlement contact."""
    m = services.merchant_create(actor=root, code="D01", name="第二食堂", kind=MerchantKind.DINING, unit=unit,
                                 bank_name="工商银行", bank_account_name="后勤集团", bank_account_no="6222020200001234567")
    services.merchant_user_add(actor=root, merchant=m, user=contact, role=MerchantUser.Role.CONTACT)
    return m


@pytest.fixture
def contact_user(merchant, contact):
    """The active merchant's settlement contact, fresh from the database (no cached permissions)."""
    return _fresh(contact)


def approve_all(application, *people, comment="同意"):
    """Approve each step in turn, one person per step."""
    for person in people:
        application = services.application_decide(actor=person, application=application, approve=True, comment=comment)
    return application
