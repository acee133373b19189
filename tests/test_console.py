"""console: reports on stdout, progress on stderr, quiet on request or in CI, and settings that fit
the terminal without breaking a value."""
import io
import json

import pytest
from rich.console import Console

from tunestack import console


@pytest.fixture(autouse=True)
def loud(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    console.set_quiet(False)
    yield
    console.set_quiet(False)


@pytest.mark.parametrize("quiet,ci,shown", [(False, "", True), (True, "", False), (False, "true", False)])
def test_progress_goes_to_stderr_unless_quiet_or_ci(capsys, monkeypatch, quiet, ci, shown):
    if ci:
        monkeypatch.setenv("CI", ci)
    console.set_quiet(quiet)
    console.say("building …")
    with console.waiting("waiting …"):
        pass
    out, err = capsys.readouterr()
    assert out == ""
    assert ("building …" in err and "waiting …" in err) == shown


def test_json_is_indented_and_takes_any_value(capsys):
    from pathlib import Path

    console.print_json({"path": Path("/x"), "n": 1})
    assert json.loads(capsys.readouterr().out) == {"path": "/x", "n": 1}


def render(width, rows):
    buffer = io.StringIO()
    console.print_settings(Console(file=buffer, width=width, force_terminal=False), rows)
    return buffer.getvalue().splitlines()


ROWS = [("shared_buffers", "8GB", "25% of the memory set aside for PostgreSQL (pgtune) " * 3),
        ("maxmemory", "201326592 (192 MiB)", "75 % of the instance's memory")]


@pytest.mark.parametrize("width", [60, 80, 119])
def test_narrow_terminals_get_name_value_then_the_reason_below(width):
    lines = render(width, ROWS)
    assert all(len(line) <= width for line in lines)
    assert "  shared_buffers = 8GB" in lines and "  maxmemory = 201326592 (192 MiB)" in lines


def test_wide_terminals_get_one_row_per_setting():
    lines = render(160, ROWS)
    assert all(len(line) <= 160 for line in lines)
    assert any("shared_buffers" in line and "8GB" in line and "pgtune" in line for line in lines)


def test_trimmed_output_has_no_trailing_spaces(capsys):
    with console.trimmed(Console(width=40, force_terminal=False)) as c:
        c.print("a   ")
        c.print("b")
    assert capsys.readouterr().out == "a\nb\n"


def test_no_progress_bar_off_a_terminal():
    with console.bar("baking", 10) as advance:
        assert advance is None
