"""Login pages under hostile input: over-long names, junk passwords, missing CSRF. Each gets the
ordinary "wrong username or password" answer (or 403 for CSRF), and the lockout still counts."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt

from .conftest import login

pytestmark = pytest.mark.django_db

LOGIN_PAGES = ["/admin/login/", "/merchant/login/"]


@pytest.mark.parametrize("url", LOGIN_PAGES)
@pytest.mark.parametrize("username", ["a" * 256, "国" * 1000, "x" * 20000])
def test_an_over_long_username_is_a_wrong_login_not_a_500(url, username):
    """Regression: django-axes stored the raw username in varchar(255) -> DataError -> 500."""
    response = login().post(url, {"username": username, "password": "x" * 5000})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert AccessAttempt.objects.get().username == username[:255]


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_the_lockout_still_counts_over_long_names(url, settings):
    """Five failures with the same over-long name lock it, as for any other name."""
    name = "b" * 400
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login().post(url, {"username": name, "password": "wrong"})
    response = login().post(url, {"username": name, "password": "wrong"})
    assert response.status_code == 429


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_login_without_csrf_token_is_refused(url, world):
    response = login(csrf=True).post(url, {"username": "h_mer", "password": "pw-h_mer"})
    assert response.status_code == 403
    assert "_auth_user_id" not in login(csrf=True).session
