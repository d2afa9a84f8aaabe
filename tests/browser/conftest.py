"""Browser tests: Playwright drives Debian's Chromium (never a downloaded browser) against
pytest-django's live_server. Screenshots go to var/test-artifacts/ (kept, gitignored)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.accounts.helpers import fast_password_hashing  # noqa: F401

# Playwright's sync API keeps an event loop in this thread; Django's ORM calls from the test
# body are still synchronous, so the async-safety guard does not apply here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


@pytest.fixture
def browser():
    """Per test: Playwright's sync API keeps an asyncio loop running in this thread while it is
    open, which would break later tests that call asyncio.run (the gateway tests)."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A phone-sized page (the fronts must work on one), Chinese by default."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", accept_downloads=True)
    context.set_default_timeout(15000)
    page = context.new_page()
    page.base = live_server.url
    yield page
    context.close()


@pytest.fixture
def shot(request):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str):
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
