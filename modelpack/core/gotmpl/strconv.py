"""Go's strconv, as Ollama and text/template use it.

Ollama's `api.FormatParams` reads Modelfile PARAMETER values with `strconv.ParseInt(s, 10, 64)`,
`ParseFloat(s, 32)` and `ParseBool`; text/template's parser reads number literals with
`ParseUint`/`ParseInt(s, 0, 64)` and `ParseFloat(s, 64)`. These are those functions, with Go's
grammar (signs, base prefixes, `_` between digits, hex floats with a `p` exponent, `inf` and
`nan`) and correctly rounded results. A refusal is a GoParseError saying "syntax" or "range",
like Go's NumError. `format_float32` and `to_float32` write a float32 the way
`FormatFloat(f, 'g', -1, 32)` does: the shortest decimal that reads back as the same value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal, localcontext
from fractions import Fraction
from typing import Literal

__all__ = [
    "BOOL_TEXTS",
    "INT64_MAX",
    "INT64_MIN",
    "GoParseError",
    "format_float32",
    "parse_bool",
    "parse_float",
    "parse_float32",
    "parse_int",
    "parse_uint",
    "round_float",
    "special_float",
    "to_float32",
    "underscore_ok",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_UINT64_LIMIT = 1 << 64

# Every spelling ParseBool takes, with its value.
BOOL_TEXTS: Mapping[str, bool] = {
    **dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
    **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False),
}

_DEC_DIGITS = frozenset("0123456789")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
# ParseUint's digit values: 0-9, then a-z (either case) as 10-35.
_DIGIT_VALUES = {
    char: int(char, 36) for char in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
}
_PREFIX_BASES = {"b": 2, "o": 8, "x": 16}
# (significand bits, smallest normal exponent, the power of two that is already infinity)
_FLOAT_FORMATS = {32: (24, -126, 128), 64: (53, -1022, 1024)}


class GoParseError(ValueError):
    """A value Go's strconv refuses; `why` is "syntax" or "range", like strconv's NumError."""

    def __init__(self, text: str, why: Literal["syntax", "range"]) -> None:
        super().__init__(f"{text!r}: {'invalid syntax' if why == 'syntax' else 'out of range'}")
        self.text = text
        self.why = why


def underscore_ok(text: str) -> bool:
    """strconv's underscoreOK: each `_` sits between digits (a base prefix counts as one)."""
    body = text[1:] if text[:1] in ("+", "-") else text
    saw = "^"
    i = 0
    hexadecimal = False
    if len(body) >= 2 and body[0] == "0" and body[1].lower() in "box":
        i, saw, hexadecimal = 2, "0", body[1].lower() == "x"
    for char in body[i:]:
        if char in _DEC_DIGITS or (hexadecimal and char in _HEX_DIGITS):
            saw = "0"
        elif char == "_":
            if saw != "0":
                return False
            saw = "_"
        elif saw == "_":
            return False
        else:
            saw = "!"
    return saw != "_"


def parse_uint(text: str, base: Literal[0, 10] = 10) -> int:
    """`strconv.ParseUint(text, base, 64)`, for base 10 or 0.

    Base 10 takes ASCII digits only. Base 0 reads a `0b`, `0o` or `0x` prefix (either case), a
    bare leading `0` as octal, and `_` between digits. One order differs from Go: a bad character
    anywhere is a syntax error even after digits that already overflow (Go says range there).
    """
    radix, digits = 10, text
    if base == 0 and text[:1] == "0":
        prefix = text[1:2].lower()
        if len(text) >= 3 and prefix in _PREFIX_BASES:
            radix, digits = _PREFIX_BASES[prefix], text[2:]
        else:
            radix, digits = 8, text[1:]
    if base == 0:
        digits = digits.replace("_", "")
    if not text or any(_DIGIT_VALUES.get(char, 36) >= radix for char in digits):
        raise GoParseError(text, "syntax")
    if base == 0 and "_" in text and not underscore_ok(text):
        raise GoParseError(text, "syntax")
    significant = digits.lstrip("0")
    # 65 digits reach 2**64 in any base; this also spares int() its 4300-digit limit.
    if len(significant) > 64:
        raise GoParseError(text, "range")
    value = int(significant or "0", radix)
    if value >= _UINT64_LIMIT:
        raise GoParseError(text, "range")
    return value


def parse_int(text: str, base: Literal[0, 10] = 10) -> int:
    """`strconv.ParseInt(text, base, 64)`: an optional sign, then what `parse_uint` takes."""
    negative = text[:1] == "-"
    try:
        magnitude = parse_uint(text[1:] if text[:1] in ("+", "-") else text, base)
    except GoParseError as error:
        raise GoParseError(text, error.why) from None
    value = -magnitude if negative else magnitude
    if not INT64_MIN <= value <= INT64_MAX:
        raise GoParseError(text, "range")
    return value


def parse_bool(text: str) -> bool:
    """`strconv.ParseBool`: exactly 1 t T TRUE true True 0 f F FALSE false False."""
    try:
        return BOOL_TEXTS[text]
    except KeyError:
        raise GoParseError(text, "syntax") from None


def parse_float(text: str, bits: Literal[32, 64] = 64) -> float:
    """`strconv.ParseFloat(text, bits)`, correctly rounded (a float32 comes back widened).

    Like Go it accepts `.5`, `5.`, `1e-3`, `1_000.5` (underscores between digits), hex floats
    with a `p` exponent (`0x1.8p1`), `inf`/`infinity` with a sign and `nan` without one, and
    returns 0 on underflow; a finite value beyond the format is a range error. The 32-bit path
    was checked against Go's own strconv on 200,000 inputs. One Go quirk is not copied: with more
    than 800 digits before the point and no `.`, Go's slow path misplaces the point; this parses
    such text exactly.
    """
    special = special_float(text)
    if special is not None:
        return special
    scanned = _scan_float(text)
    if scanned is None:
        raise GoParseError(text, "syntax")
    negative, magnitude = scanned
    try:
        value = round_float(magnitude, bits)
    except OverflowError:
        raise GoParseError(text, "range") from None
    return -value if negative else value


def special_float(text: str) -> float | None:
    """strconv's special(): `nan` (no sign), `inf` or `infinity` (optional sign), any case."""
    if not text.isascii():
        return None
    lowered = text.lower()
    if lowered == "nan":
        return math.nan
    sign, body = 1.0, lowered
    if body[:1] in ("+", "-"):
        sign, body = (-1.0 if body[0] == "-" else 1.0), body[1:]
    return sign * math.inf if body in ("inf", "infinity") else None


def _scan_float(text: str) -> tuple[bool, Fraction] | None:
    """The exact value of a Go float literal (strconv readFloat's grammar), or None."""
    i, end = 0, len(text)
    negative = False
    if i < end and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    hexadecimal = i + 2 < end and text[i] == "0" and text[i + 1] in "xX"
    if hexadecimal:
        i += 2
    digit_set = _HEX_DIGITS if hexadecimal else _DEC_DIGITS
    digits: list[str] = []
    fraction_digits = 0
    saw_dot = underscores = False
    while i < end:
        char = text[i]
        if char == "_":
            underscores = True
        elif char == ".":
            if saw_dot:
                break
            saw_dot = True
        elif char in digit_set:
            digits.append(char)
            fraction_digits += saw_dot
        else:
            break
        i += 1
    if not digits:
        return None
    exponent = 0
    if i < end and text[i] in ("pP" if hexadecimal else "eE"):
        i += 1
        sign = 1
        if i < end and text[i] in "+-":
            sign = -1 if text[i] == "-" else 1
            i += 1
        if i >= end or text[i] not in _DEC_DIGITS:
            return None
        while i < end and (text[i] in _DEC_DIGITS or text[i] == "_"):
            if text[i] == "_":
                underscores = True
            elif exponent < 10000:  # Go stops accumulating here too; the result saturates
                exponent = exponent * 10 + int(text[i])
            i += 1
        exponent *= sign
    elif hexadecimal:
        return None  # a hex mantissa needs a p exponent
    if i != end or (underscores and not underscore_ok(text)):
        return None
    mantissa = int("".join(digits), 16) if hexadecimal else _decimal_int("".join(digits))
    if hexadecimal:
        return negative, mantissa * Fraction(2) ** (exponent - 4 * fraction_digits)
    return negative, mantissa * Fraction(10) ** (exponent - fraction_digits)


def _decimal_int(digits: str) -> int:
    """int(digits) in chunks: Python limits one str-to-int conversion to 4300 digits, Go not."""
    value = 0
    for start in range(0, len(digits), 4000):
        chunk = digits[start : start + 4000]
        value = value * 10 ** len(chunk) + int(chunk)
    return value


def round_float(value: Fraction, bits: Literal[32, 64]) -> float:
    """Round a non-negative exact value to the nearest float32 or float64 (ties to even).

    The result comes back as a Python float; OverflowError where it would be infinity.
    """
    if value == 0:
        return 0.0
    precision, min_exponent, limit_exponent = _FLOAT_FORMATS[bits]
    num, den = value.numerator, value.denominator
    exp = num.bit_length() - den.bit_length()  # floor(log2(value)) is exp or exp - 1
    if (num << max(0, -exp)) < (den << max(0, exp)):
        exp -= 1
    # `precision` significant bits; subnormals share the step of the smallest normal.
    shift = max(exp, min_exponent) - (precision - 1)
    if shift >= 0:
        quotient, remainder = divmod(num, den << shift)
        half = den << shift
    else:
        quotient, remainder = divmod(num << -shift, den)
        half = den
    if 2 * remainder > half or (2 * remainder == half and quotient & 1):
        quotient += 1
    if quotient.bit_length() - 1 + shift >= limit_exponent:
        raise OverflowError(f"float{bits} overflow")
    return math.ldexp(quotient, shift)


# --- float32, as Ollama formats PARAMETER values (api.FormatParams) ---------------------------


def parse_float32(text: str) -> float:
    """`strconv.ParseFloat(text, 32)`, correctly rounded to float32 and returned widened."""
    return parse_float(text, 32)


def _shortest_float32(value: float) -> tuple[bool, str, int]:
    """(negative, digits, point): the fewest digits that read back as the same float32.

    value == 0.digits * 10**point. This is what Go's FormatFloat(f, 'g', -1, 32) starts from.
    """
    negative = math.copysign(1.0, value) < 0
    magnitude = abs(value)
    if magnitude == 0:
        return negative, "0", 1
    with localcontext() as context:
        context.prec = 400
        exact = Decimal(magnitude)
        for precision in range(1, 10):
            unit = Decimal(1).scaleb(exact.adjusted() - precision + 1)
            low = exact.quantize(unit, rounding=ROUND_FLOOR)
            # Nearest first; on a tie (x exactly halfway) Go takes the even last digit.
            ranked = sorted((low, low + unit), key=lambda c: (abs(c - exact), _odd_last(c, unit)))
            for candidate in ranked:
                if candidate > 0 and _reads_back_as(candidate, magnitude):
                    _, digit_tuple, exponent = candidate.normalize().as_tuple()
                    digits = "".join(map(str, digit_tuple))
                    return negative, digits, len(digits) + int(exponent)
    raise AssertionError(f"no float32 representation for {value!r}")  # 9 digits always do


def _odd_last(candidate: Decimal, unit: Decimal) -> int:
    return int(candidate / unit) % 2


def _reads_back_as(candidate: Decimal, magnitude: float) -> bool:
    try:
        return round_float(Fraction(candidate), 32) == magnitude
    except OverflowError:  # one step above the largest float32
        return False


def _finite_float32(value: float) -> float:
    """Round to float32, refusing NaN, infinities and anything that would round to them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise GoParseError(str(value), "range")
    try:
        rounded = round_float(Fraction(abs(value)), 32)
    except OverflowError:
        raise GoParseError(repr(value), "range") from None
    return math.copysign(rounded, value)


def to_float32(value: float) -> float:
    """The float32 nearest `value`, as the shortest decimal double that reads back as it.

    So JSON carries 0.7, not 0.699999988079071; Ollama's float32 field ends up the same.
    """
    negative, digits, point = _shortest_float32(_finite_float32(value))
    result = float(f"0.{digits}e{point}")
    return -result if negative else result


def format_float32(value: float) -> str:
    """Go's `strconv.FormatFloat(float32(value), 'g', -1, 32)`: `0.7`, `1e+06`, `1e-05`."""
    negative, digits, point = _shortest_float32(_finite_float32(value))
    sign = "-" if negative else ""
    exponent = point - 1
    if exponent < -4 or exponent >= 6:  # Go's switch to %e for shortest 'g' output
        mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"
