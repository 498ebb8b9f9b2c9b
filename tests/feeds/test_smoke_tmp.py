import duckdb
import pytest

from safetynet.feeds import selectors, services
from tests.feeds.conftest import VILLAGE_A, VILLAGE_B


@pytest.mark.django_db
def test_smoke(registry, feed_file):
    zs = registry["zhang_san"]
    typo = zs[:10] + ("1" if zs[10] != "1" else "2") + zs[11:]
    rows = [
        ["c1", zs.lower(), "张三", "", "", "", "2024-03-02", 1000, 500, 500, "Y"],
        ["c2", typo, "张三", "", "", "", "2024-03-02", 1000, 500, 500, "N"],
        ["c3", "", "周建国", "1966-02-02", "M", VILLAGE_B, "2024-03-02", 100, 0, 100, ""],
        ["c4", "", "陈晓红", "1988-08-08", "F", "", "2024-03-02", 100, 0, 100, ""],
        ["c5", "", "陈晓红", "1988-08-08", "F", VILLAGE_B, "2024-03-02", 100, 0, 100, ""],
        ["c6", "", "不存在", "1999-01-01", "F", VILLAGE_A, "2024-03-02", 100, 0, 100, ""],
    ]
    f = feed_file("mc.csv", rows, ["total_cost", "insurance_paid", "out_of_pocket", "inpatient"])
    res = services.feed_load(actor=None, kind="medical_claims", path=f)
    print(res.message, res.link.counts, res.link.timings, res.link.model.source)
    con = duckdb.connect()
    selectors.register_linked_feeds(con)
    for r in con.execute("select * from feed_medical_claims_detail order by record_id").fetchall():
        print(r)
    res2 = services.feed_load(actor=None, kind="medical_claims", path=f)
    print(res2.message)
    print(selectors.review_queue(user=None))
