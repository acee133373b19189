"""postgresql.conf as PostgreSQL reads it (docs: "Parameter Interaction via the Configuration File";
guc-file.l), and ALTER SYSTEM statements."""
import pytest

from tunestack.postgres.conffile import ConfError, alter_system, parse_conf


@pytest.mark.parametrize("line,name,value", [
    ("shared_buffers = 4GB", "shared_buffers", "4GB"),
    ("shared_buffers 4GB", "shared_buffers", "4GB"),                        # the = is optional
    ("Shared_Buffers = '4GB'   # 25% of RAM", "shared_buffers", "4GB"),      # names are case-insensitive
    ("log_line_prefix = '%m [%p] # %u'  # a comment", "log_line_prefix", "%m [%p] # %u"),   # # inside quotes
    ("search_path = '\"$user\", public'", "search_path", '"$user", public'),
    ("application_name = 'it''s'", "application_name", "it's"),             # '' is a quote
    ("application_name = 'it\\'s'", "application_name", "it's"),            # so is \'
    ("work_mem=64MB#tight", "work_mem", "64MB"),
])
def test_one_line(line, name, value):
    assert parse_conf(line)[0] == {name: value}


def test_the_last_setting_wins_and_includes_are_reported():
    settings, includes = parse_conf("work_mem = 4MB\ninclude 'extra.conf'\nwork_mem = 8MB\n# work_mem = 1GB\n")
    assert settings == {"work_mem": "8MB"} and includes == ["extra.conf"]


def test_a_line_postgres_would_refuse_names_its_number():
    with pytest.raises(ConfError, match="line 2"):
        parse_conf("work_mem = 4MB\nwork_mem = 'unterminated\n")


def test_alter_system_quotes_every_value():
    assert alter_system({"shared_buffers": "4GB", "log_line_prefix": "%m it's"}) == (
        "ALTER SYSTEM SET shared_buffers = '4GB';\nALTER SYSTEM SET log_line_prefix = '%m it''s';\n")
