import pytest

from safetynet.areas.models import Area
from safetynet.areas.services import load_reference_counties
from safetynet.core.models import AuditEvent


@pytest.mark.django_db
def test_reference_counties_load_once_and_are_audited():
    n = load_reference_counties(actor=None)
    assert Area.objects.filter(level=Area.Level.COUNTY).count() == 23
    assert n == 23 + 6 + 2  # counties, prefectures, provinces
    events = AuditEvent.objects.count()
    assert events == n
    load_reference_counties(actor=None)
    assert AuditEvent.objects.count() == events, "an identical reload must change nothing"
    assert Area.objects.get(code="360703").parent_id == "3607"


@pytest.mark.django_db
def test_audit_rows_cannot_be_changed():
    load_reference_counties(actor=None)
    event = AuditEvent.objects.first()
    with pytest.raises(RuntimeError):
        event.save()
    with pytest.raises(RuntimeError):
        event.delete()
