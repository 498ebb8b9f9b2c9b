"""Starting screens: validation and permissions, the task queue, the web page, the command."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from safetynet.core.errors import Conflict, PermissionDenied, ValidationFailed
from safetynet.screening import services, tasks
from safetynet.screening.models import Finding, ScreenRun

from .conftest import VILLAGES

AS_OF = dt.date(2024, 6, 30)
pytestmark = pytest.mark.django_db


def make_user(username, role, area):
    from safetynet.accounts.services import user_create

    return user_create(
        actor=None, username=username, password="pw-12345678", role=role, area_code=area
    )


def test_bad_requests_are_refused_with_both_languages(villages):
    with pytest.raises(ValidationFailed) as bad_engine:
        services.screen_request(actor=None, as_of=AS_OF, engine="polars")
    assert "duckdb" in bad_engine.value.zh and "unknown engine" in bad_engine.value.en
    with pytest.raises(ValidationFailed):
        services.screen_request(actor=None, as_of=AS_OF, area_codes=["999999"])
    with pytest.raises(ValidationFailed):
        services.screen_request(actor=None, as_of=AS_OF, area_codes=["36x"])
    assert not ScreenRun.objects.exists()


def test_only_county_officers_and_admins_start_screens_in_their_area(villages):
    cadre = make_user("cadre", "village", VILLAGES[0])
    county = make_user("county", "county", "360827")
    with pytest.raises(PermissionDenied):
        services.screen_request(actor=cadre, as_of=AS_OF)
    with pytest.raises(PermissionDenied):
        services.screen_request(actor=county, as_of=AS_OF, area_codes=["430224"])
    run = services.screen_request(actor=county, as_of=AS_OF)
    assert run.area_codes == ["360827"] and run.started_by == county
    nested = services.screen_request(actor=None, as_of=AS_OF, area_codes=["360827", VILLAGES[0]])
    assert nested.area_codes == ["360827"]


def test_overlapping_runs_wait_and_stale_runs_are_failed(small_registry, scripted_engine):
    busy = services.screen_request(actor=None, as_of=AS_OF, area_codes=["36"])
    ScreenRun.objects.filter(pk=busy.pk).update(status="running", heartbeat_at=timezone.now())
    with pytest.raises(Conflict):
        services.screen_run(actor=None, as_of=AS_OF, area_codes=["360827"])
    # a run that stopped reporting (killed process) no longer blocks
    ScreenRun.objects.filter(pk=busy.pk).update(heartbeat_at=timezone.now() - timedelta(hours=2))
    run = services.screen_run(actor=None, as_of=AS_OF, area_codes=["360827"])
    assert run.status == "succeeded"
    assert ScreenRun.objects.get(pk=busy.pk).status == "failed"


def test_scheduled_screen_runs_in_the_task_worker(
    small_registry, scripted_engine, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    with django_capture_on_commit_callbacks(execute=True):
        run = services.screen_schedule(actor=None, as_of=None, area_codes=["430224"])
    run.refresh_from_db()
    assert run.status == "queued" and run.task_id
    task = DBTaskResult.objects.get(pk=run.task_id)
    assert task.args_kwargs["kwargs"] == {"run_id": run.pk, "as_of_today": True}
    result = tasks.run_screen.call(run_id=run.pk, as_of_today=True)
    run.refresh_from_db()
    assert result["status"] == "succeeded" and run.as_of == timezone.localdate()
    assert Finding.objects.filter(kind="warning", village_code__startswith="430224").exists()


def test_screening_pages(
    client, small_registry, scripted_engine, django_capture_on_commit_callbacks
):
    cadre = make_user("cadre", "village", VILLAGES[0])
    county = make_user("county", "county", "360827")
    other = make_user("other", "county", "430224")
    client.force_login(cadre)
    assert client.get(reverse("screening:runs")).status_code == 404
    client.force_login(county)
    page = client.get(reverse("screening:runs"))
    assert page.status_code == 200 and 'data-testid="screen-form"' in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("screening:runs"), {"as_of": "2024-06-30", "engine": "duckdb", "area_code": ""}
        )
    run = ScreenRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "screening:run", args=[run.pk]
    )
    assert run.area_codes == ["360827"] and run.status == "queued"
    partial = client.get(reverse("screening:progress", args=[run.pk])).content.decode()
    assert "hx-get" in partial  # polled while queued
    tasks.run_screen.call(run_id=run.pk)
    partial = client.get(reverse("screening:progress", args=[run.pk])).content.decode()
    assert "hx-get" not in partial and "100%" in partial
    bad = client.post(
        reverse("screening:runs"),
        {"as_of": "2024-06-30", "engine": "duckdb", "area_code": "430224"},
    )
    assert bad.status_code == 200 and ScreenRun.objects.count() == 1
    client.force_login(other)
    assert client.get(reverse("screening:run", args=[run.pk])).status_code == 404
    assert client.get(reverse("screening:progress", args=[run.pk])).status_code == 404


def test_command_refuses_a_bad_date_in_both_languages(tmp_path):
    env = {**os.environ, "SAFETYNET_DATA_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "safetynet.cli", "screen", "--as-of", "2024-13-01"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2
    assert "日期" in out.stderr and "invalid date" in out.stderr and "Traceback" not in out.stderr
