"""Regenerate the engine option tables in modelpack/core/serve/ from the engines' own code.

    .venv/bin/python scripts/serve_tables.py llama-server   # -> core/serve/llamacpp_options.py
    .venv/bin/python scripts/serve_tables.py vllm           # -> core/serve/vllm_options.py

llama-server: each xllamacpp wheel compiles llama.cpp's `common/arg.cpp` into its extension and
exports `common_params_parse`. xllamacpp's version is YEAR.MONTH.BUILD, BUILD being the
llama.cpp release it vendors (xorbitsai/xllamacpp's history: "Update llama.cpp to b8929" is
v2026.4.8929; the 0.x versions map through the same history, see LLAMA_WHEELS). For each build
this script asks that parser itself, in a child process: the option list is its `--help` for
the server example, and the number of values each spelling takes is what the parser does with
`SPELLING __probe__` (an "invalid argument: __probe__" means none, "expected value" two, else
one). The newest build is the one the test extra installs, probed in place.

vLLM: every wheel carries its Python source. The options are read statically (no torch): the
literal spellings of `add_argument` calls in `vllm/engine/arg_utils.py` and the OpenAI
front end's argument module, plus `--FIELD` for each field of the front end's argument
dataclasses (vLLM >= 0.10 generates those, with `--no-FIELD` for booleans, as it does for
the engine's boolean fields). `--quantization` takes the keys of
`vllm/model_executor/layers/quantization/__init__.py` (its QUANTIZATION_METHODS), and whether a
method needs a GPU comes from its config class's `get_min_capability` (a CUDA compute
capability that vLLM checks against the GPU at load).

Wheels come from PyPI by pin and sha256 (scripts/_wheels.py) and are cached in
$TMPDIR/serve-tables (MODELPACK_TABLE_DOWNLOADS moves it): vLLM's are hundreds of MB each and
nothing but this script needs them. Nothing here runs at modelpack's run time.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

_CACHE = os.environ.get("MODELPACK_TABLE_DOWNLOADS", tempfile.gettempdir())
DOWNLOADS = Path(_CACHE) / "serve-tables"
SERVE = ROOT / "modelpack" / "core" / "serve"

# (llama.cpp build, xllamacpp version, wheel sha256). The build of each 0.x version is the
# "Update llama.cpp to bNNNN" commit its tag contains in xorbitsai/xllamacpp's history.
LLAMA_WHEELS = (
    ("b5937", "0.1.24", "05c557d22ab36b5a50e624e1ec2f372d482ec61e7a349288563b761eb2ced653"),
    ("b6301", "0.2.0", "ae0e5030a4292cd838ca841082365aae81963846a814d4d5925b16fa43d60658"),
    ("b7551", "0.2.8", "36acb70eccc4708c7f179f3faa21bc64b063fa1b09fb10e14c26a72101b16ac5"),
    ("b8929", "2026.4.8929", "bc53a6a492db416316f63c9ac368b20242e9a14570bc099e131d1b761f6dc496"),
    ("b10068", "2026.7.10068", "b2d881bf14fcd8e3d5396300cf0cf8b60b94c1cdddf2cbcf2950045b880bfd9f"),
)
"""Older builds; the installed xllamacpp (the test extra's pin) is the newest."""

VLLM_WHEELS = (
    ("0.5.0", "72f35a3b5f9f303783ba38832de00ba9832af136b36d6b510f09d8a10375cf2d"),
    ("0.5.2", "ac9e366ffad44a8928889871e12b3718476df063e28a1da15a30ba70c1f29df9"),
    ("0.5.3", "7841072a979d87c023845dbfe429ff650aa90c9a0dc01ad1daf3a0c3000872e4"),
    ("0.5.4", "e0722a5451bc32799b27aba7ef16356d31563e3ea2602a4a4ff3ff5ab4e9f9df"),
    ("0.6.6", "67391737826703bb50f8a3e610b8518e063ee8062026be2b030b7812f5d0765d"),
    ("0.8.5", "74bfe92953bee1269c1e1c27827bc156777751cdd6a3457ee8e27dd8ebf1e247"),
    ("0.10.1.1", "8ca0dd985e1ceac8540e7719c654f1553b3ba8a43c685ac8d3fa1366ffb6443a"),
    ("0.34.0", "79ca4b3cd74aec08c4bf476bdf0cb15735b605ae5368526a2faae1e30f044ca2"),
)

_PARSE = "_Z19common_params_parseiPPcR13common_params13llama_examplePFviS0_E"
"""`common_params_parse(int, char**, common_params&, llama_example, void(*)(int, char**))`."""


# --- llama-server: the child that asks one wheel's parser ---------------------------------------


class _Parser:
    """llama.cpp's own argument parser inside an imported xllamacpp, called through ctypes.

    xllamacpp's `CommonParams` holds a `common_params` right after the Python object header
    (`cdef common_params p` is its first field); the address is checked by parsing
    `--ctx-size 777` and reading `n_ctx` back before anything else is trusted.
    """

    def __init__(self) -> None:
        if "orjson" not in sys.modules:
            with contextlib.suppress(ImportError):
                import orjson  # noqa: F401
        # xllamacpp 0.2.x imports orjson at import time but the parser never uses it.
        sys.modules.setdefault("orjson", types.ModuleType("orjson"))
        import xllamacpp

        self.xllamacpp = xllamacpp
        library = ctypes.CDLL(sys.modules["xllamacpp.xllamacpp"].__file__)
        self.parse = getattr(library, _PARSE)
        self.parse.restype = ctypes.c_bool
        self.parse.argtypes = [
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_void_p,
            ctypes.c_int,
            ctypes.c_void_p,
        ]
        self.example = self._server_example()

    def run(self, example: int, args: list[str]) -> tuple[int, str]:
        """(exit code, output) of parsing `args` in a forked child: some options exit."""
        with tempfile.TemporaryFile() as out:
            pid = os.fork()
            if pid == 0:  # the child: parse, report through the exit code
                os.dup2(out.fileno(), 1)
                os.dup2(out.fileno(), 2)
                import signal

                signal.alarm(20)
                params = self.xllamacpp.CommonParams()
                argv_items = [b"llama-server", *(a.encode() for a in args)]
                argv = (ctypes.c_char_p * (len(argv_items) + 1))(*argv_items, None)
                ok = self.parse(len(argv_items), argv, id(params) + 16, example, None)
                sys.stdout.flush()
                if not ok:
                    os._exit(11)
                os._exit(12 if "--ctx-size" in args and params.n_ctx != 777 else 10)
            _, status = os.waitpid(pid, 0)
            out.seek(0)
            return os.waitstatus_to_exitcode(status), out.read().decode(errors="replace")

    def _server_example(self) -> int:
        """LLAMA_EXAMPLE_SERVER's value in this build: the one example that takes --port."""
        for example in range(64):
            code, _ = self.run(example, ["--port", "8", "--ctx-size", "777"])
            if code == 10:
                return example
        raise SystemExit("no llama_example accepts --port: not a llama-server parser")


def _help_options(text: str) -> dict[str, str]:
    """Spelling -> its value hint, from `--help` (common_arg::to_string's layout: spellings
    joined by ", ", the hints, then the help text from column 40)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("-") or line.startswith("-----"):
            continue
        head = line[:37].rstrip() if len(line) > 40 and line[37:40] == "   " else line.rstrip()
        match = re.match(r"((?:-[^\s,]+(?:,\s+|$| ))+)(.*)", head)
        if match is None:
            continue
        spellings = [s for s in re.split(r"[,\s]+", match.group(1)) if s]
        for spelling in spellings:
            found[spelling] = match.group(2).strip()
    return found


def _arity(parser: _Parser, spelling: str) -> int:
    code, output = parser.run(parser.example, [spelling, "__probe__"])
    if "invalid argument: __probe__" in output:
        return 0
    if "expected value for argument" in output:
        return 2
    if code == 0:
        return 0  # an action that prints and exits while parsing (--version, --cache-list)
    return 1


def probe_llama_child() -> None:
    parser = _Parser()
    _, text = parser.run(parser.example, ["--help"])
    hints = _help_options(text)
    options = {}
    for spelling, hint in hints.items():
        options[spelling] = {"values": _arity(parser, spelling), "hint": hint}
    groups = []
    for line in text.splitlines():
        if line.startswith("-") and not line.startswith("-----"):
            head = line[:37] if len(line) > 40 and line[37:40] == "   " else line
            match = re.match(r"((?:-[^\s,]+(?:,\s+|$| ))+)", head)
            if match:
                groups.append([s for s in re.split(r"[,\s]+", match.group(1)) if s])
    json.dump({"example": parser.example, "options": options, "groups": groups}, sys.stdout)


def probe_llama(site: Path | None) -> dict[str, object]:
    env = dict(os.environ)
    if site is not None:
        env["PYTHONPATH"] = str(site)
    result = subprocess.run(
        [sys.executable, __file__, "_probe-llama"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _wheel_site(version: str, sha256: str, name: str) -> Path:
    from _wheels import Wheel, download

    wheel = download(Wheel(name, version, sha256), DOWNLOADS)
    site = DOWNLOADS / f"{name}-{version}-site"
    if not site.is_dir():
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    return site


def llama_table() -> str:
    import xllamacpp

    current = xllamacpp.__version__
    builds = [
        (build, f"xllamacpp {version}", _wheel_site(version, sha, "xllamacpp"))
        for build, version, sha in LLAMA_WHEELS
    ]
    builds.append((f"b{current.rsplit('.', 1)[1]}", f"xllamacpp {current} (installed)", None))
    probed = [(build, origin, probe_llama(site)) for build, origin, site in builds]
    spellings = sorted(
        {s for _, _, data in probed for s in data["options"]},  # type: ignore[attr-defined]
        key=lambda s: (s.lstrip("-"), s),
    )
    rows = []
    for spelling in spellings:
        history = "".join(
            str(data["options"][spelling]["values"]) if spelling in data["options"] else "-"  # type: ignore[index]
            for _, _, data in probed
        )
        newest = next(data for _, _, data in reversed(probed) if spelling in data["options"])  # type: ignore[operator]
        hint = newest["options"][spelling]["hint"]  # type: ignore[index]
        group = next(g for g in newest["groups"] if spelling in g)  # type: ignore[attr-defined]
        rows.append((spelling, history, hint, tuple(s for s in group if s != spelling)))
    lines = [
        '"""llama-server\'s options by llama.cpp build. GENERATED by scripts/serve_tables.py; do',
        "not edit.",
        "",
        "Each build's options were asked of that build's own parser (`common_params_parse`, the",
        "server example), compiled into an xllamacpp wheel:",
        "",
        *(
            f"- {build}: {origin}, LLAMA_EXAMPLE_SERVER = {data['example']}"
            for build, origin, data in probed
        ),
        "",
        "A row is (spelling, history, value hint, other spellings of the option): history has",
        "one character per build in BUILDS, the number of values the spelling takes there, or",
        '"-" where that build refuses it ("invalid argument").',
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Final",
        "",
        f"BUILDS: Final = {tuple(build for build, _, _ in probed)!r}",
        "",
        "OPTIONS: Final[tuple[tuple[str, str, str, tuple[str, ...]], ...]] = (",
        *(f"    {row!r}," for row in rows),
        ")",
        "",
    ]
    return "\n".join(lines)


# --- vLLM: read statically from each wheel's source ---------------------------------------------


_FRONTEND_MODULES = (
    "vllm/entrypoints/openai/cli_args.py",
    "vllm/entrypoints/common/cli_args.py",
)
_ENGINE_MODULE = "vllm/engine/arg_utils.py"
_QUANT_MODULE = "vllm/model_executor/layers/quantization/__init__.py"
_QUANT_DIR = "vllm/model_executor/layers/quantization/"


def _read(archive: zipfile.ZipFile, name: str) -> ast.Module | None:
    try:
        return ast.parse(archive.read(name))
    except KeyError:
        return None


def _literal_spellings(tree: ast.Module) -> dict[str, list[str]]:
    """First spelling -> every spelling of each `X.add_argument("--a", "-b", ...)`."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "add_argument"
        ):
            names = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant)
                and isinstance(a.value, str)
                and a.value.startswith("-")
            ]
            boolean = any(
                k.arg == "action"
                and isinstance(k.value, ast.Attribute)
                and k.value.attr == "BooleanOptionalAction"
                for k in node.keywords
            )
            if names:
                found[names[0]] = names + ([f"--no-{names[0][2:]}"] if boolean else [])
    return found


def _is_bool(annotation: ast.expr | None) -> bool:
    text = ast.unparse(annotation) if annotation is not None else ""
    return text in {"bool", "bool | None", "Optional[bool]", "Union[bool, None]"}


def _dataclass_fields(tree: ast.Module, suffix: str) -> dict[str, bool]:
    """Fields (-> is it a bool) of the classes whose names end with `suffix`."""
    fields: dict[str, bool] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.endswith(suffix):
            for item in node.body:
                if (
                    isinstance(item, ast.AnnAssign)
                    and isinstance(item.target, ast.Name)
                    and not item.target.id.startswith("_")
                ):
                    fields[item.target.id] = _is_bool(item.annotation)
    return fields


def _quantization(archive: zipfile.ZipFile) -> tuple[list[str], dict[str, int | None]]:
    tree = _read(archive, _QUANT_MODULE)
    assert tree is not None
    methods: list[str] = []
    for node in ast.walk(tree):
        target = None
        if isinstance(node, ast.AnnAssign | ast.Assign):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            target = next((t.id for t in targets if isinstance(t, ast.Name)), None)
        if target == "QUANTIZATION_METHODS" and isinstance(node.value, ast.Dict):  # type: ignore[union-attr]
            methods = [k.value for k in node.value.keys if isinstance(k, ast.Constant)]  # type: ignore[union-attr]
        elif target == "QUANTIZATION_METHODS" and isinstance(node.value, ast.List):  # type: ignore[union-attr]
            methods = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]  # type: ignore[union-attr]
        elif target == "QuantizationMethods" and isinstance(node.value, ast.Subscript):  # type: ignore[union-attr]
            elements = node.value.slice  # type: ignore[union-attr]
            items = elements.elts if isinstance(elements, ast.Tuple) else [elements]
            methods = [e.value for e in items if isinstance(e, ast.Constant)]
    capability = _min_capabilities(archive)
    return methods, {m: capability.get(m) for m in methods}


def _min_capabilities(archive: zipfile.ZipFile) -> dict[str, int]:
    """Method name (the config's get_name()) -> its get_min_capability() constant."""
    out: dict[str, int] = {}
    for name in archive.namelist():
        if not (name.startswith(_QUANT_DIR) and name.endswith(".py")):
            continue
        tree = _read(archive, name)
        for node in ast.walk(tree) if tree else []:
            if not isinstance(node, ast.ClassDef):
                continue
            method = capability = None
            for item in node.body:
                wanted = {"get_name", "get_min_capability"}
                if isinstance(item, ast.FunctionDef) and item.name in wanted:
                    returns = [r.value for r in ast.walk(item) if isinstance(r, ast.Return)]
                    constants = [r.value for r in returns if isinstance(r, ast.Constant)]
                    if len(returns) == 1 and len(constants) == 1:
                        if item.name == "get_name" and isinstance(constants[0], str):
                            method = constants[0]
                        elif item.name == "get_min_capability" and isinstance(constants[0], int):
                            capability = constants[0]
            if method is not None and capability is not None:
                out.setdefault(method, capability)
    return out


def probe_vllm(wheel: Path) -> dict[str, object]:
    with zipfile.ZipFile(wheel) as archive:
        options: dict[str, list[str]] = {}
        engine = _read(archive, _ENGINE_MODULE)
        assert engine is not None
        options.update(_literal_spellings(engine))
        generated = any(
            isinstance(n, ast.Attribute) and n.attr == "BooleanOptionalAction"
            for n in ast.walk(engine)
        )
        engine_fields = _dataclass_fields(engine, "EngineArgs")
        for module in _FRONTEND_MODULES:
            tree = _read(archive, module)
            if tree is None:
                continue
            options.update(_literal_spellings(tree))
            for field, boolean in _dataclass_fields(tree, "FrontendArgs").items():
                flag = f"--{field.replace('_', '-')}"
                options.setdefault(flag, [flag] + ([f"--no-{flag[2:]}"] if boolean else []))
        if generated:
            # get_kwargs gives every boolean engine field BooleanOptionalAction (vLLM >= 0.10).
            for field, boolean in engine_fields.items():
                flag = f"--{field.replace('_', '-')}"
                if boolean and flag in options and f"--no-{flag[2:]}" not in options[flag]:
                    options[flag].append(f"--no-{flag[2:]}")
        methods, capability = _quantization(archive)
    return {"options": options, "quantization": methods, "capability": capability}


def vllm_table() -> str:
    from _wheels import Wheel, download

    probed = []
    for version, sha in VLLM_WHEELS:
        wheel = download(Wheel("vllm", version, sha), DOWNLOADS)
        probed.append((version, probe_vllm(wheel)))
    spellings: dict[str, tuple[str, ...]] = {}
    for _, data in probed:
        for names in data["options"].values():  # type: ignore[attr-defined]
            for name in names:
                spellings[name] = tuple(n for n in names if n != name)
    rows = []
    for spelling in sorted(spellings, key=lambda s: (s.lstrip("-"), s)):
        history = "".join(
            "1" if any(spelling in names for names in data["options"].values()) else "-"  # type: ignore[attr-defined]
            for _, data in probed
        )
        rows.append((spelling, history, spellings[spelling]))
    methods = sorted({m for _, data in probed for m in data["quantization"]})  # type: ignore[attr-defined]
    quant_rows = []
    for method in methods:
        history = "".join("1" if method in data["quantization"] else "-" for _, data in probed)  # type: ignore[operator]
        stated = [
            (data["capability"][method], version)  # type: ignore[index]
            for version, data in reversed(probed)
            if data["capability"].get(method) is not None  # type: ignore[attr-defined]
        ]
        capability, source = stated[0] if stated else (None, None)
        quant_rows.append((method, history, capability, source))
    lines = [
        '"""vLLM\'s server options and quantization methods by release. GENERATED by',
        "scripts/serve_tables.py; do not edit.",
        "",
        "Read from each release's wheel on PyPI (its Python source, not run):",
        "",
        *(f"- {version}: vllm-{version} (sha256 {sha[:16]}...)" for version, sha in VLLM_WHEELS),
        "",
        "Options: the spellings of the `add_argument` calls in vllm/engine/arg_utils.py and",
        "vllm/entrypoints/openai/cli_args.py (vllm/entrypoints/common/cli_args.py in 0.34), plus",
        "`--FIELD` for the fields of the front end's argument dataclasses (BaseFrontendArgs,",
        "FrontendArgs) and `--no-FIELD` for boolean ones where vLLM adds it. A row is (spelling,",
        'history, other spellings): history has one character per release in RELEASES, "1" where',
        'the release has the spelling and "-" where it does not.',
        "",
        "Quantization: the keys of QUANTIZATION_METHODS in",
        "vllm/model_executor/layers/quantization/__init__.py. A row is (method, history, the",
        "minimum GPU compute capability times ten that the method's config class states with a",
        "constant get_min_capability(), and the newest release that states it; None where no",
        "release states a constant). vLLM refuses the method on a GPU below it at load.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from typing import Final",
        "",
        f"RELEASES: Final = {tuple(version for version, _ in VLLM_WHEELS)!r}",
        "",
        "OPTIONS: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (",
        *(f"    {row!r}," for row in rows),
        ")",
        "",
        "QUANTIZATION: Final[tuple[tuple[str, str, int | None, str | None], ...]] = (",
        *(f"    {row!r}," for row in quant_rows),
        ")",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:] == ["_probe-llama"]:
        probe_llama_child()
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("engine", choices=["llama-server", "vllm"])
    args = parser.parse_args()
    if args.engine == "llama-server":
        target, text = SERVE / "llamacpp_options.py", llama_table()
    else:
        target, text = SERVE / "vllm_options.py", vllm_table()
    target.write_text(text, encoding="utf-8")
    subprocess.run([sys.executable, "-m", "ruff", "format", "-q", str(target)], check=True)
    print(target.relative_to(ROOT))


if __name__ == "__main__":
    main()
