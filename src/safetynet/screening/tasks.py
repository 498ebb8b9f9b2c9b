"""Screens run by the task queue (django-tasks, database backend).

A worker picks them up: `safetynet manage db_worker` (see docs/operator/screening.md).
"""

from __future__ import annotations

from django.utils import timezone
from django_tasks import task

from .models import ScreenRun


@task()
def run_screen(run_id: int, as_of_today: bool = False) -> dict:
    """Run a queued screen; `as_of_today` re-dates it to the day the worker runs it."""
    from .services import screen_execute

    run = ScreenRun.objects.get(pk=run_id)
    if as_of_today and run.status == ScreenRun.Status.QUEUED:
        run.as_of = timezone.localdate()
        run.save(update_fields=["as_of"])
    run = screen_execute(run=run)
    return {"run": run.pk, "status": run.status, "counts": run.counts}
