"""Browser tests: Playwright (pytest-playwright) driving Debian's chromium against Django's live
server.

- Everything under tests/browser/ is marked ``browser`` automatically; run with
  ``make test-browser`` (or ``DJANGO_ALLOW_ASYNC_UNSAFE=true pytest -m browser``).
- Chromium comes from apt (``make chromium``); ``playwright install`` is never used.
- ``base_url`` is the live server, so ``page.goto("/login/")`` works.
- Fixtures: ``world`` (named areas, households and personas, see tests/web/factories.py),
  ``phone_context`` / ``phone_page`` (390×844 touch screen), ``sign_in(page, username)``, and
  ``persona_page(username)`` — a phone-sized page already signed in as that persona.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.web.factories import PASSWORD, build_world

# Playwright's sync API runs an event loop in the test thread; Django's ORM refuses to run
# beside one unless told it is safe (the loop never runs ORM code concurrently here).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("SAFETYNET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
BROWSER_DIR = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if BROWSER_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)
            # The live server's WhiteNoise looks for STATIC_ROOT before fixtures can create it;
            # assets come from the finders, so that warning says nothing here.
            item.add_marker(pytest.mark.filterwarnings("ignore:No directory at:UserWarning"))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run `make chromium` (apt-get install chromium)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_FLAGS,
        "headless": True,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture(scope="session")
def base_url(live_server):
    return live_server.url


@pytest.fixture(autouse=True)
def _fast_browser_settings(settings, tmp_path):
    """Cheap password hashing for the personas, and an existing static root for WhiteNoise
    (vendor assets are served from the app's static folder through the finders)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir(exist_ok=True)


@pytest.fixture
def world(transactional_db):
    """Named areas, households and one persona per role (password ``PASSWORD``)."""
    return build_world()


@pytest.fixture
def phone_context(browser, browser_context_args):
    context = browser.new_context(
        **{
            **browser_context_args,
            "viewport": PHONE,
            "screen": PHONE,
            "is_mobile": True,
            "has_touch": True,
            "device_scale_factor": 2,
        }
    )
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def phone_page(phone_context):
    page = phone_context.new_page()
    yield page
    page.close()


@pytest.fixture
def sign_in(base_url):
    """Sign in through the real form: ``sign_in(page, "village")``."""

    def _sign_in(page, username: str, password: str = PASSWORD):
        page.goto(f"{base_url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("[data-testid=login-submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    return _sign_in


@pytest.fixture
def persona_page(world, phone_context, sign_in):
    """A phone-sized page signed in as a persona: ``page = persona_page("village")``."""

    def _persona_page(username: str):
        page = phone_context.new_page()
        return sign_in(page, username)

    return _persona_page
