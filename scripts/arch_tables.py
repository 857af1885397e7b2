#!/usr/bin/env python3
"""Where `modelpack/core/gguf/architectures.py` comes from: llama.cpp's architecture table,
read out of a built library or out of Ollama's source at each tag.

    python scripts/arch_tables.py binary .modelpack/ollama/current/libllama.so
    python scripts/arch_tables.py source /path/to/ollama.git      # every tag v0.4.0 .. v0.29.x

`binary` finds llama.cpp's `LLM_ARCH_NAMES` (a std::map built from an array of
{llm_arch, const char *} pairs) in an x86-64 ELF shared library: the array's pointers are
R_X86_64_RELATIVE relocations, so the table is the run of 16-byte entries whose first pointer
names "llama" and whose enum values count up from 0, up to "(unknown)". `strings` shows the
same names, but a linker may merge one name into the tail of another (`bert` into
`nomic-bert`, `qwen2` into `rwkv6qwen2`), so the relocations are the reliable way to list them.

`source` prints, for each release where it changed, the names added to and removed from
llama.cpp's table (`llama/llama.cpp/src/llama-arch.cpp`, `llama/llama-arch.cpp` or
`llama/llama.cpp`) and from the Go engine's set (the architectures `OllamaEngineRequired` in
`fs/ggml/ggml.go` names that a package under `model/models/` registers).
"""

from __future__ import annotations

import argparse
import re
import struct
import subprocess
from pathlib import Path

_R_X86_64_RELATIVE = 8
_ENTRY = 16


def _sections(data: bytes) -> dict[str, tuple[int, int, int]]:
    """ELF64 section name -> (address, file offset, size)."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    entsize, count, names_index = struct.unpack_from("<HHH", data, 0x3A)
    rows = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * entsize) for i in range(count)]
    names_at = rows[names_index][4]
    out = {}
    for name, _type, _flags, addr, offset, size, *_ in rows:
        end = data.index(b"\0", names_at + name)
        out[data[names_at + name : end].decode()] = (addr, offset, size)
    return out


def binary_architectures(path: Path) -> list[str]:
    """The architecture names in a llama.cpp library's LLM_ARCH_NAMES, in table order."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise ValueError(f"{path} is not a 64-bit ELF file")
    sections = _sections(data)

    def offset(addr: int) -> int | None:
        for start, file_offset, size in sections.values():
            if start and start <= addr < start + size:
                return addr - start + file_offset
        return None

    def text_at(addr: int) -> str | None:
        at = offset(addr)
        if at is None:
            return None
        return data[at : data.index(b"\0", at)].decode("latin-1")

    def enum_at(addr: int) -> int | None:
        at = offset(addr)
        return None if at is None else int(struct.unpack_from("<i", data, at)[0])

    _, rela, size = sections[".rela.dyn"]
    pointers = {}
    for at in range(rela, rela + size, 24):
        where, info, addend = struct.unpack_from("<QQq", data, at)
        if info & 0xFFFFFFFF == _R_X86_64_RELATIVE:
            pointers[where] = addend
    for where, target in pointers.items():
        entry = where - 8
        if text_at(target) != "llama" or enum_at(entry) != 0:
            continue
        if enum_at(entry + _ENTRY) != 1:
            continue
        names = []
        while (target := pointers.get(entry + 8)) is not None:
            name = text_at(target)
            if name is None or name == "(unknown)":
                break
            names.append(name)
            entry += _ENTRY
        return names
    raise ValueError(f"{path}: no LLM_ARCH_NAMES table found")


# -- Ollama's source ---------------------------------------------------------------------------

_TABLE_FILES = (
    "llama/llama.cpp/src/llama-arch.cpp",
    "llama/llama-arch.cpp",
    "llama/llama.cpp",
)
_TAG = re.compile(r"v(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?")


def _git(repo: Path, *args: str) -> str | None:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else None


def _llama_cpp(repo: Path, tag: str) -> set[str]:
    for path in _TABLE_FILES:
        text = _git(repo, "show", f"{tag}:{path}")
        if text and "LLM_ARCH_NAMES = {" in text:
            start = text.index("LLM_ARCH_NAMES = {")
            block = text[start : text.index("};", start)]
            found = re.findall(r'\{\s*LLM_ARCH_\w+\s*,\s*"([^"]+)"\s*\}', block)
            return {name for name in found if name != "(unknown)"}
    raise ValueError(f"no LLM_ARCH_NAMES at {tag}")


def _ollama_engine(repo: Path, tag: str) -> set[str]:
    text = _git(repo, "show", f"{tag}:fs/ggml/ggml.go") or ""
    if "func (kv KV) OllamaEngineRequired" not in text:
        return set()
    start = text.index("func (kv KV) OllamaEngineRequired")
    required = set(re.findall(r'"([^"]+)"', text[start : text.index("\n}\n", start)]))
    pattern = r'model\.Register\("[^"]+"'
    registered = _git(repo, "grep", "-h", "-o", "-E", pattern, tag, "--", "model/models") or ""
    return required & set(re.findall(r'"([^"]+)"', registered))


def source_changes(repo: Path) -> None:
    """Print each table's changes by release (a release's set is its last tag's)."""
    tags = []
    for tag in (_git(repo, "tag") or "").split():
        match = _TAG.fullmatch(tag)
        if match is None:
            continue
        major, minor, patch, rc = match.groups()
        release = (int(major), int(minor), int(patch))
        if (0, 4, 0) <= release < (0, 30, 0):
            tags.append((release, int(rc) if rc is not None else 1 << 30, tag))
    last = {release: tag for release, _, tag in sorted(tags)}
    for title, read in (("LLAMA_CPP", _llama_cpp), ("OLLAMA_ENGINE", _ollama_engine)):
        print(f"# {title}")
        previous: set[str] = set()
        for release, tag in sorted(last.items()):
            names = read(repo, tag)
            if names != previous:
                added, removed = sorted(names - previous), sorted(previous - names)
                print(f"{'.'.join(map(str, release))} ({tag}): +{added} -{removed}")
                previous = names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("binary").add_argument("library", type=Path)
    sub.add_parser("source").add_argument("repo", type=Path)
    args = parser.parse_args()
    if args.command == "binary":
        print("\n".join(binary_architectures(args.library)))
    else:
        source_changes(args.repo)


if __name__ == "__main__":
    main()
