"""Raw InfluxQL must be one read statement: SELECT or SHOW, no INTO."""

from __future__ import annotations

import pytest

from onsflux.exceptions import InvalidQuery
from onsflux.query import check_influxql


@pytest.mark.parametrize(("text", "keyword"), [
    ('SELECT mean("power_mw") FROM "generation_data" GROUP BY time(1h)', "SELECT"),
    ("  select * from m limit 1;", "SELECT"),
    ("-- comment\nSHOW MEASUREMENTS", "SHOW"),
    ("/* why */ SHOW TAG VALUES WITH KEY = \"plant\"", "SHOW"),
    ("SELECT * FROM m WHERE plant = 'drop database x'", "SELECT"),
    ("SELECT * FROM m WHERE plant =~ /a|b/", "SELECT"),
])
def test_reads_pass(text: str, keyword: str) -> None:
    assert check_influxql(text) == keyword


@pytest.mark.parametrize("text", [
    "", "   ", "-- only a comment",
    'DROP DATABASE "generation_data"',
    "DELETE FROM m WHERE time < now()",
    "CREATE USER x WITH PASSWORD 'y'",
    "SET PASSWORD FOR x = 'y'",
    "GRANT ALL TO x",
    "KILL QUERY 1",
    "ALTER RETENTION POLICY a ON b DURATION 1h",
    'SELECT * INTO "other" FROM "m"',
    "select * into other from m",
    "SELECT * FROM m; DROP DATABASE m",
    "SELECT * FROM m;DROP DATABASE m;",
    "SELECT 1 FROM m -- ; \n; DROP DATABASE m",
    "/* SELECT */ DROP DATABASE m",
    "SELECT * FROM m WHERE a =~ /'/; DROP DATABASE x; -- '",
    "SELECT * FROM m WHERE a = 'x;y'",  # refused by the belt-and-braces ';' rule
    "SELECT * FROM m WHERE a = 'unterminated",
    "SELECT * FROM m WHERE a =~ /unterminated",
    "SELECT * FROM m /* unterminated",
    '"SELECT" FROM m',
])
def test_everything_else_is_refused(text: str) -> None:
    with pytest.raises(InvalidQuery):
        check_influxql(text)
