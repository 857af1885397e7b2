"""The template gate, for build and matrix alike: does the created model build the prompts its
GGUF was made for?

For a variant's tag it reads what the server stored (TEMPLATE, SYSTEM, MESSAGEs: `/api/show`),
renders every probe conversation as Ollama would send it and as the GGUF's own chat template
renders it (`core.chat.parity`), and, with `smoke.reference: llama-server`, asks the real
llama.cpp server (xllamacpp, started here on the GGUF, one per file, stopped by `close`) to
render the same messages with that template and count their tokens, next to Ollama's
`prompt_eval_count` for them. What the findings mean under `smoke.template` is decided in
`core.results.template.gate`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from modelpack.core.chat import (
    ChatReference,
    Conversation,
    Message,
    Parity,
    as_sent,
    parity,
    probes,
)
from modelpack.core.package.spec import SMOKE_SEED, Smoke
from modelpack.core.results.record import VariantResult, Verdict
from modelpack.core.results.template import PromptTokens, TemplateVerdict, gate
from modelpack.core.versions import OllamaVersion
from modelpack.edge.client import OllamaClient
from modelpack.errors import InputError, ModelpackError, ServerError, ServerGoneError
from modelpack.jobs.events import Event, EventKind, OnEvent, ignore

if TYPE_CHECKING:
    from modelpack.core.package.render import Rendered
    from modelpack.edge.llama_server import LlamaServerProcess

__all__ = ["TemplateGate", "gated", "with_gate"]

_Key = tuple[str, str | None, tuple[Message, ...], ChatReference, OllamaVersion]


class TemplateGate:
    """Judges created models' TEMPLATEs on one server (the client is passed in). Use as a
    context manager, or call `close`, to stop the llama-servers it started."""

    def __init__(
        self, client: OllamaClient, *, on_event: OnEvent = ignore, log_dir: Path | None = None
    ) -> None:
        self.client = client
        self.emit = on_event
        self.log_dir = log_dir
        self._parities: dict[_Key, Parity | str] = {}
        """Parity by stored TEMPLATE, SYSTEM, MESSAGEs, reference and version (or why it could
        not be checked): a package's variants usually store the same, compared once."""
        self._servers: dict[Path, LlamaServerProcess] = {}

    def __enter__(self) -> TemplateGate:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        servers, self._servers = self._servers, {}
        for server in servers.values():
            server.stop()

    def check(
        self,
        tag: str,
        rendered: Rendered | None,
        smoke: Smoke,
        version: OllamaVersion,
        *,
        subject: str | None = None,
    ) -> TemplateVerdict:
        """The gate's verdict for `tag`, created from `rendered`, whose `chat_reference` is the
        GGUF's own chat template (None, or no reference: the GGUF has none, FROM names a model,
        or the spec no longer has the variant: nothing to compare with)."""
        reference = rendered.chat_reference if rendered is not None else None
        gguf = rendered.source if rendered is not None else None
        if smoke.template == "ignore" or reference is None:
            return TemplateVerdict()
        shown = self.client.show(tag)
        template = str(shown.get("template") or "")
        system = str(shown.get("system") or "") or None
        preset = tuple(
            Message(str(m.get("role", "")), str(m.get("content", "")))
            for m in shown.get("messages") or []
            if isinstance(m, dict)
        )
        key: _Key = (template, system, preset, reference, version)
        if key not in self._parities:
            try:
                self._parities[key] = parity(
                    template,
                    reference.template,
                    system=system,
                    preset=preset,
                    bos_token=reference.bos_token,
                    eos_token=reference.eos_token,
                    version=version,
                )
            except InputError as exc:
                self._parities[key] = exc.message
        found = self._parities[key]
        checked = found if isinstance(found, Parity) else None
        tokens: list[PromptTokens] = []
        token_error = None
        if smoke.reference == "llama-server" and checked is not None:
            if gguf is None:
                token_error = "FROM names a model, not a GGUF file llama-server could load"
            else:
                try:
                    tokens = self._tokens(tag, gguf, template, checked, system, preset, smoke)
                except ServerGoneError:
                    raise
                except ModelpackError as exc:
                    token_error = exc.message
        verdict = gate(
            smoke.template,
            parity=checked,
            error=found if isinstance(found, str) else None,
            tokens=tokens,
            token_error=token_error,
        )
        self.emit(Event(EventKind.PARITY, subject, verdict.summary()))
        return verdict

    def _tokens(
        self,
        tag: str,
        gguf: Path,
        template: str,
        checked: Parity,
        system: str | None,
        preset: Sequence[Message],
        smoke: Smoke,
    ) -> list[PromptTokens]:
        """Each probe conversation that ends on a user turn and that the model's template
        renders: Ollama's prompt token count and llama-server's. A conversation ending on the
        assistant is left out: llama-server continues the final message, Ollama's `.Messages`
        templates close it and open the next turn, and both are right (core.chat)."""
        skipped = {c.conversation for c in checked.conversations if c.skipped}
        conversations: list[Conversation] = [
            c
            for c in probes(template)
            if c.name not in skipped and c.messages and c.messages[-1].role != "assistant"
        ]
        server = self._server(gguf)
        out = []
        for conversation in conversations:
            sent = [{"role": m.role, "content": m.content} for m in conversation.messages]
            reply = self.client.chat(
                tag,
                sent,
                options={"num_predict": 1, "seed": SMOKE_SEED, "temperature": 0},
                timeout=smoke.timeouts.load + smoke.timeouts.first_token,
            )
            counted = reply.get("prompt_eval_count")
            if not isinstance(counted, int):
                raise ServerError(f"{tag} answered /api/chat without a prompt_eval_count")
            full = as_sent(conversation.messages, system=system, preset=preset)
            messages = [{"role": m.role, "content": m.content} for m in full]
            prompt = server.post("/apply-template", {"messages": messages}).get("prompt")
            if not isinstance(prompt, str):
                raise ServerError("llama-server's /apply-template answered without a prompt")
            ids = server.post(
                "/tokenize", {"content": prompt, "add_special": True, "parse_special": True}
            ).get("tokens")
            if not isinstance(ids, list):
                raise ServerError("llama-server's /tokenize answered without tokens")
            out.append(PromptTokens(conversation.name, counted, len(ids)))
        return out

    def _server(self, gguf: Path) -> LlamaServerProcess:
        """The llama-server serving `gguf` with its own chat template (started once)."""
        from modelpack.edge.llama_server import LlamaServerProcess, model_argv

        path = gguf.resolve()
        if path not in self._servers:
            log_dir = self.log_dir or Path(tempfile.mkdtemp(prefix="modelpack-llama-"))
            server = LlamaServerProcess(
                model_argv(path, ctx_size=2048),
                cwd=log_dir,
                log_path=log_dir / f"llama-server-{len(self._servers)}.log",
            )
            server.start()
            self._servers[path] = server
        return self._servers[path]


def with_gate(result: VariantResult, verdict: TemplateVerdict) -> VariantResult:
    """A variant's result with the gate's findings, failed with the gate's reason when the gate
    fails it (build and promote alike; the smoke test then does not run)."""
    update: dict[str, object] = {
        "template_parity": verdict.parity,
        "template_difference": verdict.difference,
        "prompt_token_parity": verdict.tokens,
    }
    if verdict.failure is not None:
        update |= {"verdict": Verdict.FAILED, "reason": verdict.failure}
    return result.model_copy(update=update)


def gated(
    result: VariantResult,
    verdict: TemplateVerdict,
    judge: Callable[[VariantResult], VariantResult],
) -> VariantResult:
    """The gate, then the smoke test, as build, promote and verify-pull apply them: the gate's
    findings on `result`; unless the gate failed it, `judge(result)` (the smoke test, or its
    skipping) with the gate's warning (smoke.template: warn) added. A variant the gate fails
    gets no smoke test: its answers would be judged on prompts the model was not made for."""
    result = with_gate(result, verdict)
    if verdict.failure is not None:
        return result
    judged = judge(result)
    if verdict.warning is None:
        return judged
    return judged.model_copy(update={"warnings": [*judged.warnings, verdict.warning]})
