"""The `serve:` block: version-aware checks with the spec's lines, and the rendered argv."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.control_vector import write_control_vector
from helpers.llama_argv import parse
from helpers.tiny_gguf import write_tiny_gguf

from modelpack.core.package.spec import load_spec
from modelpack.core.serve import llamacpp, vllm
from modelpack.core.serve.launch import ServeRenderer
from modelpack.core.serve.options import Presence
from modelpack.core.serve.versions import LlamaCppBuild, VllmRelease
from modelpack.errors import InputError, SpecError

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

HEAD = """\
packages:
  pkg:
    model: acme
    from: m.gguf
    chat_template: chatml
    variants: [full]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(text, source="modelpack.yaml")
    return caught.value.lines


def test_removed_flag_names_line_field_versions_and_replacement() -> None:
    spec = HEAD + (
        "    serve:\n"
        "      engine: llama-server\n"
        "      version: b11549\n"
        "      extra_flags:\n"
        "        - --mlock\n"
    )
    assert problems(spec) == [
        "modelpack.yaml:11: packages.pkg.serve.extra_flags[0]: --mlock does not exist in "
        "llama-server b11549; removed after b10068 (gone in b11549) "
        "(use --load-mode mlock (or mmap+mlock))"
    ]
    # the same flag on the build that still had it is fine
    load_spec(spec.replace("b11549", "b10068"), source="modelpack.yaml")


def test_quantization_method_too_new_for_the_pinned_vllm() -> None:
    spec = HEAD + (
        "    serve:\n"
        "      engine: vllm\n"
        "      version: 0.5.0\n"
        "      model: Qwen/Qwen2-7B-Instruct-AWQ\n"
        "      quantization: awq_marlin\n"
    )
    assert problems(spec) == [
        "modelpack.yaml:11: packages.pkg.serve.quantization: --quantization awq_marlin does not "
        "exist in vLLM 0.5.0; added after 0.5.2 (in 0.5.3) (pin 0.5.3 or later, or drop "
        "awq_marlin)"
    ]
    load_spec(spec.replace("0.5.0", "0.5.3"), source="modelpack.yaml")
    typo = problems(spec.replace("0.5.0", "0.10.1.1").replace("awq_marlin", "awq_marln"))
    assert typo[0].endswith(
        "is not a quantization method of vLLM 0.10.1.1 (did you mean awq_marlin?)"
    )


def test_extra_flag_checks() -> None:
    spec = HEAD + (
        "    serve:\n"
        "      - engine: llama-server\n"
        "        version: b7551\n"
        "        n_gpu_layers: all\n"
        "        extra_flags: [--ctx-size, '4096', --flash-attn=on, --reasoning, 'off', --ctx_sise,"
        " '1', --control-vector-layer-range, '1']\n"
    )
    lines = problems(spec)
    assert lines == [
        "modelpack.yaml:11: packages.pkg.serve[0].extra_flags[0]: --ctx-size is what the "
        "`ctx_size` field renders (set `ctx_size` instead of passing --ctx-size in extra_flags)",
        "modelpack.yaml:11: packages.pkg.serve[0].extra_flags[2]: llama-server does not read "
        "--flash-attn=VALUE (give the value as the next item: [--flash-attn, on])",
        "modelpack.yaml:11: packages.pkg.serve[0].extra_flags[3]: --reasoning is what the "
        "`thinking` field renders (set `thinking` instead of passing --reasoning in extra_flags)",
        "modelpack.yaml:11: packages.pkg.serve[0].extra_flags[3]: --reasoning does not exist in "
        "llama-server b7551; added after b7551 (in b8929) (pin b8929 or later, or drop "
        "--reasoning)",
        "modelpack.yaml:11: packages.pkg.serve[0].extra_flags[5]: llama-server has no option "
        "--ctx-sise (did you mean --ctx-size?)",
        "modelpack.yaml:11: packages.pkg.serve[0].extra_flags[7]: --control-vector-layer-range "
        "is what the `control_vectors` field renders (set `control_vectors` instead of passing "
        "--control-vector-layer-range in extra_flags)",
        "modelpack.yaml:11: packages.pkg.serve[0].extra_flags[7]: --control-vector-layer-range "
        "takes 2 values in llama-server b7551 (START END), 1 given (give each value as its own "
        "list item after the option)",
        "modelpack.yaml:10: packages.pkg.serve[0].n_gpu_layers: llama-server b7551 takes a number "
        "of layers, not 'all' (auto and all are accepted from b8929) (write a number (-1 for the "
        "server's default, 999 for all), or pin b8929)",
    ]


def test_block_shape_errors() -> None:
    spec = HEAD + (
        "    control_vectors: [{file: v.gguf}]\n"
        "    serve:\n"
        "      - engine: llama-sever\n"
        "        version: b11549\n"
        "      - engine: vllm\n"
        "        version: 0.10.1.1\n"
        "        model: m\n"
        "        ctx_size: 10\n"
        "        control_vectors: [{file: v.gguf}]\n"
        "      - engine: llama-server\n"
        "        version: b4000\n"
        "        control_vectors:\n"
        "          - {file: v.gguf, layers: [1, 2]}\n"
        "          - {file: w.gguf, layers: [3, 4]}\n"
    )
    lines = problems(spec)
    assert lines[0] == (
        "modelpack.yaml:7: packages.pkg.control_vectors: unknown field: Ollama cannot apply "
        "control vectors (they run on llama-server: declare them under serve: (engine: "
        "llama-server))"
    )
    assert "packages.pkg.serve[0]: engine must be llama-server or vllm" in lines[1]
    assert lines[2] == (
        "modelpack.yaml:14: packages.pkg.serve[1].ctx_size: unknown field "
        "(vLLM's context is max_model_len (per sequence))"
    )
    assert lines[3].startswith(
        "modelpack.yaml:15: packages.pkg.serve[1].control_vectors: vLLM cannot apply control "
        "vectors"
    )
    assert lines[4].startswith(
        "modelpack.yaml:17: packages.pkg.serve[2].version: modelpack knows llama-server's "
        "options from b5937 on, not b4000"
    )
    assert "applies one range (--control-vector-layer-range) to all of them" in lines[5]


def test_unknown_between_samples_is_not_guessed() -> None:
    # --reasoning: absent in b7551, present in b8929; b8000 lies between.
    found = llamacpp.TABLE.availability("--reasoning", LlamaCppBuild(8000))
    assert found.presence is Presence.UNKNOWN
    assert llamacpp.TABLE.describe("--reasoning", LlamaCppBuild(8000)) == (
        "modelpack cannot tell whether llama-server b8000 takes --reasoning: it was added "
        "between b7551 and b8929",
        "pin one of the versions modelpack knows (b5937, b6301, b7551, b8929, b10068, b11549), "
        "or drop --reasoning",
    )
    # agreeing neighbours carry over; newer than the newest is judged as the newest
    assert llamacpp.TABLE.availability("--ctx-size", LlamaCppBuild(8000)).values == 1
    assert llamacpp.TABLE.availability("--mlock", LlamaCppBuild(99999)).presence is Presence.NO
    scaled = llamacpp.TABLE.availability
    assert scaled("--control-vector-scaled", LlamaCppBuild(6301)).values == 2
    assert scaled("--control-vector-scaled", LlamaCppBuild(7551)).values == 1
    assert vllm.TABLE.availability("--reasoning-parser", VllmRelease.parse("0.8.5")).presence is (
        Presence.YES
    )


def test_versions_order() -> None:
    assert VllmRelease.parse("0.10.1.1") > VllmRelease.parse("0.9.2")
    assert VllmRelease.parse("0.5.3.post1") == VllmRelease.parse("0.5.3")
    assert VllmRelease.parse("0.11.0rc1") < VllmRelease.parse("0.11.0")
    assert str(VllmRelease.parse("0.5.0")) == "0.5.0"
    assert LlamaCppBuild.parse("b11549") > LlamaCppBuild.parse("b9999")
    with pytest.raises(ValueError, match="write b and the build number"):
        LlamaCppBuild.parse("11549")


def test_the_table_is_the_installed_parser() -> None:
    """The newest column was asked of the installed llama-server parser; ask it again."""
    assert str(llamacpp.NEWEST) == "b11549"
    build = llamacpp.NEWEST
    for spelling in ("--ctx-size", "--reasoning", "--control-vector-scaled", "--load-mode"):
        assert llamacpp.TABLE.availability(spelling, build).presence is Presence.YES
        assert parse([spelling, "x"])[0] in (True, False)  # known: no "invalid argument"
    assert parse(["--mlock"])[0] is False
    assert parse(["--load-mode", "mlock"])[0] is True


# --- rendering ---------------------------------------------------------------------------------


def project(tmp_path: Path, serve: str) -> tuple[ServeRenderer, str]:
    write_tiny_gguf(
        tmp_path / "m.gguf",
        n_layer=4,
        n_embd=64,
        extra={"tokenizer.chat_template": CHATML},
    )
    text = HEAD + "    serve:\n" + serve
    (tmp_path / "modelpack.yaml").write_text(text)
    loaded = load_spec(text, source=str(tmp_path / "modelpack.yaml"))
    return ServeRenderer(loaded, spec_dir=tmp_path), text


def test_llama_argv_golden_and_accepted_by_the_real_parser(tmp_path: Path) -> None:
    (tmp_path / "cvec").mkdir()
    write_control_vector(tmp_path / "cvec/calm.gguf", n_embd=64, layers=[1, 2, 3])
    renderer, _ = project(
        tmp_path,
        "      engine: llama-server\n"
        "      version: b11549\n"
        "      alias: acme\n"
        "      ctx_size: 2048\n"
        "      n_gpu_layers: all\n"
        "      parallel: 2\n"
        "      batch_size: 512\n"
        "      ubatch_size: 128\n"
        "      thinking: false\n"
        "      port: 8091\n"
        "      control_vectors: [{file: cvec/calm.gguf, scale: 15, layers: [1, 3]}]\n"
        "      extra_flags: [--flash-attn, 'off', --cache-type-k, q8_0]\n",
    )
    (launch,) = renderer.render_package("pkg")
    assert launch.argv == [
        "llama-server",
        "--model", "../../m.gguf",
        "--alias", "acme",
        "--host", "127.0.0.1",
        "--port", "8091",
        "--ctx-size", "2048",
        "--n-gpu-layers", "all",
        "--parallel", "2",
        "--batch-size", "512",
        "--ubatch-size", "128",
        "--jinja",
        "--reasoning", "off",
        "--control-vector-scaled", "../../cvec/calm.gguf:15.0",
        "--control-vector-layer-range", "1", "3",
        "--flash-attn", "off",
        "--cache-type-k", "q8_0",
    ]  # fmt: skip
    assert launch.path == tmp_path / "modelfiles/pkg/serve-llama-server.sh"
    assert launch.text.splitlines()[3:6] == [
        'cd "$(dirname "$0")" || exit 1',
        "exec llama-server \\",
        "  --model ../../m.gguf \\",
    ]
    assert launch.text.endswith("  --cache-type-k q8_0\n")
    ok, params = parse(launch.argv[1:])
    assert ok
    assert (params.n_ctx, params.n_parallel, params.port) == (2048, 2, 8091)
    assert (params.control_vector_layer_start, params.control_vector_layer_end) == (1, 3)


def test_old_build_renders_the_old_forms(tmp_path: Path) -> None:
    write_control_vector(tmp_path / "v.gguf", n_embd=64, layers=[1, 2, 3])
    renderer, _ = project(
        tmp_path,
        "      engine: llama-server\n"
        "      version: b6301\n"
        "      thinking: false\n"
        "      control_vectors: [{file: v.gguf, scale: 0.5}]\n",
    )
    (launch,) = renderer.render_package("pkg")
    assert launch.options[-2:] == [
        ["--reasoning-budget", "0"],
        ["--control-vector-scaled", "../../v.gguf", "0.5"],
    ]


def test_control_vector_for_a_wider_model_is_refused(tmp_path: Path) -> None:
    write_control_vector(tmp_path / "big.gguf", n_embd=4096, layers=range(1, 4))
    renderer, _ = project(
        tmp_path,
        "      engine: llama-server\n"
        "      version: b11549\n"
        "      control_vectors:\n"
        "        - {file: big.gguf, scale: 15.0}\n",
    )
    with pytest.raises(InputError) as caught:
        renderer.render_package("pkg")
    assert str(caught.value).endswith(
        "modelpack.yaml:11: packages.pkg.serve.control_vectors[0].file: big.gguf does not fit "
        "m.gguf: a control vector for a 4096-wide model does not fit the base's embedding "
        "length 64 (use the control vector made for this model)"
    )


def test_vllm_argv(tmp_path: Path) -> None:
    renderer, _ = project(
        tmp_path,
        "      engine: vllm\n"
        "      version: 0.34.0\n"
        "      model: Qwen/Qwen2.5-7B-Instruct-AWQ\n"
        "      quantization: awq_marlin\n"
        "      max_model_len: 8192\n"
        "      gpu_memory_utilization: 0.9\n"
        "      max_num_seqs: 16\n"
        "      thinking: false\n"
        "      extra_flags: [--enable-prefix-caching, --kv-cache-dtype=fp8]\n",
    )
    (launch,) = renderer.render_package("pkg")
    assert launch.argv == [
        "vllm", "serve", "Qwen/Qwen2.5-7B-Instruct-AWQ",
        "--host", "127.0.0.1",
        "--port", "8000",
        "--quantization", "awq_marlin",
        "--max-model-len", "8192",
        "--gpu-memory-utilization", "0.9",
        "--max-num-seqs", "16",
        "--default-chat-template-kwargs", '{"enable_thinking": false}',
        "--enable-prefix-caching",
        "--kv-cache-dtype=fp8",
    ]  # fmt: skip
    assert "--default-chat-template-kwargs '{\"enable_thinking\": false}'" in launch.text
