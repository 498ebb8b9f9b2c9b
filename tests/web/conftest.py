import pytest
from django.test import Client

from tests.web.factories import PASSWORD, build_world


@pytest.fixture(autouse=True)
def _fast_web_settings(settings, tmp_path):
    """Cheap password hashing (many personas sign in) and an existing static root."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def client_for(world):
    """A Django test client signed in as a named persona: ``client_for("village")``."""

    def _client(username: str, language: str | None = None) -> Client:
        client = Client()
        assert client.login(username=username, password=PASSWORD), username
        if language:
            client.cookies["django_language"] = language
        return client

    return _client


@pytest.fixture(autouse=True)
def web_hooks_only():
    """Web tests see only the web layer's own navigation and no other app's panels, so they
    test this layer whatever state the other contexts are in; tests add their own panels."""
    from safetynet.web import hooks

    reg = hooks._registry
    saved = {
        k: dict(getattr(reg, k))
        for k in ("nav", "profile_panels", "dashboard_panels", "timeline_sources")
    }
    reg.nav = {k: v for k, v in reg.nav.items() if k in {"home", "households", "users"}}
    reg.profile_panels, reg.dashboard_panels, reg.timeline_sources = {}, {}, {}
    yield
    for k, v in saved.items():
        setattr(reg, k, v)
