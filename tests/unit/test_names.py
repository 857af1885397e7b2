"""Ollama's name rules (core.package.names), checked against what types/model/name.go does:
how a name splits, and which names a server refuses with "invalid model name"."""

from __future__ import annotations

import pytest

from modelpack.core.package.names import RULES, NameParts, name_problem, split_name

LONG = {kind: "x" * rule.max_length for kind, rule in RULES.items()}


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("smollm2", NameParts(None, None, "smollm2", None)),
        ("smollm2:main-gpu", NameParts(None, None, "smollm2", "main-gpu")),
        ("acme/smollm2", NameParts(None, "acme", "smollm2", None)),
        ("127.0.0.1:5000/acme/m:t", NameParts("127.0.0.1:5000", "acme", "m", "t")),
        ("https://reg.example/acme/m:t", NameParts("reg.example", "acme", "m", "t")),
        ("reg:5000/acme/m", NameParts("reg:5000", "acme", "m", None)),  # the port is no tag
        ("x/", NameParts(None, "x", "", None)),
        ("a//b", NameParts("a", "", "b", None)),
        ("a/b/c/d", NameParts("a/b", "c", "d", None)),
        ("m:", NameParts(None, None, "m", "")),
    ],
)
def test_names_split_as_ollama_splits_them(name: str, parts: NameParts) -> None:
    assert split_name(name) == parts


@pytest.mark.parametrize(
    "name",
    [
        "smollm2",
        "smollm2:main-gpu-full",
        "SmolLM2:Q4_K_M",  # letters keep their case
        "_x/_y/_z:_t",  # '_' may come first in every part
        "acme/qwen2.5:7b-instruct-q4_K_M",
        "127.0.0.1:5000/acme/smollm2:main-gpu",
        "m:" + LONG["tag"],
        LONG["host"] + "/" + LONG["namespace"] + "/" + LONG["model"] + ":" + LONG["tag"],
    ],
)
def test_names_ollama_accepts(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "the model is empty"),
        ("x/", "the model is empty"),
        ("a//b", "the namespace is empty"),
        ("m:", "the tag is empty"),
        ("a/b/c/d", "'a/b/c/d' has more than three parts separated by '/'"),
        ("m" * 81, "the model 'mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm...' is 81 characters"),
        ("m:" + "t" * 81, "over Ollama's limit of 80"),
        ("x" * 351 + "/n/m", "the host 'xxxx"),
        ("-m", "the model '-m' must start with a letter, a digit or '_'"),
        ("m:.t", "the tag '.t' must start with"),
        ("na.me/m", "the namespace 'na.me' has '.', which Ollama does not allow in a namespace"),
        ("host/name:space/m:t", "the namespace 'name:space' has ':'"),
        ("caf\u00e9", "the model 'café' has 'é'"),
        ("a b", "has ' '"),
        ("m@sha256", "has '@'"),
    ],
)
def test_names_ollama_refuses(name: str, problem: str) -> None:
    found = name_problem(name)
    assert found is not None and problem in found, found
