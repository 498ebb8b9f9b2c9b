import datetime as dt

import pytest

from safetynet.monitoring.params import int_parameter
from safetynet.policy.services import parameter_override_create


@pytest.mark.django_db
def test_an_officers_override_wins_over_the_parameter_file_for_case_work(reference_areas):
    as_of = dt.date(2024, 6, 30)
    assert int_parameter("monitoring.notice_days", "360827101001", as_of) == 5
    parameter_override_create(
        actor=None,
        area_code="360827",
        parameter="monitoring.notice_days",
        value=7,
        effective_from=dt.date(2024, 1, 1),
        reason="县级规定公示7天",
    )
    assert int_parameter("monitoring.notice_days", "360827101001", as_of) == 7
    # another county and an earlier date keep the file's value
    assert int_parameter("monitoring.notice_days", "360828101001", as_of) == 5
    assert int_parameter("monitoring.notice_days", "360827101001", dt.date(2023, 12, 31)) == 5
