"""Go's strconv as modelpack re-implements it (ParseUint, ParseInt, ParseFloat, ParseBool).

Expected values follow Go's strconv documentation and source (atoi.go, atof.go): base prefixes
and `_` only with base 0, a bare leading 0 as octal, hex floats needing a `p` exponent, the
`inf`/`infinity`/`nan` spellings, and ties rounding to even at every float boundary.
"""

from __future__ import annotations

import itertools
import math
import struct
import sys
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelpack.core.gotmpl.strconv import (
    GoParseError,
    parse_bool,
    parse_float,
    parse_int,
    parse_uint,
    round_float,
    special_float,
    underscore_ok,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
F32_MAX = 3.4028234663852886e38
F64_MAX = sys.float_info.max


def f32(value: float) -> float:
    """The float32 nearest value, widened (C's cast: ties to even)."""
    return float(struct.unpack("<f", struct.pack("<f", value))[0])


def bits(value: float) -> bytes:
    """Compare floats by their bits, so -0.0 and 0.0 differ."""
    return struct.pack("<d", value)


def refused(call: Callable[[str], object], text: str, why: str) -> GoParseError:
    with pytest.raises(GoParseError) as info:
        call(text)
    assert info.value.why == why
    assert info.value.text == text
    return info.value


# --- underscoreOK -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ok"),
    [("", True), ("1_000", True), ("-1_0", True), ("1_2_3", True), ("1e1_0", True),
     ("0x_1f", True), ("0b_1", True), ("0o_7", True), ("0X_A_b", True), ("0x1p_1", False),
     ("_1", False), ("1_", False), ("1__0", False), ("+_1", False), ("1_.5", False),
     ("1._5", False), ("1_e5", False), ("0_x1", False), ("0x_", False), ("a_b", False),
     ("1_f", False), ("0_7", True), ("-_1", False)],
)  # fmt: skip
def test_underscores_must_sit_between_digits(text: str, ok: bool) -> None:
    assert underscore_ok(text) is ok


# --- ParseUint / ParseInt -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("7", 7), ("017", 15), ("0o17", 15), ("0O17", 15), ("0b101", 5), ("0B1", 1),
     ("0x1F", 31), ("0Xff", 255), ("1_000", 1000), ("0x_ff", 255), ("0_17", 15), ("00", 0),
     (str(UINT64_MAX), UINT64_MAX), ("0xffff_ffff_ffff_ffff", UINT64_MAX),
     ("0b" + "1" * 64, UINT64_MAX), ("0" * 5000 + "1", 1)],
)  # fmt: skip
def test_parse_uint_base_0_reads_prefixes_and_underscores(text: str, value: int) -> None:
    assert parse_uint(text, 0) == value


@pytest.mark.parametrize(
    "text",
    ["", "08", "0b2", "0o8", "0xg", "0x", "0b", "0o", "0x_", "1__0", "_1", "1_", "+1", "-1",
     " 1", "1 ", "1.0", "0x1p4", "1e3", "\u0661", "\uff11", "0x1 "],
)  # fmt: skip
def test_parse_uint_base_0_syntax_errors(text: str) -> None:
    refused(lambda t: parse_uint(t, 0), text, "syntax")


@pytest.mark.parametrize(
    "text",
    [str(UINT64_MAX + 1), "0x1_0000_0000_0000_0000", "0b1" + "0" * 64, "0" + "7" * 23, "9" * 5000],
)
def test_parse_uint_overflow_is_a_range_error(text: str) -> None:
    refused(lambda t: parse_uint(t, 0), text, "range")
    refused(lambda t: parse_uint(t, 10), text, "syntax" if text[:2] in {"0x", "0b"} else "range")


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0), ("010", 10), ("00017", 17), (str(UINT64_MAX), UINT64_MAX)]
)
def test_parse_uint_base_10_has_no_octal(text: str, value: int) -> None:
    assert parse_uint(text, 10) == value
    assert parse_uint(text) == value  # base 10 is the default


@pytest.mark.parametrize("text", ["0x10", "0b1", "0o7", "1_000", "1a", "", "+1"])
def test_parse_uint_base_10_takes_digits_only(text: str) -> None:
    refused(parse_uint, text, "syntax")


@pytest.mark.parametrize(
    ("text", "base", "value"),
    [("-0x8000000000000000", 0, INT64_MIN), ("0x7fffffffffffffff", 0, INT64_MAX),
     ("+0b11", 0, 3), ("-017", 0, -15), ("-0o17", 0, -15), ("-1_0", 0, -10), ("-0", 0, 0),
     (str(INT64_MIN), 10, INT64_MIN), (str(INT64_MAX), 10, INT64_MAX), ("+5", 10, 5),
     ("-0005", 10, -5), ("-017", 10, -17), ("-" + "0" * 5000 + "5", 10, -5)],
)  # fmt: skip
def test_parse_int(text: str, base: Literal[0, 10], value: int) -> None:
    assert parse_int(text, base) == value


@pytest.mark.parametrize(
    ("text", "base", "why"),
    [("0x8000000000000000", 0, "range"), ("-0x8000000000000001", 0, "range"),
     (str(INT64_MAX + 1), 10, "range"), (str(INT64_MIN - 1), 10, "range"),
     ("-" + "9" * 5000, 10, "range"), (str(UINT64_MAX + 1), 10, "range"),
     ("", 10, "syntax"), ("+", 10, "syntax"), ("-", 0, "syntax"), ("--1", 0, "syntax"),
     ("+-1", 10, "syntax"), ("-0x10", 10, "syntax"), ("-1_0", 10, "syntax"),
     ("- 1", 10, "syntax"), ("-_1", 0, "syntax"),
     # A bad character wins over digits that already overflow (Go would say range here).
     ("99999999999999999999x", 10, "syntax")],
)  # fmt: skip
def test_parse_int_errors_name_the_whole_text(text: str, base: Literal[0, 10], why: str) -> None:
    error = refused(lambda t: parse_int(t, base), text, why)
    assert str(error) == f"{text!r}: {'invalid syntax' if why == 'syntax' else 'out of range'}"


# --- ParseBool ----------------------------------------------------------------------------------


def test_parse_bool_takes_exactly_gos_twelve_spellings() -> None:
    words = ["1", "0", "t", "f", "true", "false", "yes", "no", "on", "off", "01"]
    candidates = {
        "".join(letters)
        for word in words
        for letters in itertools.product(*({char.lower(), char.upper()} for char in word))
    }
    candidates |= {"", " true", "true ", "2", "tr", "truee"}
    accepted = {}
    for text in sorted(candidates):
        try:
            accepted[text] = parse_bool(text)
        except GoParseError as error:
            assert (error.why, error.text) == ("syntax", text)
    assert accepted == {
        **dict.fromkeys(["1", "t", "T", "true", "True", "TRUE"], True),
        **dict.fromkeys(["0", "f", "F", "false", "False", "FALSE"], False),
    }
    assert all(type(value) is bool for value in accepted.values())


# --- ParseFloat ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.5", 1.5), (".5", 0.5), ("5.", 5.0), ("+1E3", 1000.0), ("1e-3", 0.001), ("0.1", 0.1),
     ("1_000.5", 1000.5), ("1e1_0", 1e10), ("1e" + "0" * 50 + "5", 1e5),
     ("0x1p-2", 0.25), ("0x1.8p1", 3.0), ("0X.8P1", 1.0), ("0x1P+2", 4.0), ("0x_1p0", 1.0),
     ("0x1_0p0", 16.0), ("-0x1p0", -1.0), ("0x1.000001p0", 1 + 2**-24),
     ("0x1.fffffffffffffp1023", F64_MAX), ("1.7976931348623157e308", F64_MAX),
     (str(2**1024 - 2**970 - 1), F64_MAX), ("4.9e-324", 5e-324), ("0x1p-1074", 5e-324),
     ("2.4703282292062328e-324", 5e-324), ("2.4703282292062327e-324", 0.0), ("0x1p-1075", 0.0),
     ("0x1.8p-1074", 1e-323), ("1e-400", 0.0), ("1e-99999999999999", 0.0),
     ("9007199254740993", 9007199254740992.0), ("9007199254740995", 9007199254740996.0),
     ("1" + "0" * 5000 + "e-5000", 1.0), ("0." + "0" * 20000 + "1e20005", 10000.0),
     ("-0", -0.0), ("-0x0p0", -0.0), ("-0e5", -0.0), ("-1e-400", -0.0)],
)  # fmt: skip
def test_parse_float_64_is_correctly_rounded(text: str, value: float) -> None:
    assert bits(parse_float(text, 64)) == bits(value)
    assert bits(parse_float(text)) == bits(value)  # 64 bits is the default


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.1", f32(0.1)), ("16777217", 16777216.0), ("16777219", 16777220.0),
     ("0x1.000001p0", 1.0), ("0x1.000003p0", 1 + 2**-22), ("3.4028235e38", F32_MAX),
     (str(2**128 - 2**103 - 1), F32_MAX), ("1.4e-45", 2**-149), ("0x1p-149", 2**-149),
     ("0x1p-150", 0.0), ("0x1.8p-149", 2**-148), ("1e-46", 0.0), ("-1e-46", -0.0),
     ("1_0.5", 10.5), ("0X1P-2", 0.25)],
)  # fmt: skip
def test_parse_float_32_rounds_to_float32(text: str, value: float) -> None:
    assert bits(parse_float(text, 32)) == bits(value)


@pytest.mark.parametrize(
    ("text", "size"),
    [("1e309", 64), ("-1e309", 64), ("0x1p1024", 64), ("1.7976931348623159e308", 64),
     (str(2**1024 - 2**970), 64), ("1e99999999999999", 64), ("1e39", 32), ("-1e39", 32),
     ("3.4028236e38", 32), ("0x1p128", 32), (str(2**128 - 2**103), 32), ("1e100000", 32)],
)  # fmt: skip
def test_parse_float_beyond_the_format_is_a_range_error(text: str, size: Literal[32, 64]) -> None:
    refused(lambda t: parse_float(t, size), text, "range")


@pytest.mark.parametrize(
    "text",
    ["", ".", "+", "-", "e5", ".e5", "1e", "1e+", "1e-", "1.2.3", "0x1", "0x1.8", "0x", "0xp1",
     "0x.p1", "1p1", "0x1e1", "1_", "_1", "1__0", "1_.5", "1._5", "1e_5", "1e5_", "0x_p1",
     "1,5", "1.5f", "0b1p0", "0o1p0", "1e5.0", "0x1p1.5", "1e1e1", "--1", " 1", "1 ",
     "\u0661", "1\u0661", "0x1p", "1e+-5"],
)  # fmt: skip
def test_parse_float_syntax_errors(text: str) -> None:
    refused(lambda t: parse_float(t, 64), text, "syntax")
    refused(lambda t: parse_float(t, 32), text, "syntax")


@pytest.mark.parametrize(
    ("text", "value"),
    [("nan", math.nan), ("NaN", math.nan), ("nAN", math.nan), ("inf", math.inf),
     ("+Inf", math.inf), ("-inf", -math.inf), ("infinity", math.inf), ("+INFINITY", math.inf),
     ("-Infinity", -math.inf)],
)  # fmt: skip
def test_parse_float_takes_gos_special_spellings(text: str, value: float) -> None:
    for parsed in (parse_float(text, 32), parse_float(text, 64), special_float(text)):
        assert parsed is not None
        assert (math.isnan(parsed) and math.isnan(value)) or parsed == value


@pytest.mark.parametrize(
    "text", ["+nan", "-nan", "in", "infin", "infinit", "infinityy", "nan0", "inf ", " nan", "nana"]
)
def test_parse_float_refuses_near_special_spellings(text: str) -> None:
    assert special_float(text) is None
    refused(lambda t: parse_float(t, 64), text, "syntax")


@pytest.mark.parametrize("text", ["1", "0x1p0", "1e5", "", "i", "n"])
def test_special_float_is_none_for_numbers(text: str) -> None:
    assert special_float(text) is None


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float64_text_reads_back_exactly(value: float) -> None:
    for text in (repr(value), value.hex(), str(Decimal(value))):
        assert bits(parse_float(text, 64)) == bits(value)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-F32_MAX, max_value=F32_MAX))
def test_float32_rounds_the_exact_decimal_like_a_c_cast(value: float) -> None:
    # str(Decimal(x)) is x to the last digit, so rounding it once must agree with the cast.
    assert bits(parse_float(str(Decimal(value)), 32)) == bits(f32(value))


# --- rounding -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "size", "expected"),
    [(Fraction(0), 64, 0.0), (Fraction(1, 3), 64, 1 / 3), (Fraction(1, 3), 32, f32(1 / 3)),
     (Fraction(2**53 + 1), 64, 2.0**53), (Fraction(2**53 + 3), 64, 2.0**53 + 4),
     (Fraction(2**24 + 1), 32, 2.0**24), (Fraction(1, 2**1075), 64, 0.0),
     (Fraction(3, 2**1076), 64, 5e-324), (Fraction(3, 2**150), 32, 2.0**-148),
     (Fraction(2**128 - 2**104), 32, F32_MAX), (Fraction(2**1024 - 2**971), 64, F64_MAX)],
)  # fmt: skip
def test_round_float_is_nearest_ties_to_even(
    value: Fraction, size: Literal[32, 64], expected: float
) -> None:
    assert round_float(value, size) == expected


@pytest.mark.parametrize(
    ("value", "size"),
    [(Fraction(2**128), 32), (Fraction(2**128 - 2**103), 32), (Fraction(2**1024 - 2**970), 64)],
)
def test_round_float_overflows_where_the_result_is_infinite(
    value: Fraction, size: Literal[32, 64]
) -> None:
    with pytest.raises(OverflowError):
        round_float(value, size)
