"""Parsing write-error bodies: the exact texts InfluxDB 1.6.7 sends (captured from the
real server), plus the 2.x and 3.x JSON shapes from their documentation."""

from __future__ import annotations

import json

from onsflux.influx.errors import classify, parse_write_errors, parse_write_response


def body(message: str) -> str:
    return json.dumps({"error": message})


def test_type_conflict_partial_write() -> None:
    report = parse_write_response(
        body(
            'partial write: field type conflict: input field "power_mw" on measurement '
            '"generation_data" is type integer, already exists as type float dropped=2'
        )
    )
    assert report.partial
    assert report.dropped == 2
    [err] = report.errors
    assert err.kind == "field_type_conflict"
    assert err.field == "power_mw"
    assert err.measurement == "generation_data"
    assert err.input_type == "integer"
    assert err.existing_type == "float"
    assert err.dropped == 2
    assert report.dropped_total == 2


def test_type_conflict_names_with_quotes_and_spaces() -> None:
    [err] = parse_write_errors(
        body(
            r'partial write: field type conflict: input field "a \"b\" c" on measurement '
            r'"m x" is type string, already exists as type float dropped=1'
        )
    )
    assert err.kind == "field_type_conflict"
    assert err.field == 'a "b" c'
    assert err.measurement == "m x"


def test_bare_type_conflict_is_not_partial() -> None:
    """1.6.7 on a new measurement: a conflict inside the body refuses all of it."""
    report = parse_write_response(body("field type conflict"))
    assert not report.partial
    [err] = report.errors
    assert err.kind == "field_type_conflict"
    assert err.field is None and err.dropped is None


def test_beyond_retention() -> None:
    report = parse_write_response(body("partial write: points beyond retention policy dropped=3"))
    assert report.partial
    [err] = report.errors
    assert err.kind == "beyond_retention"
    assert err.dropped == 3


def test_unparseable_lines_in_partial_write() -> None:
    text = (
        "partial write: unable to parse 'm,a=1 f=bad1 1600000000000000101': invalid boolean\n"
        "unable to parse 'm,a=1 f=bad2 1600000000000000102': invalid boolean dropped=0"
    )
    report = parse_write_response(body(text))
    assert report.partial
    assert report.dropped == 0
    assert [e.kind for e in report.errors] == ["unable_to_parse", "unable_to_parse"]
    assert [e.line for e in report.errors] == [
        "m,a=1 f=bad1 1600000000000000101",
        "m,a=1 f=bad2 1600000000000000102",
    ]
    assert [e.reason for e in report.errors] == ["invalid boolean", "invalid boolean"]
    assert report.dropped_total == 2  # one per line, whatever dropped=0 says


def test_unparseable_only_is_not_partial() -> None:
    report = parse_write_response(
        body("unable to parse 'm3 f=inf 1600000000000000000': invalid boolean")
    )
    assert not report.partial
    [err] = report.errors
    assert err.kind == "unable_to_parse"
    assert err.line == "m3 f=inf 1600000000000000000"


def test_unparseable_line_with_quote_colon_inside() -> None:
    line = "m s=\"it': odd\" 1"
    [err] = parse_write_errors(body(f"unable to parse '{line}': bad timestamp"))
    assert err.line == line
    assert err.reason == "bad timestamp"


def test_reason_with_colons() -> None:
    [err] = parse_write_errors(
        body(
            "unable to parse 'ty i=9223372036854775808i 1': unable to parse integer "
            '9223372036854775808: strconv.ParseInt: parsing "9223372036854775808": '
            "value out of range"
        )
    )
    assert err.line == "ty i=9223372036854775808i 1"
    assert err.reason is not None and err.reason.startswith("unable to parse integer")


def test_max_key_length() -> None:
    [err] = parse_write_errors(
        body("unable to parse 'b,t=xxx v=1 1': max key length exceeded: 65540 > 65535")
    )
    assert err.kind == "unable_to_parse"
    assert err.reason == "max key length exceeded: 65540 > 65535"


def test_database_not_found_is_other() -> None:
    [err] = parse_write_errors(body('database not found: "nope"'))
    assert err.kind == "other"
    assert err.message == 'database not found: "nope"'


def test_v2_partial_write_error_shape() -> None:
    report = parse_write_response(
        json.dumps(
            {
                "code": "invalid",
                "message": "partial write error (5 written): unable to parse 'x y': missing fields",
            }
        )
    )
    assert report.partial
    assert report.written == 5
    [err] = report.errors
    assert err.kind == "unable_to_parse"
    assert err.line == "x y"
    assert err.reason == "missing fields"


def test_v2_zero_written_is_not_partial() -> None:
    report = parse_write_response(
        json.dumps({"code": "invalid", "message": "partial write error (0 written): unable "
                    "to parse 'x': missing fields"})
    )
    assert not report.partial
    assert report.written == 0


def test_v2_unprocessable_type_conflict() -> None:
    report = parse_write_response(
        json.dumps(
            {
                "code": "unprocessable entity",
                "message": 'failure writing points to database: partial write: field type '
                'conflict: input field "f" on measurement "m" is type float, already exists '
                "as type integer dropped=1",
            }
        )
    )
    assert report.partial
    [err] = report.errors
    assert err.kind == "field_type_conflict"
    assert (err.field, err.measurement, err.dropped) == ("f", "m", 1)


def test_v3_line_data_shape() -> None:
    report = parse_write_response(
        json.dumps(
            {
                "error": "partial write of line protocol occurred",
                "data": [
                    {"original_line": "m f=x", "line_number": 2, "error_message": "invalid"},
                    {
                        "original_line": "m f=1i",
                        "line_number": 3,
                        "error_message": "invalid column type for column 'f', expected "
                        "iox::column_type::field::float, got iox::column_type::field::integer",
                    },
                ],
            }
        )
    )
    assert report.partial
    assert [e.line_number for e in report.errors] == [2, 3]
    assert [e.line for e in report.errors] == ["m f=x", "m f=1i"]
    assert all(e.dropped == 1 for e in report.errors)


def test_not_json_and_empty() -> None:
    [err] = parse_write_errors("<html>bad gateway</html>")
    assert err.kind == "other"
    assert parse_write_errors("") == []
    assert parse_write_errors(b'{"error": "partial write: points beyond retention policy '
                              b'dropped=1"}')[0].kind == "beyond_retention"


def test_classify_direct() -> None:
    assert classify("points beyond retention policy", dropped=4).dropped == 4
    assert classify("something else").kind == "other"
