"""The rollout gates read HAProxy's log across supervisord's rotation (issue #10: a healthy
rollout under load was rolled back with "measured 0" after the log rotated)."""
from tunestack.rollout import HaproxyLogFile, LocalEngine
from tunestack.rollout.engines.local import HaproxyAdmin

LINE = "127.0.0.1:1 [25/Nov/2026:10:00:00.000] web app/{server} 0/0/0/{ms}/{ms} {status} 100 - - ---- 1/1/0/0/0 0/0 \"GET / HTTP/1.1\"\n"


def engine(log):
    """The local engine built from plain values: only the log reading is under test, no stack."""
    return LocalEngine(None, stable_server="s", canary_server="c", canary_port=0, app_port=0,
                       admin=HaproxyAdmin(log.parent / "haproxy.sock"), log=HaproxyLogFile(log))


def test_requests_before_and_after_a_rotation_are_all_counted(tmp_path):
    log = tmp_path / "haproxy.log"
    log.write_text(LINE.format(server="c", ms=5, status=200) * 3)
    e = engine(log)
    since = e.mark()
    with open(log, "a") as f:
        f.write(LINE.format(server="c", ms=7, status=500) * 2)       # after the mark, before rotation
    log.rename(tmp_path / "haproxy.log.1")                             # supervisord rotates
    (tmp_path / "haproxy.log").write_text(LINE.format(server="c", ms=9, status=200) * 4
                                          + LINE.format(server="s", ms=1, status=200))
    m = e.measure(since)
    assert (m.requests, m.errors) == (6, 2)


def test_without_rotation_only_new_lines_count(tmp_path):
    log = tmp_path / "haproxy.log"
    log.write_text(LINE.format(server="c", ms=5, status=500) * 3)
    e = engine(log)
    since = e.mark()
    with open(log, "a") as f:
        f.write(LINE.format(server="c", ms=5, status=200))
    assert (e.measure(since).requests, e.measure(since).errors) == (1, 0)
