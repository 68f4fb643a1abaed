"""The field table's limits (catalog/fields.py) come from the model fields and the databases."""

import datetime as dt

import pytest

from catalog import fields
from catalog.fields import InvalidValue
from catalog.models import Model, ModelStatus, Provider


def field(table, column):
    return next(f for f in table if f.column == column)


def test_limits__come_from_the_model_fields():
    assert field(fields.PROVIDER_FIELDS, "slug").max_length == 200
    assert field(fields.STATUS_FIELDS, "region").max_length == 64
    assert field(fields.MODEL_FIELDS, "context_window").max_int == 2**31 - 1
    assert field(fields.STATUS_FIELDS, "requests_per_min").max_int == 2**63 - 1
    assert field(fields.MODEL_FIELDS, "input_price").digits == (16, 8)


def test_columns__every_row_column_is_a_model_column():
    for model, columns in (
        (Provider, fields.PROVIDER_COLUMNS),
        (Model, fields.MODEL_COLUMNS),
        (ModelStatus, fields.STATUS_COLUMNS),
    ):
        names = {f.attname for f in model._meta.concrete_fields}
        assert set(columns) <= names


@pytest.mark.parametrize(
    ("table", "column", "value", "reason"),
    [
        (fields.STATUS_FIELDS, "region", "r" * 65, "is 65 characters long; at most 64 fit"),
        (fields.MODEL_FIELDS, "description", "a\x00b", "must not contain a NUL character"),
        (fields.MODEL_FIELDS, "input_price", 1e8, "must be below 1e+08"),
        (fields.MODEL_FIELDS, "input_price", 0.123456789, "has more than 8 decimal places"),
        (fields.MODEL_FIELDS, "context_window", 2**31, "must be at most 2147483647"),
        (fields.STATUS_FIELDS, "availability", float("inf"), "must be a finite number"),
        (fields.STATUS_FIELDS, "checked_at", "9999-12-31T23:00:00-05:00", "outside years 1-9999"),
        (fields.STATUS_FIELDS, "status", "fine", "must be one of degraded, operational"),
        (fields.MODEL_FIELDS, "tags", ["ok", "no\x00"], "must not contain a NUL character"),
    ],
)
def test_parse__refuses_what_a_database_would(table, column, value, reason):
    with pytest.raises(InvalidValue) as caught:
        field(table, column).parse(value)
    assert reason in caught.value.reason


def test_timestamps__stored_in_utc_whatever_the_offset():
    parsed = field(fields.STATUS_FIELDS, "checked_at").parse("2025-08-14T12:00:00+20:00")
    assert parsed == dt.datetime(2025, 8, 13, 16, tzinfo=dt.UTC)
    assert parsed.utcoffset() == dt.timedelta(0)


def test_check_json__is_iterative_and_bounded():
    deep = []
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(InvalidValue, match="nested more than 64 levels"):
        fields.check_json(deep)
    assert fields.check_json({"a": [1, {"b": "c"}]}) == {"a": [1, {"b": "c"}]}
    with pytest.raises(InvalidValue, match="NUL"):
        fields.check_json({"k\x00": 1})


EDGE_VALUES = [
    None,
    "",
    "  ",
    "eu-west-1",
    "a\x00b",
    "r" * 64,
    "r" * 65,
    "r" * 256,
    0,
    -1,
    1.5,
    -0.5,
    100,
    100.5,
    1e8,
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    10**308,
    10**309,
    True,
    False,
    2**31,
    2**63 - 1,
    2**63,
    [],
    ["a"],
    ["a\x00"],
    {},
    {"k": 1},
    "operational",
    "fine",
    ["operational"],
    "2025-08-14T13:02:45.715Z",
    "2025-08-14T13:02:45.715",
    "2025-08-14T12:00:00+20:00",
    "9999-12-31T23:00:00-05:00",
    "2025-13-01",
]


def _outcome(call):
    try:
        value = call()
    except InvalidValue as exc:
        return ("refused", exc.reason)
    return ("read", type(value), value)


@pytest.mark.parametrize("value", EDGE_VALUES, ids=lambda value: repr(value)[:24])
def test_reader__decides_as_parse_does_for_every_field(value):
    """The compiled reader's inline tests are a shortcut: for every field of every table, each
    value is read or refused exactly as Field.parse reads or refuses it (the reason included),
    on first sight and when the previous record held the same value."""
    for table in (fields.PROVIDER_FIELDS, fields.MODEL_FIELDS, fields.STATUS_FIELDS):
        for one in table:
            read = fields.reader((one,))
            expected = _outcome(lambda f=one: f.parse(value))
            for _ in range(2):
                got = _outcome(lambda r=read, f=one: r({f.name: value})[0])
                assert got == expected, (one.column, value)
