"""The version-aware PARAMETER table and Go-exact value parsing.

Expected facts come from Ollama's source (api/types.go Options, parser/parser.go deprecated list,
per release tag) and from Go's strconv; a few float formatting cases were checked against a Go
1.19 build of strconv.FormatFloat/ParseFloat.
"""

from __future__ import annotations

import json
import math
import struct
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelpack.core.gotmpl.strconv import format_float32, to_float32
from modelpack.core.gotmpl.strconv import parse_bool as go_parse_bool
from modelpack.core.gotmpl.strconv import parse_float32 as go_parse_float32
from modelpack.core.gotmpl.strconv import parse_int as go_parse_int
from modelpack.core.modelfile.diagnostics import Diagnostic, Severity
from modelpack.core.modelfile.params import (
    NEWEST,
    PARAMETERS,
    GoParseError,
    ParamCheck,
    ParamKind,
    ParamSpec,
    ParamStatus,
    check_parameters,
    check_typed_parameters,
    format_parameter,
    names_at,
    to_modelfile_parameters,
)
from modelpack.core.versions import OllamaVersion
from modelpack.errors import UsageError

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


def check(*lines: tuple[str, str], version: str = "0.9.3") -> ParamCheck:
    """Run the checker on (name, value) pairs numbered from line 1."""
    return check_parameters(
        [(name, value, n) for n, (name, value) in enumerate(lines, 1)], version=version
    )


def codes(result: ParamCheck) -> list[str]:
    return [d.code for d in result.diagnostics]


def only(result: ParamCheck) -> Diagnostic:
    assert len(result.diagnostics) == 1, result.diagnostics
    return result.diagnostics[0]


def f32(value: float) -> float:
    """The float32 that `value` rounds to, widened again (for exact comparisons)."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


# --- the table ----------------------------------------------------------------------------------

# Ollama facts §1: the json tags of api.Options and api.Runner in v0.32.15 .. v0.33.0-rc2.
CURRENT = {
    "num_keep", "seed", "num_predict", "top_k", "top_p", "min_p", "typical_p", "repeat_last_n",
    "temperature", "repeat_penalty", "presence_penalty", "frequency_penalty", "stop", "num_ctx",
    "num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread", "draft_num_predict",
}  # fmt: skip

# name -> (first release without it, "error" or "deprecated"), from api/types.go per tag.
REMOVED = {
    "embedding_only": ("0.1.28", "error"),
    "num_gqa": ("0.1.35", "error"),
    "rope_frequency_base": ("0.1.35", "error"),
    "rope_frequency_scale": ("0.1.35", "error"),
    "numa": ("0.3.4", "error"),
    "tfs_z": ("0.5.2", "error"),
    "penalize_newline": ("0.5.5", "deprecated"),
    "low_vram": ("0.7.0", "deprecated"),
    "f16_kv": ("0.7.0", "deprecated"),
    "logits_all": ("0.7.0", "deprecated"),
    "vocab_only": ("0.7.0", "deprecated"),
    "use_mlock": ("0.7.0", "deprecated"),
    "mirostat": ("0.7.0", "deprecated"),
    "mirostat_eta": ("0.7.0", "deprecated"),
    "mirostat_tau": ("0.7.0", "deprecated"),
}
# The last release that still had each removed name.
LAST_WITH = {"0.1.28": "0.1.27", "0.1.35": "0.1.34", "0.3.4": "0.3.3", "0.5.2": "0.5.1",
             "0.5.5": "0.5.4", "0.7.0": "0.6.8"}  # fmt: skip


def test_the_newest_version_accepts_exactly_the_current_options() -> None:
    assert names_at(NEWEST) == CURRENT
    assert names_at() == CURRENT


def test_the_table_holds_every_name_ollama_ever_had() -> None:
    assert set(PARAMETERS) == CURRENT | set(REMOVED)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("num_ctx", ParamKind.INT),
        ("seed", ParamKind.INT),
        ("main_gpu", ParamKind.INT),
        ("temperature", ParamKind.FLOAT),
        ("min_p", ParamKind.FLOAT),
        ("use_mmap", ParamKind.BOOL),
        ("numa", ParamKind.BOOL),
        ("mirostat", ParamKind.INT),
        ("tfs_z", ParamKind.FLOAT),
        ("stop", ParamKind.STRINGS),
    ],
)
def test_kinds_follow_the_go_field_types(name: str, kind: ParamKind) -> None:
    assert PARAMETERS[name].kind is kind


@pytest.mark.parametrize("spec", PARAMETERS.values(), ids=lambda s: s.name)
def test_each_name_is_too_new_before_its_first_release(spec: ParamSpec) -> None:
    assert spec.status_at(spec.since) is ParamStatus.ACCEPTED
    earlier = OllamaVersion(0, 0, 1)
    if earlier < spec.since:
        assert spec.status_at(earlier) is ParamStatus.TOO_NEW


def test_spec_invariants_are_enforced() -> None:
    since = OllamaVersion.parse("0.1.0")
    with pytest.raises(ValueError, match="go together"):
        ParamSpec("x", ParamKind.INT, since, "1", removed=OllamaVersion.parse("0.2.0"))
    with pytest.raises(ValueError, match="deprecated_since"):
        ParamSpec(
            "x", ParamKind.INT, since, "1", removed=OllamaVersion.parse("0.2.0"),
            on_removal="deprecated", reason="gone",
        )  # fmt: skip
    with pytest.raises(ValueError, match="out of range"):
        ParamSpec("x", ParamKind.INT, since, "0", minimum=1)
    with pytest.raises(GoParseError):
        ParamSpec("x", ParamKind.INT, since, "1.5")


def test_source_builds_are_judged_as_the_newest_release() -> None:
    assert names_at("0.0.0") == names_at(NEWEST)
    assert check(("draft_num_predict", "4"), version="0.0.0").ok


# --- removed and deprecated names, by version -------------------------------------------------


@pytest.mark.parametrize("name", sorted(REMOVED))
def test_removed_names_work_until_their_removal(name: str) -> None:
    removed, _ = REMOVED[name]
    result = check((name, PARAMETERS[name].example), version=LAST_WITH[removed])
    assert result.diagnostics == []
    assert name in result.parameters
    assert not isinstance(result.parameters[name], str)


@pytest.mark.parametrize("name", sorted(REMOVED))
def test_removed_names_fail_or_warn_from_their_removal(name: str) -> None:
    removed, treatment = REMOVED[name]
    result = check((name, PARAMETERS[name].example), version=removed)
    diagnostic = only(result)
    assert name not in result.parameters
    assert diagnostic.line == 1
    assert removed in diagnostic.message and f"(target {removed})" in diagnostic.message
    assert diagnostic.hint is not None and "delete this line" in diagnostic.hint
    if treatment == "error":
        assert (diagnostic.code, diagnostic.severity) == ("removed-parameter", Severity.ERROR)
        assert f"was removed in Ollama {removed}" in diagnostic.message
    else:
        assert (diagnostic.code, diagnostic.severity) == ("deprecated-parameter", Severity.WARNING)
        assert f"is deprecated since Ollama {removed} and will be dropped" in diagnostic.message


def test_numa_message_names_the_release_the_target_and_the_reason() -> None:
    diagnostic = only(check(("numa", "true"), version="0.9.3"))
    assert diagnostic.message == (
        "parameter 'numa' was removed in Ollama 0.3.4 (target 0.9.3): "
        "NUMA is detected automatically"
    )
    assert diagnostic.hint == "delete this line"


def test_mirostat_message_is_a_deprecation_warning() -> None:
    diagnostic = only(check(("mirostat", "1"), version="0.9.3"))
    assert diagnostic.message == (
        "parameter 'mirostat' is deprecated since Ollama 0.7.0 and will be dropped (target 0.9.3)"
    )


def test_same_modelfile_is_valid_for_0_5_4_and_warned_for_0_7_0() -> None:
    lines = (("mirostat", "2"), ("mirostat_tau", "5.0"), ("num_ctx", "4096"))
    old = check(*lines, version="0.5.4")
    assert old.diagnostics == []
    assert old.parameters == {"mirostat": 2, "mirostat_tau": 5.0, "num_ctx": 4096}
    new = check(*lines, version="0.7.0")
    assert codes(new) == ["deprecated-parameter", "deprecated-parameter"]
    assert new.ok
    assert new.parameters == {"num_ctx": 4096}


def test_before_the_deprecated_list_a_removed_name_is_an_error() -> None:
    # tfs_z left api.Options in 0.5.2, when the server still parsed Modelfiles (< 0.5.5).
    assert check(("tfs_z", "1"), version="0.5.1").ok
    assert codes(check(("tfs_z", "1"), version="0.5.4")) == ["removed-parameter"]
    # and it never made the deprecated list, so later versions still refuse it.
    assert codes(check(("tfs_z", "1"), version=str(NEWEST))) == ["removed-parameter"]


def test_a_release_candidate_behaves_like_its_release() -> None:
    assert codes(check(("mirostat", "1"), version="0.7.0-rc1")) == ["deprecated-parameter"]
    assert check(("mirostat", "1"), version="0.5.4-ipexllm-20250407").ok
    assert codes(check(("numa", "true"), version="0.5.4-ipexllm-20250407")) == ["removed-parameter"]


def test_draft_num_predict_needs_0_30_0() -> None:
    diagnostic = only(check(("draft_num_predict", "4"), version="0.9.3"))
    assert diagnostic.code == "too-new-parameter" and diagnostic.is_error
    assert diagnostic.message == (
        "parameter 'draft_num_predict' needs Ollama >= 0.30.0 (target 0.9.3)"
    )
    assert check(("draft_num_predict", "4"), version="0.30.0").parameters == {
        "draft_num_predict": 4
    }


def test_min_p_needs_0_3_1() -> None:
    assert codes(check(("min_p", "0.05"), version="0.3.0")) == ["too-new-parameter"]
    assert check(("min_p", "0.05"), version="0.3.1").parameters == {"min_p": 0.05}


def test_use_mmap_was_an_integer_in_0_1_45_to_0_1_48() -> None:
    tri_state = check(("use_mmap", "true"), version="0.1.46")
    diagnostic = only(tri_state)
    assert diagnostic.message == "invalid int value [true] for use_mmap"
    assert diagnostic.hint is not None and "integer" in diagnostic.hint
    assert check(("use_mmap", "1"), version="0.1.46").parameters == {"use_mmap": 1}
    assert check(("use_mmap", "1"), version="0.2.0").parameters == {"use_mmap": True}
    assert check(("use_mmap", "true"), version="0.1.44").parameters == {"use_mmap": True}


# --- unknown names ------------------------------------------------------------------------------


def test_names_are_case_sensitive_with_a_did_you_mean() -> None:
    diagnostic = only(check(("Temperature", "0.7")))
    assert diagnostic.code == "unknown-parameter" and diagnostic.is_error
    assert diagnostic.message == "unknown parameter 'Temperature'"
    assert diagnostic.hint is not None and "did you mean 'temperature'?" in diagnostic.hint
    assert codes(check(("NUM_CTX", "4096"))) == ["unknown-parameter"]


def test_misspellings_get_the_nearest_valid_name() -> None:
    assert only(check(("temprature", "0.7"))).hint == "did you mean 'temperature'?"
    assert only(check(("num_ctxx", "4096"))).hint == "did you mean 'num_ctx'?"
    assert only(check(("xyzzy", "1"))).hint is None


def test_did_you_mean_only_offers_names_of_the_target_version() -> None:
    assert "draft_num_predict" in str(only(check(("draft_num_predic", "4"), version="0.30.0")).hint)
    assert "draft_num_predict" not in str(only(check(("draft_num_predic", "4"))).hint)


# --- value parsing: ints ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("4096", 4096), ("+5", 5), ("-1", -1), ("007", 7), ("-0", 0),
     (str(INT64_MAX), INT64_MAX), (str(INT64_MIN), INT64_MIN)],
)  # fmt: skip
def test_ints_follow_go_parseint_base_10(text: str, value: int) -> None:
    assert go_parse_int(text) == value
    parsed = check(("seed", text)).parameters["seed"]
    assert parsed == value and type(parsed) is int


# "\u0663" (Arabic-Indic three) and "\uff15" (fullwidth five): Python's int() takes them, Go not.
NOT_BASE_10 = ["4096.0", "0x10", "1e3", " 5", "5 ", "1_000", "", "+", "--5", "4k", "true"]


@pytest.mark.parametrize("text", [*NOT_BASE_10, "\u0663", "\uff15"])
def test_ints_refuse_anything_but_base_10_digits(text: str) -> None:
    with pytest.raises(GoParseError) as info:
        go_parse_int(text)
    assert info.value.why == "syntax"
    diagnostic = only(check(("num_ctx", text)))
    assert diagnostic.code == "invalid-value" and diagnostic.is_error
    assert diagnostic.message == f"invalid int value [{text}] for num_ctx"


def test_leading_zeros_do_not_count_towards_the_int64_range() -> None:
    assert go_parse_int("-" + "0" * 5000 + "5") == -5


@pytest.mark.parametrize(
    "text", [str(INT64_MAX + 1), str(INT64_MIN - 1), "1" + "0" * 30, "9" * 5000]
)
def test_ints_beyond_int64_are_range_errors(text: str) -> None:
    with pytest.raises(GoParseError) as info:
        go_parse_int(text)
    assert info.value.why == "range"
    assert "64-bit" in str(only(check(("seed", text))).hint)


@pytest.mark.parametrize(("text", "meant"), [("4096.0", "4096"), ("0x10", "16"), ("1e3", "1000")])
def test_int_hints_suggest_the_integer_that_was_meant(text: str, meant: str) -> None:
    assert only(check(("num_ctx", text))).hint == f"use a base-10 integer such as {meant}"


def test_ints_beyond_2_53_warn_because_ollama_reads_them_back_as_float64() -> None:
    result = check(("seed", str(2**53 + 1)))
    assert codes(result) == ["lossy-value"] and result.ok
    assert result.parameters == {"seed": 2**53 + 1}
    assert check(("seed", str(2**53))).diagnostics == []


# --- value parsing: float32 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.7", 0.7), (".5", 0.5), ("5.", 5.0), ("1e-3", 0.001), ("+1E2", 100.0), ("1", 1.0),
     ("1_0.5", 10.5), ("0x1.8p1", 3.0), ("0X1P-2", 0.25), ("-0.25", -0.25), ("1e-50", 0.0),
     ("3.4028235e38", 3.4028234663852886e38), ("16777217", 16777216.0)],
)  # fmt: skip
def test_floats_follow_go_parsefloat_32(text: str, value: float) -> None:
    assert go_parse_float32(text) == f32(value)  # the exact float32, widened
    parsed = check(("presence_penalty", text)).parameters["presence_penalty"]
    assert type(parsed) is float and f32(parsed) == f32(value)


def test_long_mantissas_and_huge_exponents_parse_like_go() -> None:
    # Results checked against Go: Python's int() alone would refuse a 20000-digit string.
    assert go_parse_float32("0." + "0" * 20000 + "1e20005") == 10000.0
    assert go_parse_float32("1." + "0" * 5000 + "e-1") == f32(0.1)
    assert go_parse_float32("1e-99999999999999") == 0.0
    with pytest.raises(GoParseError):
        go_parse_float32("1e99999999999999")


@pytest.mark.parametrize(
    "text",
    ["abc", "", "0,7", "1e", "1e+", "e5", ".", "1.2.3", "0x1", "0x1.8", "_1", "1__0", "1_",
     "1_.5", " 0.7", "0.7 ", "+nan", "infin", "0.7 # warm"],
)  # fmt: skip
def test_float_syntax_errors(text: str) -> None:
    with pytest.raises(GoParseError) as info:
        go_parse_float32(text)
    assert info.value.why == "syntax"
    diagnostic = only(check(("temperature", text)))
    assert diagnostic.code == "invalid-value"
    assert diagnostic.message == f"invalid float value [{text}] for temperature"


@pytest.mark.parametrize("text", ["1e39", "-1e39", "3.4028236e38", "1e100000"])
def test_float32_overflow_is_an_error(text: str) -> None:
    with pytest.raises(GoParseError) as info:
        go_parse_float32(text)
    assert info.value.why == "range"
    assert "range" in str(only(check(("presence_penalty", text))).hint)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "+Inf", "-infinity", "INFINITY"])
def test_nan_and_infinity_parse_in_go_but_cannot_be_sent_as_json(text: str) -> None:
    assert not math.isfinite(go_parse_float32(text))
    diagnostic = only(check(("presence_penalty", text)))
    assert diagnostic.code == "invalid-value"
    assert "JSON" in str(diagnostic.hint)


def test_float_hints_catch_commas_and_trailing_comments() -> None:
    assert only(check(("temperature", "0,7"))).hint == "use a decimal number such as 0.7"
    assert "own line" in str(only(check(("temperature", "0.7 # warm"))).hint)


def test_floats_are_sent_as_their_shortest_decimal() -> None:
    result = check(("temperature", "0.7"), ("top_p", "0.9"), ("min_p", "0.05"))
    assert json.dumps(result.parameters) == '{"temperature": 0.7, "top_p": 0.9, "min_p": 0.05}'


@pytest.mark.parametrize(
    ("value", "text"),
    # Checked against Go 1.19: strconv.FormatFloat(float64(float32(v)), 'g', -1, 32).
    [(0.7, "0.7"), (1e6, "1e+06"), (123456789.0, "1.2345679e+08"), (1e-5, "1e-05"),
     (0.0001, "0.0001"), (100000.0, "100000"), (204637.875, "204637.88"),
     (47810.4375, "47810.438"), (1.401298464324817e-45, "1e-45"), (-0.0, "-0"), (5.0, "5")],
)  # fmt: skip
def test_float32_formatting_matches_go(value: float, text: str) -> None:
    assert format_float32(value) == text


def test_non_finite_floats_cannot_be_formatted() -> None:
    with pytest.raises(GoParseError):
        format_float32(math.nan)
    with pytest.raises(GoParseError):
        to_float32(1e39)


# --- value parsing: bools -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", True), ("t", True), ("T", True), ("TRUE", True), ("true", True), ("True", True),
     ("0", False), ("f", False), ("F", False), ("FALSE", False), ("false", False),
     ("False", False)],
)  # fmt: skip
def test_bools_accept_the_twelve_go_spellings(text: str, value: bool) -> None:
    assert go_parse_bool(text) is value
    assert check(("use_mmap", text)).parameters["use_mmap"] is value


@pytest.mark.parametrize("text", ["yes", "on", "tRUE", "", "2", " true", "true "])
def test_other_bool_spellings_are_invalid(text: str) -> None:
    with pytest.raises(GoParseError):
        go_parse_bool(text)
    diagnostic = only(check(("use_mmap", text)))
    assert diagnostic.message == f"invalid bool value [{text}] for use_mmap"
    assert diagnostic.hint == "use true or false"


# --- ranges -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "bad", "good"),
    [("temperature", "-0.1", "0"), ("top_p", "1.5", "1"), ("top_p", "-0.1", "0"),
     ("min_p", "1.01", "0"), ("typical_p", "0", "1"), ("typical_p", "1.1", "0.5"),
     ("num_ctx", "0", "1"), ("num_gpu", "-2", "-1"), ("num_batch", "0", "1"),
     ("num_thread", "-1", "0"), ("top_k", "-1", "0"), ("repeat_last_n", "-2", "-1"),
     ("num_predict", "-3", "-2"), ("num_keep", "-2", "-1"), ("main_gpu", "-1", "0"),
     ("draft_num_predict", "-1", "0"), ("repeat_penalty", "0", "0.5")],
)  # fmt: skip
def test_values_outside_the_meaningful_range_are_errors(name: str, bad: str, good: str) -> None:
    result = check((name, bad), version=str(NEWEST))
    diagnostic = only(result)
    assert diagnostic.code == "out-of-range" and diagnostic.is_error
    assert diagnostic.message.startswith(f"value {bad} for {name} is out of range: it must be ")
    assert diagnostic.hint
    assert name not in result.parameters
    assert check((name, good), version=str(NEWEST)).diagnostics == []


@pytest.mark.parametrize("text", ["-1", "0", "4294967295", str(-(2**53))])
def test_any_seed_is_fine(text: str) -> None:
    assert check(("seed", text)).diagnostics == []


def test_penalties_may_be_negative() -> None:
    assert check(("presence_penalty", "-1.5"), ("frequency_penalty", "-2")).diagnostics == []


# --- stop, duplicates, and the shape of the result ----------------------------------------------


def test_stop_values_accumulate_in_order() -> None:
    result = check(("stop", "<|im_start|>"), ("temperature", "0.7"), ("stop", "User: hi"))
    assert result.parameters["stop"] == ["<|im_start|>", "User: hi"]
    assert result.diagnostics == []


def test_an_empty_stop_is_an_error_and_is_not_sent() -> None:
    result = check(("stop", "</s>"), ("stop", ""))
    diagnostic = only(result)
    assert (diagnostic.code, diagnostic.line, diagnostic.is_error) == ("empty-stop", 2, True)
    assert result.parameters == {"stop": ["</s>"]}


def test_a_repeated_scalar_warns_and_the_last_value_wins() -> None:
    result = check(("temperature", "0.2"), ("num_ctx", "4096"), ("temperature", "0.9"))
    diagnostic = only(result)
    assert (diagnostic.code, diagnostic.severity, diagnostic.line) == (
        "duplicate-parameter",
        Severity.WARNING,
        3,
    )
    assert "line 1" in diagnostic.message
    assert result.parameters == {"temperature": 0.9, "num_ctx": 4096}


def test_values_are_typed_never_strings() -> None:
    result = check(("num_ctx", "4096"), ("temperature", "1"), ("use_mmap", "false"), ("stop", "x"))
    assert [type(v) for v in result.parameters.values()] == [int, float, bool, list]


def test_lines_may_be_unknown() -> None:
    result = check_parameters([("temperature", "0.1", None), ("temperature", "x", None)])
    assert [d.line for d in result.diagnostics] == [None, None]
    assert "an earlier value" in result.diagnostics[0].message


def test_every_message_and_hint_is_one_line() -> None:
    result = check(
        ("numa", "true"), ("mirostat", "1"), ("draft_num_predict", "4"), ("Temperature", "1"),
        ("num_ctx", "4096.0"), ("top_p", "2"), ("stop", ""), ("seed", str(2**60)),
        ("top_k", "1"), ("top_k", "2"), ("temperature", "nan"),
    )  # fmt: skip
    assert len(result.diagnostics) == 10
    for diagnostic in result.diagnostics:
        assert "\n" not in diagnostic.message and "\n" not in (diagnostic.hint or "")
    assert not result.ok
    assert {d.code for d in result.warnings} == {
        "deprecated-parameter", "lossy-value", "duplicate-parameter",
    }  # fmt: skip
    assert len(result.errors) == 7


# --- already-typed values (JSON / YAML specs) ---------------------------------------------------


@pytest.mark.parametrize(
    ("values", "code", "hint_part"),
    [({"temperature": "hot"}, "invalid-type", "0.7"),
     ({"temperature": "0.5"}, "invalid-type", "0.5"),
     ({"num_ctx": 4096.0}, "invalid-type", "4096"),
     ({"num_ctx": "4096"}, "invalid-type", "without quotes"),
     ({"num_ctx": True}, "invalid-type", ""),
     ({"temperature": None}, "invalid-type", ""),
     ({"use_mmap": "true"}, "invalid-type", "true or false"),
     ({"use_mmap": 1}, "invalid-type", "true or false"),
     ({"stop": "</s>"}, "invalid-type", "list"),
     ({"stop": ["</s>", 1]}, "invalid-type", "list"),
     ({"stop": ["</s>", ""]}, "empty-stop", ""),
     ({"temperature": math.nan}, "invalid-value", "finite"),
     ({"temperature": 1e39}, "invalid-value", "finite"),
     ({"num_ctx": 2**64}, "invalid-value", ""),
     ({"top_p": 1.5}, "out-of-range", "")],
)  # fmt: skip
def test_typed_values_of_the_wrong_type_are_refused(
    values: dict[str, object], code: str, hint_part: str
) -> None:
    result = check_typed_parameters(values)
    diagnostic = only(result)
    assert diagnostic.code == code and diagnostic.is_error
    assert hint_part in (diagnostic.hint or "")
    assert result.parameters == {}


def test_typed_values_are_normalised() -> None:
    result = check_typed_parameters(
        {"temperature": 1, "top_p": 0.699999988079071, "num_ctx": 8192, "stop": ("a", "b")}
    )
    assert result.diagnostics == []
    assert result.parameters == {"temperature": 1.0, "top_p": 0.7, "num_ctx": 8192,
                                 "stop": ["a", "b"]}  # fmt: skip
    assert type(result.parameters["temperature"]) is float


def test_typed_values_get_the_same_version_rules() -> None:
    result = check_typed_parameters(
        {"numa": True, "mirostat": 1, "draft_num_predict": 4, "Temperature": 0.5},
        version="0.9.3",
    )
    assert codes(result) == [
        "removed-parameter", "deprecated-parameter", "too-new-parameter", "unknown-parameter",
    ]  # fmt: skip
    assert all(d.line is None for d in result.diagnostics)
    assert "delete this entry" in str(result.diagnostics[0].hint)
    assert result.parameters == {}


# --- writing PARAMETER values back --------------------------------------------------------------


def test_format_parameter_spells_values_as_go_reads_them() -> None:
    assert format_parameter("num_ctx", 4096) == ["4096"]
    assert format_parameter("temperature", 0.699999988079071) == ["0.7"]
    assert format_parameter("temperature", 1) == ["1"]
    assert format_parameter("use_mmap", False) == ["false"]
    assert format_parameter("stop", ["<|im_end|>", "User:"]) == ["<|im_end|>", "User:"]
    assert format_parameter("use_mmap", 1, version="0.1.46") == ["1"]


def test_format_parameter_refuses_bad_names_and_values() -> None:
    with pytest.raises(UsageError, match="unknown parameter 'Temperature'"):
        format_parameter("Temperature", 0.7)
    with pytest.raises(UsageError, match="must be a number"):
        format_parameter("temperature", "hot")
    with pytest.raises(UsageError, match="must be an integer"):
        format_parameter("num_ctx", 4096.0)


def test_written_parameters_parse_back_to_the_same_values() -> None:
    typed = {"num_ctx": 4096, "temperature": 0.7, "top_p": 1e-7, "repeat_penalty": 123456789.0,
             "use_mmap": True, "seed": -1, "stop": ["</s>", "User:"]}  # fmt: skip
    lines = to_modelfile_parameters(typed)
    assert [name for name, _ in lines].count("stop") == 2
    result = check_parameters([(name, text, None) for name, text in lines])
    assert result.diagnostics == []
    assert result.parameters == check_typed_parameters(typed).parameters
    assert f32(result.parameters["repeat_penalty"]) == f32(123456789.0)


# --- properties ---------------------------------------------------------------------------------


@given(st.integers(INT64_MIN, INT64_MAX))
def test_ints_round_trip_through_their_text(value: int) -> None:
    assert go_parse_int(str(value)) == value
    assert format_parameter("seed", value) == [str(value)]


@given(st.integers(min_value=INT64_MAX + 1) | st.integers(max_value=INT64_MIN - 1))
def test_ints_outside_int64_never_parse(value: int) -> None:
    with pytest.raises(GoParseError):
        go_parse_int(str(value))


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_float32_text_reads_back_as_the_same_float32(value: float) -> None:
    text = format_float32(value)
    assert go_parse_float32(text) == value
    assert math.copysign(1, go_parse_float32(text)) == math.copysign(1, value)
    assert float(text) == to_float32(value)
    assert f32(to_float32(value)) == value


@given(st.integers(-999_999, 999_999), st.integers(-30, 30))
def test_decimals_of_six_digits_keep_their_digits(mantissa: int, exponent: int) -> None:
    # float32 keeps any 6 significant digits (FLT_DIG), so the shortest text is that decimal.
    text = f"{mantissa}e{exponent}"
    assert float(format_float32(go_parse_float32(text))) == float(Decimal(text))
