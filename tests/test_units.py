"""units: the one home of sizes, durations and timestamps. Expected values are PostgreSQL's and
pgtune's own rules, written out by hand."""
import pytest

from tunestack.units import (GIB, KIB, MIB, TIB, UnitError, ceil_div, format_bytes_human, format_kb, format_ms,
                             parse_duration_ms, parse_seconds, parse_size, pg_value_in_base_units, plural, release,
                             round_up, utc_timestamp, with_human_size)


@pytest.mark.parametrize("text,expected", [
    # PostgreSQL docs, "Parameter Names and Values": kB, MB, GB, TB are multiples of 1024.
    ("1kB", 1024), ("512MB", 512 * 1024**2), ("16GB", 16 * 1024**3), ("1TB", 1024**4),
    ("512MiB", 512 * 1024**2), ("1.5GiB", 3 * 1024**3 // 2), ("7B", 7),
])
def test_sizes(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["16", "4Gb", "4gib", "four GB", "-1GB", "", None])
def test_sizes_need_a_unit_as_postgresql_writes_it(text):
    # PostgreSQL docs: "Unit names are case-sensitive"; a bare number is refused, never guessed.
    with pytest.raises(UnitError):
        parse_size(text)


@pytest.mark.parametrize("text,ms", [("250ms", 250), ("15s", 15_000), ("10min", 600_000), ("10m", 600_000),
                                     ("1h", 3_600_000), ("1d", 86_400_000), ("1.5s", 1500)])
def test_durations(text, ms):
    assert parse_duration_ms(text) == ms
    assert parse_seconds(text) == ms / 1000


@pytest.mark.parametrize("text", ["15", "15 sec", "1w", "s"])
def test_durations_need_a_known_unit(text):
    with pytest.raises(UnitError, match="duration with its unit"):
        parse_seconds(text)


def test_parse_errors_name_no_flag():
    """The CLI and the loader say which flag or key; the parser itself names none (issue #22)."""
    with pytest.raises(UnitError) as exc:
        parse_seconds("15")
    assert "--" not in str(exc.value)


@pytest.mark.parametrize("kb,text", [
    # pgtune's formatValue: MB or GB only for exact multiples, else kB.
    (1024 * 1024, "1GB"), (2048, "2MB"), (1536, "1536kB"), (1024 * 1024 + 1024, "1025MB"), (5, "5kB"),
])
def test_format_kb_as_pgtune(kb, text):
    assert format_kb(kb) == text


@pytest.mark.parametrize("ms,text", [(0, "0"), (1000, "1s"), (60_000, "1min"), (90_000, "90s"), (3_600_000, "1h"),
                                     (86_400_000, "1d"), (1500, "1500ms")])
def test_format_ms_as_postgresql_shows_it(ms, text):
    # PostgreSQL shows a time in the largest unit that divides it exactly (SHOW statement_timeout).
    assert format_ms(ms) == text


@pytest.mark.parametrize("text,unit,base", [
    ("2GB", "8kB", 262144),        # SHOW shared_buffers says 2GB; pg_settings counts 8 kB blocks
    ("64MB", "kB", 65536), ("1min", "ms", 60_000), ("30s", "s", 30), ("100", None, 100),
])
def test_postgresql_values_in_base_units(text, unit, base):
    assert pg_value_in_base_units(text, unit) == base


@pytest.mark.parametrize("n,human", [(512, "512 B"), (1024, "1 KiB"), (1536 * MIB, "1.5 GiB"), (32 * GIB, "32 GiB"),
                                     (2 * TIB, "2 TiB")])
def test_human_sizes(n, human):
    assert format_bytes_human(n) == human


@pytest.mark.parametrize("text,n,shown", [("201326592", 201326592, "201326592 (192 MiB)"), ("1023", 1023, "1023"),
                                          ("64MB", 64 * MIB, "64MB")])
def test_bytes_show_their_human_size_beside_them(text, n, shown):
    assert with_human_size(text, n) == shown


@pytest.mark.parametrize("n,multiple,up", [(0, 1024, 0), (1, 1024, 1024), (1024, 1024, 1024), (1025, 1024, 2048)])
def test_round_up(n, multiple, up):
    assert round_up(n, multiple) == up


@pytest.mark.parametrize("n,d,pieces", [(1, 2 * MIB, 1), (2 * MIB, 2 * MIB, 1), (2 * MIB + 1, 2 * MIB, 2)])
def test_ceil_div(n, d, pieces):
    assert ceil_div(n, d) == pieces


def test_timestamps_are_iso_8601_utc():
    assert utc_timestamp(0) == "1970-01-01T00:00:00Z"
    assert utc_timestamp(1_796_522_151) == "2026-12-06T01:55:51Z"


def test_constants_are_powers_of_1024():
    assert (KIB, MIB, GIB, TIB) == (2**10, 2**20, 2**30, 2**40)


@pytest.mark.parametrize("n,text", [(1, "1 app host"), (3, "3 app hosts"), (0, "0 app hosts")])
def test_plural(n, text):
    assert plural(n, "app host") == text


@pytest.mark.parametrize("version,parts", [("1.18", (1, 18)), ("15.18", (15, 18)), ("18beta1", (18,))])
def test_release(version, parts):
    assert release(version) == parts
