"""The review queue: side by side, decisions stored, audited, re-applied on reload, scoped."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from safetynet.cli import app
from safetynet.core.errors import NotFound, PermissionDenied
from safetynet.core.models import AuditEvent
from safetynet.feeds import selectors, services
from safetynet.feeds.models import LinkDecision

from .conftest import VILLAGE_A, VILLAGE_B
from .test_linkage import links, load_claims, substitute


@pytest.fixture
def queued(registry, feed_file):
    """A typo link to confirm (village A) and an ambiguous no-ID record (review band)."""
    rows = [
        ["t1", substitute(registry["zhang_san"], 12), "张三", "", "", "", "2024-03-01"],
        ["p3", "", "陈晓红", "1988-08-08", "F", "", "2024-03-01"],
        ["p4", "", "周建国", "1966-02-02", "M", VILLAGE_B, "2024-03-01"],
    ]
    load_claims(feed_file, rows)
    return registry


def _user(username, role, area):
    from safetynet.accounts.models import User

    return User.objects.create(username=username, role=role, area_id=area)


@pytest.mark.django_db
def test_queue_shows_both_sides_masked(queued):
    items = {i["record_id"]: i for i in selectors.review_queue(user=None, kind="medical_claims")}
    assert set(items) == {"t1", "p3"}
    t1 = items["t1"]
    assert t1["record_name"] == "张三" and t1["to_confirm"]
    assert "*" in t1["record_id_number_display"]
    (cand,) = t1["candidates"]
    assert cand["name"] == "张三" and cand["household_id"] == "HH-A1"
    assert cand["id_number_display"] != cand["id_number"] and "*" in cand["id_number_display"]
    assert {c["village_code"] for c in items["p3"]["candidates"]} == {VILLAGE_A, VILLAGE_B}
    assert selectors.review_count(user=None) == 2
    assert selectors.review_count(user=None, kind="deaths") == 0
    assert selectors.review_queue(user=None, limit=1)[0]["record_id"] in {"t1", "p3"}
    assert len(selectors.review_queue(user=None, limit=1, offset=1)) == 1
    unmasked = selectors.review_queue(user=None, kind="medical_claims", unmask=True)
    assert queued["zhang_san"] in {
        c["id_number_display"] for i in unmasked for c in i["candidates"]
    }


@pytest.mark.django_db
def test_confirm_and_reject_are_stored_audited_and_take_effect(queued):
    chen_a, chen_b = queued["chen_a"], queued["chen_b"]
    services.link_confirm(actor=None, kind="medical_claims", record_id="t1", note="核对户口本")
    services.link_reject(actor=None, kind="medical_claims", record_id="p3", id_number=chen_a)

    t1 = LinkDecision.objects.get(record_id="t1")
    assert (t1.decision, t1.id_number, t1.method, t1.household_id) == (
        "confirm",
        queued["zhang_san"],
        "typo",
        "HH-A1",
    )
    assert t1.department == "医疗保障局" and t1.decided_by_label.startswith("cli")
    confirm = AuditEvent.objects.get(action="feed_link_confirm")
    assert confirm.after["id_number"] == queued["zhang_san"] and confirm.area_code == VILLAGE_A
    assert AuditEvent.objects.filter(action="feed_link_reject").count() == 1

    got = links()
    assert got["t1"]["status"] == "linked" and got["t1"]["id"] == queued["zhang_san"]
    assert selectors.review_queue(user=None) == []  # both decided

    # Re-linking applies the decisions: the rejected person is not proposed again.
    services.feed_link(actor=None)
    got = links()
    assert got["t1"]["id"] == queued["zhang_san"] and got["t1"]["method"] == "typo"
    assert got["p3"]["id"] == chen_b or got["p3"]["status"] == "review"
    decided_p3 = selectors.record_link("medical_claims", "p3")
    assert chen_a not in {c["id_number"] for c in decided_p3["candidates"] or []}
    assert decided_p3["decision"] == "reject"
    # If p3 still needs a person, it is back in the queue with the remaining candidate only.
    queued = {i["record_id"]: i for i in selectors.review_queue(user=None)}
    if got["p3"]["status"] == "review":
        assert [c["id_number"] for c in queued["p3"]["candidates"]] == [chen_b]
    else:
        assert "p3" not in queued


@pytest.mark.django_db
def test_confirming_another_person_links_manually(queued):
    services.link_confirm(
        actor=None, kind="medical_claims", record_id="p3", id_number=queued["chen_b"]
    )
    assert links()["p3"] == {
        "id": queued["chen_b"],
        "hh": "HH-B1",
        "method": "manual",
        "score": 1.0,
        "status": "linked",
    }
    # Changing one's mind: confirming the other turns the first confirmation into a rejection.
    services.link_confirm(
        actor=None, kind="medical_claims", record_id="p3", id_number=queued["chen_a"]
    )
    assert links()["p3"]["id"] == queued["chen_a"]
    assert LinkDecision.objects.get(id_number=queued["chen_b"]).decision == "reject"


@pytest.mark.django_db
def test_decisions_survive_a_reload_in_a_new_batch(queued, feed_file):
    services.link_confirm(
        actor=None, kind="medical_claims", record_id="p3", id_number=queued["chen_b"]
    )
    services.link_reject(actor=None, kind="medical_claims", record_id="t1")
    # The department sends the same records again in a later, different file.
    rows = [
        ["t1", substitute(queued["zhang_san"], 12), "张三", "", "", "", "2024-03-01"],
        ["p3", "", "陈晓红", "1988-08-08", "F", "", "2024-03-01"],
        ["p9", "", "吴桂英", "1970-04-04", "F", VILLAGE_B, "2024-04-01"],
    ]
    second = load_claims(feed_file, rows, name="claims-april.csv")
    assert second.created
    got = links()
    assert got["p3"]["id"] == queued["chen_b"] and got["p3"]["status"] == "linked"
    assert got["t1"]["id"] is None and got["t1"]["status"] == "unlinked"
    import duckdb

    from safetynet.feeds.lake import links_dir, part_file

    stored = duckdb.sql(
        f"SELECT record_id, id_number, decision FROM read_parquet("
        f"'{part_file(links_dir('medical_claims', second.batch.batch_id))}') ORDER BY 1"
    ).fetchall()
    assert ("p3", queued["chen_b"], "confirm") in stored and ("t1", None, "reject") in stored
    assert selectors.review_queue(user=None) == []


@pytest.mark.django_db
def test_queue_and_decisions_are_scoped(queued):
    cadre_b = _user("cadre_b", "village", VILLAGE_B)
    cadre_a = _user("cadre_a", "village", VILLAGE_A)
    county = _user("county", "county", "360724")
    nobody = _user("nobody", "village", None)
    assert {i["record_id"] for i in selectors.review_queue(user=county)} == {"t1", "p3"}
    # An item belongs to the village of its best candidate (p3: a tie, the first in order).
    assert {i["record_id"] for i in selectors.review_queue(user=cadre_a)} == {"t1", "p3"}
    assert selectors.review_queue(user=cadre_b) == []
    assert selectors.review_queue(user=nobody) == []
    with pytest.raises(PermissionDenied):
        services.link_confirm(actor=cadre_b, kind="medical_claims", record_id="t1")
    decision = services.link_confirm(actor=cadre_a, kind="medical_claims", record_id="t1")
    assert decision.decided_by == cadre_a
    with pytest.raises(NotFound):
        services.link_confirm(actor=None, kind="medical_claims", record_id="nope")


@pytest.mark.django_db
def test_review_commands(queued):
    runner = CliRunner()
    listed = runner.invoke(app, ["feed", "review", "--kind", "medical_claims", "--limit", "10"])
    assert listed.exit_code == 0, listed.output
    assert "medical_claims/t1" in listed.output and "部门记录 record" in listed.output
    assert queued["zhang_san"] not in listed.output  # masked
    assert not AuditEvent.objects.filter(action="view_unmasked").exists()

    unmasked = runner.invoke(app, ["feed", "review", "--unmask"])
    assert queued["zhang_san"] in unmasked.output
    assert AuditEvent.objects.filter(action="view_unmasked").count() == 1

    done = runner.invoke(app, ["feed", "review", "confirm", "medical_claims/t1"])
    assert done.exit_code == 0, done.output
    assert "已确认" in done.output and "confirmed" in done.output
    rejected = runner.invoke(
        app, ["feed", "review", "reject", "p3", "--kind", "medical_claims", "--note", "不是本人"]
    )
    assert rejected.exit_code == 0, rejected.output
    assert LinkDecision.objects.get(record_id="p3").note == "不是本人"
    assert "nothing to review" in runner.invoke(app, ["feed", "review"]).output
