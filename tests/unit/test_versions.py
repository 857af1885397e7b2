"""Ollama version parsing and ordering, including vendor builds and release candidates."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from modelpack.core.versions import OllamaVersion
from modelpack.errors import UsageError


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("0.9.3", (0, 9, 3, None)),
        ("v0.7.0", (0, 7, 0, None)),
        ("0.33.0-rc2", (0, 33, 0, "rc2")),
        ("0.5.4-ipexllm-20250407", (0, 5, 4, "ipexllm-20250407")),
        ("0.6.2-3-gabc1234", (0, 6, 2, "3-gabc1234")),
        ("0.0.0", (0, 0, 0, None)),
        ("  0.12.10\n", (0, 12, 10, None)),
    ],
)
def test_parse_accepts_what_ollama_reports(text: str, parts: tuple[object, ...]) -> None:
    version = OllamaVersion.parse(text)
    assert (version.major, version.minor, version.patch, version.pre) == parts


@pytest.mark.parametrize(
    "text", ["0.9.3", "0.33.0-rc2", "0.5.4-ipexllm-20250407", "0.0.0", "1.2.3-a.b.7"]
)
def test_str_gives_back_the_version_without_v(text: str) -> None:
    assert str(OllamaVersion.parse(text)) == text
    assert str(OllamaVersion.parse("v" + text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "latest",
        "0.9",
        "0.9.3.1",
        "0.9.x",
        "v",
        "0.9.3-",
        "0.9.3+build",
        "1.2.3-rc..1",
        "\uff10.9.3",  # fullwidth digit zero
    ],
)
def test_bad_strings_are_usage_errors_that_show_the_expected_form(text: str) -> None:
    with pytest.raises(UsageError) as info:
        OllamaVersion.parse(text)
    assert info.value.hint is not None
    assert "0.9.3" in info.value.hint
    assert "\n" not in info.value.message


def test_ordering_is_numeric_and_pre_releases_sort_before_their_release() -> None:
    expected = [
        "0.0.0",
        "0.1.35",
        "0.5.4-ipexllm-20250407",
        "0.5.4",
        "0.7.0-rc0",
        "0.7.0-rc1",
        "0.7.0",
        "0.9.3",
        "0.10.0",
        "0.33.0-rc2",
        "0.33.0-rc10",
        "0.33.0",
        "1.0.0",
    ]
    shuffled = expected[:]
    random.Random(7).shuffle(shuffled)
    assert [str(v) for v in sorted(OllamaVersion.parse(t) for t in shuffled)] == expected


def test_comparison_operators_agree() -> None:
    old, new = OllamaVersion.parse("0.9.3"), OllamaVersion.parse("0.10.0")
    assert old < new and old <= new and new > old and new >= old
    assert not old > new and not new < old
    assert OllamaVersion.parse("v0.7.0") == OllamaVersion.parse("0.7.0")
    assert len({OllamaVersion.parse("0.7.0"), OllamaVersion.parse("v0.7.0")}) == 1


def test_comparing_with_a_plain_string_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        assert OllamaVersion.parse("0.9.3") < "0.10.0"  # type: ignore[operator]


def test_release_drops_the_suffix() -> None:
    assert OllamaVersion.parse("0.7.0-rc1").release == OllamaVersion.parse("0.7.0")
    assert OllamaVersion.parse("0.5.4-ipexllm-20250407").release == OllamaVersion.parse("0.5.4")
    assert OllamaVersion.parse("0.7.0-rc1").is_prerelease
    assert not OllamaVersion.parse("0.7.0").is_prerelease


def test_only_zero_is_a_source_build() -> None:
    assert OllamaVersion.parse("0.0.0").is_source_build
    assert not OllamaVersion.parse("0.0.1").is_source_build
    assert not OllamaVersion.parse("0.9.3").is_source_build


def test_direct_construction_refuses_negative_parts_and_bad_suffixes() -> None:
    with pytest.raises(UsageError):
        OllamaVersion(0, -1, 0)
    with pytest.raises(UsageError):
        OllamaVersion(0, 1, 0, "rc 1")


class _Spec(BaseModel):
    ollama: OllamaVersion


def test_pydantic_fields_parse_and_dump_strings() -> None:
    spec = _Spec.model_validate({"ollama": "v0.33.0-rc2"})
    assert spec.ollama == OllamaVersion(0, 33, 0, "rc2")
    assert spec.model_dump(mode="json") == {"ollama": "0.33.0-rc2"}
    with pytest.raises(ValidationError, match="invalid Ollama version"):
        _Spec.model_validate({"ollama": "0.9"})
    with pytest.raises(ValidationError):
        _Spec.model_validate({"ollama": 9})


_parts = st.tuples(
    st.integers(0, 60), st.integers(0, 60), st.integers(0, 60), st.none() | st.integers(0, 40)
)


@given(_parts, _parts)
def test_order_matches_numbers_with_rc_before_release(
    a: tuple[int, int, int, int | None], b: tuple[int, int, int, int | None]
) -> None:
    def make(p: tuple[int, int, int, int | None]) -> OllamaVersion:
        suffix = "" if p[3] is None else f"-rc{p[3]}"
        return OllamaVersion.parse(f"{p[0]}.{p[1]}.{p[2]}{suffix}")

    def key(p: tuple[int, int, int, int | None]) -> tuple[int, int, int, int, int]:
        return (p[0], p[1], p[2], 1 if p[3] is None else 0, p[3] or 0)

    assert (make(a) < make(b)) == (key(a) < key(b))
    assert (make(a) == make(b)) == (key(a) == key(b))
    assert OllamaVersion.parse(str(make(a))) == make(a)
