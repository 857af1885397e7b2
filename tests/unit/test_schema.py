"""The JSON Schema of modelpack.yaml (`modelpack schema`): current, closed, and never stricter
than the spec models it is generated from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers.budget import fuzz_examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from modelpack.core.package.schema import schema_text, spec_schema
from modelpack.core.package.spec import Spec, load_spec
from modelpack.core.package.starter import starter_spec
from modelpack.core.package.yamlsource import load
from modelpack.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schemas" / "modelpack.schema.json"
VALIDATOR = Draft202012Validator(spec_schema())


def test_committed_schema_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == schema_text(), (
        "schemas/modelpack.schema.json is out of date with the spec models: run "
        "`modelpack schema --output schemas/modelpack.schema.json` and commit the result"
    )


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(spec_schema())


def _objects(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object":
            found.append(node)
        for value in node.values():
            found += _objects(value)
    elif isinstance(node, list):
        for value in node:
            found += _objects(value)
    return found


def test_every_object_in_the_schema_refuses_unknown_keys() -> None:
    # Parameters are the one open mapping: their names are checked per Ollama version by lint.
    objects = _objects(spec_schema())
    assert len(objects) > 15
    open_ = [o.get("title") for o in objects if o.get("additionalProperties") is not False]
    assert open_ == ["Parameters", "Parameters"]


def _data(text: str) -> Any:
    return load(text, source="modelpack.yaml").data


def _errors(data: Any) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(data)]


def test_embedded_default_and_starter_spec_are_valid() -> None:
    assert _errors(_data((ROOT / "modelpack.yaml").read_text())) == []
    starter = starter_spec(
        package="main", model="m", source="m.gguf", chat_template="auto", version="0.9.3"
    )
    assert _errors(_data(starter)) == []


def test_a_misspelt_key_is_refused_where_the_models_refuse_it() -> None:
    text = (ROOT / "modelpack.yaml").read_text().replace("    system: You", "    sytem: You")
    assert "sytem" in text
    assert _errors(_data(text)) == [
        "Additional properties are not allowed ('sytem' was unexpected)"
    ]


SHORT_FORMS = """\
ollama: {version: " v0.9.3 ", timeouts: {api: "30", create: 600}}
packages:
  p.1:
    model: host.example/ns/m
    from: m.gguf
    chat_template: {text: "{{ .Prompt }}", stop: ["<|end|>"]}
    license: [MIT, Apache-2.0]
    messages: [{role: user, content: hi}]
    variants:
      - full
      - {name: lite, chat_template: {file: t.tmpl}, parameters: {num_ctx: 1024, stop: [a, b]}}
    smoke:
      prompts: [{prompt: hi, expect: "h.", num_predict: "8"}]
      timeouts: {load: 1e2, first_token: true}
    serve: {engine: llama-server, version: b6000, ctx_size: 0, n_gpu_layers: auto}
"""


def test_the_short_and_lax_forms_the_models_take_are_valid() -> None:
    data = _data(SHORT_FORMS)
    Spec.model_validate(data)
    assert _errors(data) == []


# -- never stricter than the models --------------------------------------------------------------

# Values the models take, in lax forms too, and now and then one they refuse: specs that are
# mostly valid, so that many are accepted and the property is tested where it matters.
_NUMBERS = st.one_of(
    st.integers(1, 100),
    st.floats(0.5, 1e6),
    st.sampled_from(["30", " 7 ", "+5", "1_000", "1e2", ".5", "5.", "inf", "INF", "3.0", True]),
)
_BAD_NUMBERS = st.sampled_from([0, -1, "x", "", None, "0x10", float("nan"), "1__0"])
_TEXT = st.text(st.characters(codec="ascii", categories=("L", "N", "P", "Zs")), max_size=8)
_BAD_TEXT = st.one_of(st.integers(), st.booleans(), st.none(), st.lists(st.none(), max_size=1))
_NAMES = st.sampled_from(["full", "lite", "a.b-c_d", "x" * 64])
_BAD_NAMES = st.sampled_from(["Full", "-x", "", "x" * 65, 3])


def _pick(draw: st.DrawFn, good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
    return draw(bad if draw(st.sampled_from(range(20))) == 19 else good)


def _maybe(draw: st.DrawFn, out: dict[str, Any], key: str, value: st.SearchStrategy[Any]) -> None:
    if draw(st.booleans()):
        out[key] = draw(value)


@st.composite
def _value(draw: st.DrawFn, good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> Any:
    return _pick(draw, good, bad)


def _numbers() -> st.SearchStrategy[Any]:
    return _value(_NUMBERS, _BAD_NUMBERS)


def _text() -> st.SearchStrategy[Any]:
    return _value(_TEXT, _BAD_TEXT)


@st.composite
def _variant(draw: st.DrawFn) -> Any:
    name = _pick(draw, _NAMES, _BAD_NAMES)
    if draw(st.booleans()):
        return name
    out: dict[str, Any] = {"name": name}
    _maybe(draw, out, "parameters", st.dictionaries(st.sampled_from(["num_ctx", "stop"]), _text()))
    _maybe(draw, out, "preflight", _value(st.booleans(), _BAD_TEXT))
    _maybe(
        draw, out, "chat_template", _value(st.one_of(_TEXT, st.just({"file": "t"})), st.just({}))
    )
    key = _pick(draw, st.sampled_from(["system", "from", "template"]), st.just("sytem"))
    _maybe(draw, out, key, _text())
    return out


@st.composite
def _spec(draw: st.DrawFn) -> Any:
    variants = st.lists(_variant(), min_size=1, max_size=3, unique_by=str)
    package: dict[str, Any] = {
        "model": _pick(draw, st.sampled_from(["m", "ns/m", "h.example/ns/m"]), st.just("M:x")),
        "from": _pick(draw, st.just("m.gguf"), st.just(3)),
        "chat_template": _pick(
            draw,
            st.sampled_from(["chatml", {"text": "x"}, {"file": "t", "stop": ["s"]}]),
            st.just({}),
        ),
        "variants": _pick(draw, variants, st.just([])),
    }
    _maybe(draw, package, "license", st.one_of(_text(), st.lists(_text(), max_size=2)))
    smoke: dict[str, Any] = {}
    timeouts = st.dictionaries(st.sampled_from(["load", "first_token", "total"]), _numbers())
    _maybe(draw, smoke, "timeouts", timeouts)
    prompt = st.fixed_dictionaries({"prompt": _text()}, optional={"num_predict": _numbers()})
    _maybe(draw, smoke, "prompts", st.lists(prompt, max_size=2))
    _maybe(draw, smoke, "gpu", _value(st.sampled_from(["prefer", "require", "ignore"]), _TEXT))
    package["smoke"] = smoke
    block = st.fixed_dictionaries(
        {"engine": st.just("llama-server"), "version": st.just("b6000")},
        optional={"ctx_size": _value(st.integers(0, 9), st.just("8")), "port": _numbers()},
    )
    _maybe(draw, package, "serve", st.one_of(block, st.lists(block, max_size=1)))
    ollama: dict[str, Any] = {}
    version = _value(
        st.sampled_from(["0.9.3", " v0.5.4 ", "0.33.0-rc2"]), st.sampled_from([0.9, "x"])
    )
    _maybe(draw, ollama, "version", version)
    _maybe(
        draw, ollama, "timeouts", st.dictionaries(st.sampled_from(["api", "create"]), _numbers())
    )
    name = _pick(draw, st.sampled_from(["main-gpu", "p"]), st.just("Main"))
    return {"ollama": ollama, "packages": {name: package}}


@settings(
    max_examples=fuzz_examples(400),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=_spec())
def test_whatever_the_models_accept_the_schema_accepts(data: Any) -> None:
    try:
        Spec.model_validate(data)
    except ValidationError:
        return
    assert _errors(data) == [], json.dumps(data, default=str)


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (("    model: smollm2", "    modle: smollm2"), "modle"),
        (("  version: ", "  verison: "), "verison"),
        (("      gpu: prefer", "      gpus: prefer"), "gpus"),
        (("namespace:", "namespce:"), "namespce"),
    ],
)
def test_misspelt_keys_at_every_level_are_refused(edit: tuple[str, str], field: str) -> None:
    text = (ROOT / "modelpack.yaml").read_text()
    assert edit[0] in text
    text = text.replace(edit[0], edit[1], 1)
    with pytest.raises(SpecError) as refused:
        load_spec(text, source="modelpack.yaml")
    assert any(f".{field}: unknown field" in line for line in refused.value.lines)
    # Under an anyOf (a field that may also be null), the member's own errors say why.
    errors = [e for top in VALIDATOR.iter_errors(_data(text)) for e in [top, *(top.context or [])]]
    assert any(f"'{field}' was unexpected" in e.message for e in errors)
