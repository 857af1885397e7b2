"""The JSON Schema of `modelpack.yaml`, generated from the spec's pydantic models.

Editors (through yaml-language-server's `# yaml-language-server: $schema=...` line) and
validators such as check-jsonschema use it to complete and check a spec before modelpack reads
it. It is made from the same models that `load_spec` validates with, so it cannot drift from
them; `schemas/modelpack.schema.json` in the repository is this output, and a test keeps it so.

One rule: the schema never refuses a spec that modelpack accepts. Where it cannot say as much
as the models (a regular expression that must compile, a path that must stay in the project,
a build a pinned engine must know), it says less, and `modelpack render` reports the rest.
Unknown keys are refused as the models refuse them (`additionalProperties: false`), and the
short forms the models take are in it: `- full` for a variant, one `serve:` block for a list.
Numbers that are not declared strict take what pydantic's lax mode turns into one (`"30"`,
`true`), so those are allowed too. Pure: no files.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import json
import sys
import typing
from typing import Any, Final

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from modelpack.core.package.spec import SCHEMA_VERSION, Spec

DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"

SCHEMA_FILE: Final = "modelpack.schema.json"
"""The name `init` gives the schema it writes next to a new spec."""

MODELINE_PREFIX: Final = "# yaml-language-server: $schema="

# What pydantic's lax mode reads as a number from a string (surrounding whitespace and `_`
# between digits allowed), in the ECMA-262 dialect of JSON Schema patterns.
_INT_TEXT = r"^\s*[+-]?[0-9](_?[0-9])*(\.0*)?\s*$"
_FLOAT_TEXT = (
    r"^\s*[+-]?(([0-9](_?[0-9])*(\.([0-9](_?[0-9])*)?)?|\.[0-9](_?[0-9])*)([eE][+-]?[0-9]+)?"
    r"|[iI][nN][fF]([iI][nN][iI][tT][yY])?|[nN][aA][nN])\s*$"
)


class _SpecSchema(GenerateJsonSchema):
    def dict_schema(self, schema: core_schema.DictSchema) -> JsonSchemaValue:
        """A mapping whose keys must match a pattern (package names) refuses other keys, as
        the model does; pydantic's schema would leave them unchecked."""
        out = super().dict_schema(schema)
        if "patternProperties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out

    def int_schema(self, schema: core_schema.IntSchema) -> JsonSchemaValue:
        return self._lax(super().int_schema(schema), schema, _INT_TEXT)

    def float_schema(self, schema: core_schema.FloatSchema) -> JsonSchemaValue:
        return self._lax(super().float_schema(schema), schema, _FLOAT_TEXT)

    @staticmethod
    def _lax(
        number: JsonSchemaValue,
        schema: core_schema.IntSchema | core_schema.FloatSchema,
        text: str,
    ) -> JsonSchemaValue:
        if schema.get("strict"):
            return number
        return {"anyOf": [number, {"type": "string", "pattern": text}, {"type": "boolean"}]}


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """`root` and every model its fields hold, however nested (lists, unions, Annotated)."""
    found: list[type[BaseModel]] = []

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation not in found:
                found.append(annotation)
                hints = typing.get_type_hints(annotation, include_extras=True)
                for name in annotation.model_fields:
                    visit(hints[name])
            return
        for arg in typing.get_args(annotation):
            visit(arg)

    visit(root)
    return found


@functools.cache
def _module_tree(name: str) -> ast.Module:
    """A module's source, parsed once for all of its classes."""
    return ast.parse(inspect.getsource(sys.modules[name]))


def _attribute_docstrings(cls: type) -> dict[str, str]:
    """The string literal under each annotated attribute of `cls`'s own body (PEP 257's
    attribute docstrings), as pydantic's `use_attribute_docstrings` reads them. Read here, for
    the schema only: reading source costs every spec load some 15 ms when the models do it."""
    tree = _module_tree(cls.__module__)
    body = next(
        (n.body for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__), []
    )
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


def _describe(body: dict[str, Any]) -> None:
    """Give each property of each model in `body` its field's docstring as description (the
    nearest class in the model's MRO that documents it), unless the field sets one."""
    defs = body.get("$defs", {})
    for model in _models(Spec):
        # pydantic names a model by its class, or by module and class when two share a name
        qualified = f"{model.__module__.replace('.', '__')}__{model.__name__}"
        target = body if model is Spec else defs.get(model.__name__, defs.get(qualified))
        if target is None or "properties" not in target:
            continue
        docs: dict[str, str] = {}
        for cls in reversed(model.__mro__):
            if issubclass(cls, BaseModel) and cls is not BaseModel:
                docs |= _attribute_docstrings(cls)
        for name, field in model.model_fields.items():
            prop = target["properties"].get(field.alias or name)
            if prop is not None and field.description is None and name in docs:
                prop["description"] = docs[name]


def spec_schema() -> dict[str, Any]:
    """The schema as data."""
    body = Spec.model_json_schema(by_alias=True, mode="validation", schema_generator=_SpecSchema)
    _describe(body)
    return {
        "$schema": DIALECT,
        "title": "modelpack.yaml",
        "description": f"A modelpack package spec (schema_version {SCHEMA_VERSION}): "
        "what to build, declared once. Generated by `modelpack schema`.",
        **{k: v for k, v in body.items() if k != "title"},
    }


def schema_text() -> str:
    """The schema as the file `modelpack schema` writes: sorted keys, so it diffs cleanly."""
    return json.dumps(spec_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def modeline(location: str) -> str:
    """The first line of a spec that points yaml-language-server at the schema."""
    return f"{MODELINE_PREFIX}{location}"
