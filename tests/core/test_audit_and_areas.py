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


@pytest.mark.django_db
def test_bulk_audit_rows_from_a_frame_equal_those_from_tuples():
    import json

    import polars as pl

    from safetynet.core import audit

    values = [
        ("1", "360703101001", None, {"name": "张三", "n": 1, "ok": True}),
        ("2", "", {"address": 'a\\b\tc\nd\re "f"'}, {"address": "\\N"}),
        ("3", None, None, {"empty": "", "none": None}),
    ]
    audit.bulk_insert(actor=None, action="create", object_type="t.tuple", rows=values, note="n")
    frame = pl.DataFrame(
        [
            (pk, area, None if b is None else json.dumps(b, ensure_ascii=False), json.dumps(a))
            for pk, area, b, a in values
        ],
        schema=["object_id", "area_code", "before", "after"],
        orient="row",
    )
    n = audit.bulk_insert(actor=None, action="create", object_type="t.frame", rows=frame, note="n")
    assert n == 3

    def stored(object_type):
        rows = AuditEvent.objects.filter(object_type=object_type).order_by("object_id")
        fields = ("object_id", "area_code", "before", "after", "action", "note", "actor_label")
        return [tuple(getattr(e, f) for f in fields) for e in rows]

    assert stored("t.frame") == stored("t.tuple")
    assert stored("t.frame")[1][2:4] == ({"address": 'a\\b\tc\nd\re "f"'}, {"address": "\\N"})
    assert stored("t.frame")[2][1] == ""  # no area: empty text, as `record` writes it


@pytest.mark.django_db(transaction=True)
def test_insert_frames_is_all_or_nothing_inside_a_transaction():
    import polars as pl
    from django.db import DatabaseError, transaction

    from safetynet.core import audit

    def job(object_type: str, action) -> tuple[str, pl.LazyFrame]:
        rows = pl.DataFrame(
            {"object_id": ["1", "2"], "area_code": ["", ""], "before": [None, None]},
            schema={"object_id": pl.String, "area_code": pl.String, "before": pl.String},
        ).with_columns(pl.lit('{"a": 1}').alias("after"))
        table, frame = audit.bulk_frame(
            actor=None, action="create", object_type=object_type, rows=rows
        )
        return table, frame.with_columns(pl.lit(action, pl.String).alias("action"))

    done = []
    n = audit.insert_frames([job("t.one", "create"), job("t.two", "create")], done=done.append)
    assert n == 4 and done == [0, 1]
    assert AuditEvent.objects.filter(object_type__startswith="t.").count() == 4

    # A row the database refuses (no action) in the second table: the first is undone too.
    with pytest.raises(DatabaseError), transaction.atomic():
        audit.insert_frames([job("t.three", "create"), job("t.four", None)])
    # A frame that fails while its chunks are made (on PostgreSQL in the second thread): the
    # error reaches the caller, and the first table is undone as well.
    table, frame = job("t.five", "create")
    failing = frame.with_columns(pl.lit("x").cast(pl.Int64, strict=True).alias("object_id"))
    with pytest.raises(pl.exceptions.PolarsError), transaction.atomic():
        audit.insert_frames([job("t.six", "create"), (table, failing)])
    assert set(
        AuditEvent.objects.filter(object_type__startswith="t.").values_list(
            "object_type", flat=True
        )
    ) == {"t.one", "t.two"}
