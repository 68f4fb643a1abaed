"""One field table per entity: each column, its public name (the export's and the API's), and the
rule a value must meet to be stored.

The limits come from the model fields themselves (``max_length``, decimal digits, integer ranges)
and from what both databases can hold (no NUL character, timestamps within years 1-9999 in UTC,
finite numbers, JSON of bounded depth), so a value PostgreSQL would refuse is refused here, before
any database sees it, with the same outcome on SQLite. Adding a column is: the model field, its
migration, one row below.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import sys
from decimal import Decimal, InvalidOperation
from functools import cached_property

from catalog.models import GLOBAL_REGION, Model, ModelStatus, Provider, Status

STATUS_CHOICES = frozenset(Status.values)
MAX_JSON_DEPTH = 64  # nesting of a JSON value kept in a row (metadata, lists)
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class InvalidValue(ValueError):
    """A value a column cannot hold; ``reason`` says why, without naming the field."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- value kinds: each parse returns the column value or raises InvalidValue -------------------

TEXT, CHOICE, FLOAT, COUNT, PRICE, BOOL, TIMESTAMP, STRINGS = (
    "text",
    "choice",
    "float",
    "count",
    "price",
    "bool",
    "timestamp",
    "strings",
)


def _type_name(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def check_text(value: str, max_length: int | None = None) -> str:
    """A string both databases store as it is: no NUL character, within ``max_length``."""
    if "\x00" in value:
        raise InvalidValue("must not contain a NUL character (\\u0000)")
    if max_length is not None and len(value) > max_length:
        raise InvalidValue(f"is {len(value)} characters long; at most {max_length} fit")
    return value


def check_json(value, depth: int = MAX_JSON_DEPTH):
    """A JSON value both databases store as it is: bounded depth, finite numbers, no NUL.

    Iterative, so that a record nested 10,000 deep is refused instead of overflowing the stack.
    """
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        kind = type(item)
        if kind is dict or kind is list:
            if level > depth:
                raise InvalidValue(f"is nested more than {depth} levels deep")
            if kind is dict:
                for key, child in item.items():
                    if "\x00" in key:
                        raise InvalidValue("has a key with a NUL character (\\u0000)")
                    stack.append((child, level + 1))
            else:
                stack.extend((child, level + 1) for child in item)
        elif kind is str:
            if "\x00" in item:
                raise InvalidValue("holds a string with a NUL character (\\u0000)")
        elif kind is float:
            if not math.isfinite(item):
                raise InvalidValue("holds a number JSON cannot carry (infinite or NaN)")
        elif kind is Decimal and not item.is_finite():
            raise InvalidValue("holds a number JSON cannot carry (infinite or NaN)")
    return value


def parse_timestamp(value: str) -> dt.datetime:
    """An ISO 8601 timestamp (``Z`` or an offset; none means UTC) as an aware datetime in UTC.

    Stored in UTC: an offset beyond what a database accepts (PostgreSQL stops at ±15:59) is no
    longer part of the value, and the UTC instant must fall within years 1-9999.
    """
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError:
        raise InvalidValue(
            f"{value!r} falls outside years 1-9999 in UTC, which no database column holds"
        ) from None


@dataclasses.dataclass(frozen=True)
class Field:
    """One column: ``name`` in the export and the API, the ``kind`` of value, and its limits."""

    column: str
    name: str
    kind: str
    model: type = dataclasses.field(repr=False, default=None)
    required: bool = False
    default: object = None
    low: float | None = None
    high: float | None = None

    @cached_property
    def max_length(self) -> int | None:
        return getattr(self.model._meta.get_field(self.column), "max_length", None)

    @cached_property
    def max_int(self) -> int:
        internal = self.model._meta.get_field(self.column).get_internal_type()
        return INT64_MAX if "Big" in internal else INT32_MAX

    @cached_property
    def digits(self) -> tuple[int, int]:
        field = self.model._meta.get_field(self.column)
        return field.max_digits, field.decimal_places

    def __post_init__(self):
        # The kind's parser, looked up once (parse runs millions of times in a large export).
        object.__setattr__(self, "_parser", getattr(self, f"_{self.kind}"))

    def parse(self, value):
        """The column value for an export value (None and absent alike); raises InvalidValue."""
        if value is None:
            if self.required:
                raise InvalidValue("is required")
            return self.default
        return self._parser(value)

    def _text(self, value):
        if type(value) is not str:
            raise InvalidValue(f"must be a string, got {_type_name(value)}")
        if (self.required or self.default) and not value.strip():
            raise InvalidValue("must not be empty")
        return check_text(value, self.max_length)

    def _choice(self, value):
        choices = STATUS_CHOICES
        if type(value) is not str or value not in choices:
            raise InvalidValue(f"must be one of {', '.join(sorted(choices))}, got {value!r}")
        return value

    def _float(self, value):
        if type(value) is bool or not isinstance(value, int | float | Decimal):
            raise InvalidValue(f"must be a number, got {_type_name(value)}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise InvalidValue("must be a finite number (a double holds up to about 1.8e308)")
        if self.low is not None and number < self.low:
            if self.high is None:
                raise InvalidValue(f"must be at least {self.low:g}, got {number:g}")
            raise InvalidValue(f"must be between {self.low:g} and {self.high:g}, got {number:g}")
        if self.high is not None and number > self.high:
            raise InvalidValue(f"must be between {self.low:g} and {self.high:g}, got {number:g}")
        return number

    def _count(self, value):
        if type(value) is float and value.is_integer():
            value = int(value)
        if type(value) is not int:
            raise InvalidValue(f"must be a whole number, got {value!r}")
        if value < 0:
            raise InvalidValue(f"must not be negative, got {value}")
        if value > self.max_int:
            raise InvalidValue(f"must be at most {self.max_int}, got {value}")
        return value

    def _price(self, value):
        number = self._float(value)
        try:
            price = Decimal(repr(number))
        except InvalidOperation:  # pragma: no cover - repr of a finite float always parses
            raise InvalidValue("is not a number") from None
        max_digits, places = self.digits
        if -price.as_tuple().exponent > places:
            raise InvalidValue(f"has more than {places} decimal places: {value!r}")
        if price >= Decimal(10) ** (max_digits - places):
            raise InvalidValue(f"must be below {10 ** (max_digits - places):g}, got {value!r}")
        return price

    def _bool(self, value):
        if type(value) is not bool:
            raise InvalidValue(f"must be true or false, got {value!r}")
        return value

    def _timestamp(self, value):
        if type(value) is not str:
            raise InvalidValue(f"must be an ISO 8601 timestamp string, got {value!r}")
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            if isinstance(exc, InvalidValue):
                raise
            raise InvalidValue(f"is not an ISO 8601 timestamp: {value!r}") from None

    def _strings(self, value):
        if type(value) is not list or not all(type(item) is str for item in value):
            raise InvalidValue("must be a list of strings")
        for item in value:
            check_text(item)
        return value


class FieldError(InvalidValue):
    """An invalid value and the field it is in (raised by :func:`reader`'s functions)."""

    def __init__(self, field: Field, reason: str):
        super().__init__(reason)
        self.field = field


_MAX_FLOAT = sys.float_info.max


def reader(fields: tuple[Field, ...], columns: tuple[str, ...] | None = None):
    """``record -> list``: the column values of an export record for ``fields``, in order; or,
    given ``columns`` (the fields' columns, or more), ``record -> dict`` of them by column.

    The plain values that make up nearly every record (a string within its length, a finite
    number within its range, a whole number within its column, a known choice, a timestamp
    string like the previous record's, an absent value where one may be absent) are accepted
    inline; anything else goes through :meth:`Field.parse`, which decides and words the reason.
    The inline tests are written, once per field table, from the same fields' limits (as Python
    source, compiled: a record is read by straight-line code, with no loop over the fields), so
    this is a shortcut, not a second rule. Raises FieldError.
    """
    lines = ["def values(record):", "    get = record.get"]
    names: dict[str, object] = {"_parse": _parse, "CHOICES": STATUS_CHOICES}
    for i, field in enumerate(fields):
        names[f"F{i}"] = field
        v = f"v{i}"
        lines.append(f"    {v} = get({field.name!r})")
        fast = _inline_test(field, v, names, i)
        if fast is None:
            lines.append(f"    {v} = _parse(F{i}, {v})")
            continue
        for number, (test, value) in enumerate(fast):
            lines.append(f"    {'elif' if number else 'if'} {test}:")
            lines.append(f"        {v} = {value}" if value != v else "        pass")
        if field.kind == TIMESTAMP:
            # The same timestamp as the previous record's (an export's snapshot time, shared by
            # most of its records): the same value, parsed once.
            lines.append(f"    elif {v} == last{i}[0] and type({v}) is str:")
            lines.append(f"        {v} = last{i}[1]")
            lines.append(f"    elif type({v}) is str:")
            lines.append(f"        last{i}[:] = ({v}, _parse(F{i}, {v}))")
            lines.append(f"        {v} = last{i}[1]")
        if not field.required and (field.default is None or type(field.default) is str):
            lines.append(f"    elif {v} is None:")
            lines.append(f"        {v} = F{i}.default")
        lines.append("    else:")
        lines.append(f"        {v} = _parse(F{i}, {v})")
    if columns is None:
        lines.append(f"    return [{', '.join(f'v{i}' for i in range(len(fields)))}]")
    else:
        pairs = ", ".join(f"{column!r}: v{i}" for i, column in enumerate(columns[: len(fields)]))
        lines.append(f"    return {{{pairs}}}")
    namespace = dict(names)
    for i, field in enumerate(fields):
        if field.kind == TIMESTAMP:
            namespace[f"last{i}"] = [None, None]
    exec("\n".join(lines), namespace)  # noqa: S102 - source written above from the field table
    return namespace["values"]


def _inline_test(field: Field, v: str, names: dict, i: int):
    """``[(test, value), ...]``: Python source, each test true for a plain value of ``field``
    (one :meth:`Field.parse` would return as it is, or as ``value``), or None: always parse."""
    kind = field.kind
    if kind == TEXT:
        test = f'type({v}) is str and "\\x00" not in {v}'
        if field.max_length is not None:
            test += f" and len({v}) <= {int(field.max_length)}"
        if field.required or field.default:
            test += f" and {v}.strip() != ''"
        return [(test, v)]
    if kind == CHOICE:
        return [(f"type({v}) is str and {v} in CHOICES", v)]
    if kind == FLOAT:
        # Finite bounds: NaN fails the comparison, and so does an infinite value.
        low = -_MAX_FLOAT if field.low is None else float(field.low)
        high = _MAX_FLOAT if field.high is None else float(field.high)
        names[f"LOW{i}"], names[f"HIGH{i}"] = low, high
        within = f"LOW{i} <= {v} <= HIGH{i}"
        return [
            (f"type({v}) is float and {within}", v),
            # A whole number within the bounds (compared exactly) converts without overflow.
            (f"type({v}) is int and {within}", f"float({v})"),
        ]
    if kind == COUNT:
        return [(f"type({v}) is int and 0 <= {v} <= {int(field.max_int)}", v)]
    if kind == BOOL:
        return [(f"type({v}) is bool", v)]
    if kind == TIMESTAMP:
        return [("False", v)]  # decided by the lines that follow (see reader)
    return None


def _parse(field: Field, value):
    try:
        return field.parse(value)
    except InvalidValue as exc:
        raise FieldError(field, exc.reason) from None


def _fields(model, *rows) -> tuple[Field, ...]:
    return tuple(Field(column, name, kind, model, **limits) for column, name, kind, limits in rows)


# column, export/API name, kind, limits. Order is the column order everywhere (rows, COPY, API).
PROVIDER_FIELDS = _fields(
    Provider,
    ("slug", "slug", TEXT, {"required": True}),
    ("name", "name", TEXT, {"required": True}),
    ("source_id", "id", TEXT, {"default": ""}),
    ("logo_url", "logoUrl", TEXT, {}),
    ("website_url", "websiteUrl", TEXT, {}),
    ("status_page_url", "statusPageUrl", TEXT, {}),
    ("documentation_url", "documentationUrl", TEXT, {}),
    ("regions", "regions", STRINGS, {"default": []}),
)
MODEL_FIELDS = _fields(
    Model,
    ("name", "name", TEXT, {"required": True}),
    ("source_id", "id", TEXT, {"default": ""}),
    ("description", "description", TEXT, {}),
    ("foundation_model", "foundationModel", TEXT, {}),
    ("released_at", "releasedAt", TIMESTAMP, {}),
    ("deprecated_at", "deprecatedAt", TIMESTAMP, {}),
    ("modalities", "modalities", STRINGS, {"default": []}),
    ("capabilities", "capabilities", STRINGS, {"default": []}),
    ("tags", "tags", STRINGS, {"default": []}),
    ("context_window", "contextWindow", COUNT, {}),
    ("max_output_tokens", "maxOutputTokens", COUNT, {}),
    ("input_price", "inputPrice", PRICE, {"low": 0.0}),
    ("output_price", "outputPrice", PRICE, {"low": 0.0}),
    ("is_active", "isActive", BOOL, {"default": True}),
    ("is_featured", "isFeatured", BOOL, {"default": False}),
)
STATUS_FIELDS = _fields(
    ModelStatus,
    ("region", "region", TEXT, {"default": GLOBAL_REGION}),
    ("status", "status", CHOICE, {"default": Status.UNKNOWN.value}),
    ("availability", "availability", FLOAT, {"low": 0.0, "high": 100.0}),
    ("latency_p50", "latencyP50", FLOAT, {"low": 0.0}),
    ("latency_p95", "latencyP95", FLOAT, {"low": 0.0}),
    ("latency_p99", "latencyP99", FLOAT, {"low": 0.0}),
    ("error_rate", "errorRate", FLOAT, {"low": 0.0}),
    ("requests_per_min", "requestsPerMin", COUNT, {}),
    ("tokens_per_min", "tokensPerMin", COUNT, {}),
    ("usage", "usage", FLOAT, {}),
    ("checked_at", "checkedAt", TIMESTAMP, {}),
)

# Row columns: the fields, then ``metadata`` (every export key without a column of its own).
# Models also carry ``slug``, derived from provider and name, first.
PROVIDER_COLUMNS = (*(f.column for f in PROVIDER_FIELDS), "metadata")
MODEL_COLUMNS = ("slug", *(f.column for f in MODEL_FIELDS), "metadata")
# Statuses also carry ``origin`` (which file the status came from: see catalog.models), last.
STATUS_COLUMNS = (*(f.column for f in STATUS_FIELDS), "metadata", "origin")
JSON_COLUMNS = frozenset(
    {"metadata", *(f.column for f in (*PROVIDER_FIELDS, *MODEL_FIELDS) if f.kind == STRINGS)}
)
TIMESTAMP_COLUMNS = frozenset(
    f.column for f in (*MODEL_FIELDS, *STATUS_FIELDS) if f.kind == TIMESTAMP
)
