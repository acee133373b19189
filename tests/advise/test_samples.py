"""The samples advise keeps: a day at least, 0600, and the oldest usable one as the baseline."""
from tunestack.advise.rules import MIN_WINDOW_S
from tunestack.advise.samples import SampleStore, baseline


def test_samples_older_than_a_day_are_dropped_and_the_file_is_private(tmp_path):
    store = SampleStore(tmp_path / "advise-samples.jsonl")
    for at in (0, 50_000, 90_000):
        store.add({"at": at}, window_s=3600)
    assert [s["at"] for s in store.past()] == [50_000, 90_000]
    assert (tmp_path / "advise-samples.jsonl").stat().st_mode & 0o777 == 0o600


def test_a_longer_window_keeps_more(tmp_path):
    store = SampleStore(tmp_path / "s.jsonl")
    for at in (0, 100_000, 200_000):
        store.add({"at": at}, window_s=7 * 86_400)
    assert len(store.past()) == 3


def test_the_baseline_is_the_oldest_in_the_window_and_old_enough():
    now = {"at": 1000}
    past = [{"at": 0}, {"at": 500}, {"at": 1000 - MIN_WINDOW_S + 1}]
    assert baseline(past, now, window_s=600) == {"at": 500}
    assert baseline(past, now, window_s=100) is None          # only a sample younger than MIN_WINDOW_S
    assert baseline([], now, window_s=600) is None


def test_a_window_that_spans_a_plan_change_starts_again():
    """Issue #26: a window spanning a plan change judged the old configuration's counters against the
    new plan. Samples carry the plan's digest; only those under the current plan are a baseline."""
    now = {"at": 1000, "plan": "new"}
    past = [{"at": 0, "plan": "old"}, {"at": 300, "plan": "new"}, {"at": 500, "plan": "new"}]
    assert baseline(past, now, window_s=2000) == {"at": 300, "plan": "new"}
    assert baseline([{"at": 0, "plan": "old"}], now, window_s=2000) is None
