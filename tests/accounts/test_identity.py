"""Who a holder is: ID numbers checked with python-stdnum (check digit, birth date), passports for
exchange students, mobile numbers, photos re-encoded, and the search a clerk types into."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from accounts import identity, selectors, services
from accounts.errors import BusinessError
from accounts.models import Cardholder
from accounts.photos import photo_normalise
from tests.accounts.helpers import fast_password_hashing  # noqa: F401  (autouse)
from tests.desk.conftest import id_number
from tests.factories import HolderFactory, UnitFactory

pytestmark = pytest.mark.django_db


def test_resident_id_numbers_are_checked_and_stored_with_a_capital_x():
    good = id_number(7)
    assert identity.id_number_clean(good) == good
    assert identity.id_number_clean(f" {good[:6]} {good[6:]} ".lower()) == good.upper()
    wrong_digit = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(BusinessError, match="check digit"):
        identity.id_number_clean(wrong_digit)
    with pytest.raises(BusinessError, match="birth date"):
        body = "11010820071345001"  # month 13
        from stdnum.cn import ric

        identity.id_number_clean(body + ric.calc_check_digit(body + "0"))
    with pytest.raises(BusinessError, match="18-character"):
        identity.id_number_clean("1234")
    with pytest.raises(BusinessError) as refused:
        identity.id_number_clean(wrong_digit)
    assert wrong_digit not in str(refused.value)  # a refusal never repeats a whole ID number


def test_an_exchange_student_may_give_a_passport_number():
    assert identity.id_number_clean("e1234567", category="intl_exchange") == "E1234567"
    with pytest.raises(BusinessError):
        identity.id_number_clean("E12", category="intl_exchange")
    with pytest.raises(BusinessError):
        identity.id_number_clean("E1234567", category="staff")  # others give their resident ID


@pytest.mark.parametrize("raw, clean", [("13912345678", "13912345678"), ("+86 139-1234-5678", "13912345678"),
                                        ("", "")])
def test_mobile_numbers(raw, clean):
    assert identity.phone_clean(raw) == clean


@pytest.mark.parametrize("raw", ["12345678901", "1391234567", "abc"])
def test_bad_mobile_numbers(raw):
    with pytest.raises(BusinessError):
        identity.phone_clean(raw)


def test_holder_create_checks_id_and_number_and_update_keeps_an_old_number_on_file(staff):
    unit = UnitFactory()
    with pytest.raises(BusinessError):
        services.holder_create(actor=staff, number="A1", name="甲", category="staff", unit=unit, id_number="123")
    with pytest.raises(BusinessError):
        services.holder_create(actor=staff, number="A 1", name="甲", category="staff", unit=unit)
    assert not Cardholder.objects.filter(name="甲").exists()
    legacy = HolderFactory(id_number="110101200001011234")  # from before the check: its digit is wrong
    services.holder_update(actor=staff, holder=legacy, name="新名字", id_number=legacy.id_number)
    assert Cardholder.objects.get(pk=legacy.pk).name == "新名字"


def _image(fmt="JPEG", size=(300, 400)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 10)).save(out, fmt)
    return out.getvalue()


def test_photos_are_re_encoded_small_and_bad_ones_refused():
    jpeg = photo_normalise(_image("PNG", (1200, 1600)))
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG" and image.size == (480, 640) and not image.info.get("exif")
    for bad in (b"", b"not an image", _image("GIF"), _image(size=(50, 50))):
        with pytest.raises(BusinessError):
            photo_normalise(bad)


def test_a_photo_is_saved_through_the_service_and_audited(staff, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    holder = HolderFactory()
    services.holder_photo_set(actor=staff, holder=holder, content=_image())
    holder.refresh_from_db()
    assert holder.photo.name.startswith("photos/") and (tmp_path / holder.photo.name).exists()
    assert holder.audit.filter(action="holder_photo", actor=staff).exists()


def test_search_by_part_of_the_number_and_the_id_number_tail(staff):
    a = HolderFactory(number="T2026001", name="林小雨", id_number=id_number(31))
    b = HolderFactory(number="T2026002", name="王小明", id_number=id_number(32))
    assert list(selectors.holder_search(q="T2026001")) == [a]
    assert set(selectors.holder_search(q="T20260")) == {a, b}
    assert list(selectors.holder_search(q=a.id_number[-4:])) == [a]
    assert list(selectors.holder_search(q="小雨")) == [a]
    assert list(selectors.holder_search(q="T2")) == []  # two characters are too few for a part
    assert list(selectors.holder_search(q="\x00")) == []
