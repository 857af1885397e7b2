"""Smoke prompts against any OpenAI-compatible server (vLLM, llama-server), timed from the stream.

Ollama is not the only place a packaged model runs, so the same prompt and the same judgement
(`modelpack.core.results.judge.judge`) must work against `POST /v1/chat/completions`. The answer is
always streamed (SSE, `stream_options.include_usage`), because TTFT only exists on a stream:

- TTFT: client time from sending the request to the first non-empty `delta.content`. Reasoning
  (`delta.reasoning_content`, or vLLM's `delta.reasoning`) is kept apart and never judged, so a
  thinking model's TTFT is its time to the first answer token.
- Token rates: llama.cpp appends `timings` (prompt_n/prompt_ms, predicted_n/predicted_ms) and
  those are used when present. Other servers only send `usage`; decode tok/s is then measured on
  the client, (completion_tokens - 1) over the time from the first to the last streamed token.
  Prompt tok/s needs a server timing and stays unknown without one. OpenAI servers report no
  load time and no VRAM share, so `load_s` is None and the GPU rule is `ignore`.
- Finish: `stop` and `length` mean what Ollama's done_reason means; anything else (tool_calls,
  content_filter) fails the judgement, and so does a stream that never names one.
- `thinking` sends `chat_template_kwargs.enable_thinking` (the Qwen3 / llama.cpp / vLLM switch);
  None sends nothing, for servers that reject unknown fields. With thinking off, the prompt the
  server built is read first from llama-server's `POST /apply-template` (same messages, same
  switch) and must prove thinking off; reasoning in the answer fails the prompt
  (`modelpack.core.results.thinking`). A server without that endpoint (vLLM) is judged on the
  answer alone, with a warning.

Single-model servers such as llama-server answer whatever `model` is asked for with the one model
they have; the run then warns that the server answered as another model.

This module is the one place where transport failures and error replies become modelpack errors:
an error status or an error event inside the stream is a `ServerError` carrying the server's own
message, a refused or dropped connection a `ServerGoneError`, a timeout a `ServerTimeout`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from modelpack.core.results.judge import Measurement, judge
from modelpack.core.results.matrix import Run
from modelpack.errors import ServerError, ServerGoneError, ServerTimeout

__all__ = ["CHAT_PATH", "MODELS_PATH", "Generation", "OpenAITarget"]

CHAT_PATH = "/v1/chat/completions"
APPLY_TEMPLATE_PATH = "/apply-template"
MODELS_PATH = "/v1/models"
DONE = "[DONE]"
MS = 1000.0


def _error_text(response: httpx.Response) -> str:
    """The server's own words: OpenAI's `{"error": {"message"}}`, vLLM's `{"message"}`, or text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    return _message_of(body) or response.text.strip() or response.reason_phrase


def _message_of(body: Any) -> str | None:
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if isinstance(error, Mapping):
        return str(error.get("message") or json.dumps(error))
    if error:
        return str(error)
    for key in ("message", "detail"):
        if body.get(key):
            return str(body[key])
    return None


def _conversation(prompt: str, system: str | None, *, thinking: bool | None) -> dict[str, Any]:
    """The messages (and the thinking switch) a smoke prompt sends, the same for the prompt the
    server shows and the answer it streams."""
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages.append({"role": "user", "content": prompt})
    body: dict[str, Any] = {"messages": messages}
    if thinking is not None:
        body["chat_template_kwargs"] = {"enable_thinking": thinking}
    return body


def _sse_events(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event, data) for each server-sent event; comments such as `: ping` are skipped.

    Data lines of one event are joined as the SSE spec says; llama.cpp's older `error: {...}`
    field counts as an error event.
    """
    event = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "error":
            event = "error"
            data.append(value)
    if data:
        yield event, "\n".join(data)


def _number(mapping: Mapping[str, Any], key: str) -> float | None:
    value = mapping.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(mapping: Mapping[str, Any], key: str) -> int | None:
    value = _number(mapping, key)
    return int(value) if value is not None else None


@dataclass(frozen=True)
class Generation:
    """One streamed answer and what was measured on it, before any judgement."""

    text: str
    finish_reason: str | None
    max_tokens: int
    ttft_s: float | None
    """Client time from sending the request to the first non-empty content delta."""
    total_s: float
    served_model: str | None = None
    """The model the server says answered (single-model servers ignore the one asked for)."""
    reasoning: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    timings: Mapping[str, Any] = field(default_factory=dict)
    """llama.cpp's server-side timings, empty for servers that send none."""
    client_decode_tps: float | None = None

    @property
    def server_total_s(self) -> float | None:
        prompt_ms = _number(self.timings, "prompt_ms")
        predicted_ms = _number(self.timings, "predicted_ms")
        if prompt_ms is None or predicted_ms is None:
            return None
        return (prompt_ms + predicted_ms) / MS

    def _timed(self, count_key: str, ms_key: str) -> tuple[int | None, float | None]:
        """(tokens, seconds) from llama.cpp's timings, or (None, None) when not both sent."""
        count, ms = _count(self.timings, count_key), _number(self.timings, ms_key)
        return (count, ms / MS) if count is not None and ms is not None else (None, None)

    def measurement(self) -> Measurement:
        """What `judge` needs; token counts and durations come from server timings when sent."""
        prompt_n, prompt_s = self._timed("prompt_n", "prompt_ms")
        predicted_n, predicted_s = self._timed("predicted_n", "predicted_ms")
        return Measurement(
            text=self.text,
            done_reason=self.finish_reason,
            num_predict=self.max_tokens,
            ttft_s=self.ttft_s,
            prompt_tokens=self.prompt_tokens if prompt_n is None else prompt_n,
            prompt_s=prompt_s,
            eval_tokens=self.completion_tokens if predicted_n is None else predicted_n,
            eval_s=predicted_s,
            reasoning=self.reasoning,
        )


@dataclass
class _Collector:
    """Folds stream chunks into a Generation, timestamping the tokens as they arrive."""

    start: float
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    served_model: str | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)
    timings: Mapping[str, Any] = field(default_factory=dict)
    first_content_at: float | None = None
    first_token_at: float | None = None
    last_token_at: float | None = None

    def add(self, chunk: Mapping[str, Any], now: float) -> None:
        if isinstance(chunk.get("model"), str):
            self.served_model = chunk["model"]
        if isinstance(chunk.get("usage"), Mapping):
            self.usage = chunk["usage"]
        if isinstance(chunk.get("timings"), Mapping):
            self.timings = chunk["timings"]
        choices = chunk.get("choices") or []
        choice = next(
            (c for c in choices if isinstance(c, Mapping) and c.get("index", 0) == 0), None
        )
        if choice is None:
            return
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        delta = choice.get("delta")
        if not isinstance(delta, Mapping):
            delta = {}
        thought = delta.get("reasoning_content") or delta.get("reasoning")
        content = delta.get("content")
        if isinstance(thought, str) and thought:
            self.reasoning.append(thought)
            self._token(now)
        if isinstance(content, str) and content:
            self.content.append(content)
            if self.first_content_at is None:
                self.first_content_at = now
            self._token(now)

    def _token(self, now: float) -> None:
        if self.first_token_at is None:
            self.first_token_at = now
        self.last_token_at = now

    def result(self, max_tokens: int, end: float) -> Generation:
        completion = _count(self.usage, "completion_tokens")
        decode_tps = None
        if (
            completion is not None
            and completion > 1
            and self.first_token_at is not None
            and self.last_token_at is not None
            and self.last_token_at > self.first_token_at
        ):
            decode_tps = (completion - 1) / (self.last_token_at - self.first_token_at)
        return Generation(
            text="".join(self.content),
            finish_reason=self.finish_reason,
            max_tokens=max_tokens,
            ttft_s=None if self.first_content_at is None else self.first_content_at - self.start,
            total_s=end - self.start,
            served_model=self.served_model,
            reasoning="".join(self.reasoning),
            prompt_tokens=_count(self.usage, "prompt_tokens"),
            completion_tokens=completion,
            timings=dict(self.timings),
            client_decode_tps=decode_tps,
        )


class OpenAITarget:
    """Smoke prompts against an OpenAI-compatible /v1/chat/completions server.

    `base_url` is the server root; a trailing `/v1`, as OpenAI clients write it, is accepted.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        root = base_url.strip().rstrip("/")
        self.base_url = root.removesuffix("/v1")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpenAITarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transport(self, what: str) -> Iterator[None]:
        """The one translation of transport failures: a timeout is a ServerTimeout, any other
        lost or refused connection a ServerGoneError."""
        try:
            yield
        except httpx.TimeoutException as exc:
            raise ServerTimeout(
                f"{what}: no answer from {self.base_url} in time ({type(exc).__name__})",
                hint="raise the timeout if the model is just slow",
            ) from None
        except httpx.TransportError as exc:
            raise ServerGoneError(
                f"the server at {self.base_url} went away during {what}: {exc}",
                hint="check that it is still running and see its log",
            ) from None

    def _status_error(self, what: str, response: httpx.Response) -> ServerError:
        text = _error_text(response)
        return ServerError(
            f"{what} failed with HTTP {response.status_code}: {text}",
            status_code=response.status_code,
            server_message=text,
        )

    def models(self) -> list[str]:
        """The model ids the server serves (GET /v1/models)."""
        what = f"GET {MODELS_PATH}"
        with self._transport(what):
            response = self._http.get(MODELS_PATH)
        if response.status_code >= 400:
            raise self._status_error(what, response)
        try:
            return [str(entry["id"]) for entry in response.json()["data"]]
        except (ValueError, KeyError, TypeError):
            raise ServerError(
                f"{what}: not an OpenAI model list: {response.text[:200]!r}",
                status_code=response.status_code,
            ) from None

    def get_text(self, path: str) -> str | None:
        """The body of `GET path`, or None when the server does not serve it (404, 405, 501:
        an endpoint another engine or build has, or one turned off)."""
        what = f"GET {path}"
        with self._transport(what):
            response = self._http.get(path)
        if response.status_code in (404, 405, 501):
            return None
        if response.status_code >= 400:
            raise self._status_error(what, response)
        return response.text

    def get_json(self, path: str) -> Any:
        """`get_text` parsed as JSON; a body that is not JSON is a ServerError."""
        text = self.get_text(path)
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise ServerError(f"GET {path}: not JSON: {text[:200]!r}") from None

    def generate(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        max_tokens: int = 64,
        thinking: bool | None = None,
        seed: int | None = 1,
        temperature: float | None = None,
    ) -> Generation:
        """Stream one chat completion and time it; no judgement."""
        body: dict[str, Any] = {
            "model": model,
            **_conversation(prompt, system, thinking=thinking),
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if seed is not None:
            body["seed"] = seed
        if temperature is not None:
            body["temperature"] = temperature

        what = f"POST {CHAT_PATH}"
        collector = _Collector(start=time.perf_counter())
        with self._transport(what), self._http.stream("POST", CHAT_PATH, json=body) as response:
            if response.status_code >= 400:
                response.read()
                raise self._status_error(what, response)
            for event, data in _sse_events(response.iter_lines()):
                now = time.perf_counter()
                if data.strip() == DONE:
                    break
                chunk = self._chunk(what, data)
                if event == "error" or chunk.get("error"):
                    message = _message_of(chunk) or data
                    raise ServerError(
                        f"{what} failed mid-stream: {message}",
                        status_code=response.status_code,
                        server_message=message,
                    )
                collector.add(chunk, now)
        return collector.result(max_tokens, time.perf_counter())

    def prompt(
        self, model: str, prompt: str, *, system: str | None = None, thinking: bool | None = None
    ) -> str | None:
        """The prompt the server builds for this conversation (llama-server's
        `POST /apply-template`, given what `generate` sends), or None when the server has no
        such endpoint (vLLM, OpenAI)."""
        what = f"POST {APPLY_TEMPLATE_PATH}"
        body = {"model": model, **_conversation(prompt, system, thinking=thinking)}
        with self._transport(what):
            response = self._http.post(APPLY_TEMPLATE_PATH, json=body)
        if response.status_code in (404, 405, 501):
            return None
        if response.status_code >= 400:
            raise self._status_error(what, response)
        try:
            text = response.json()["prompt"]
        except (ValueError, KeyError, TypeError):
            text = None
        if not isinstance(text, str):
            raise ServerError(f"{what}: no prompt in the reply: {response.text[:200]!r}")
        return text

    @staticmethod
    def _chunk(what: str, data: str) -> Mapping[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise ServerError(f"{what}: the stream sent non-JSON data: {data[:200]!r}") from None
        if not isinstance(chunk, Mapping):
            raise ServerError(f"{what}: the stream sent a non-object: {data[:200]!r}")
        return chunk

    def run(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        max_tokens: int = 64,
        expect: str | None = None,
        thinking: bool | None = None,
        seed: int | None = 1,
        temperature: float | None = None,
    ) -> Run:
        """One smoke prompt, streamed, measured and judged as the Ollama smoke test judges it.

        `temperature` None leaves the server's default, as the Ollama smoke run does; tiny models
        may need 0 to give the same answer on every server. With `thinking` False the prompt the
        server built is asked for first, to prove thinking off (`core.results.thinking`).
        """
        built = None
        if thinking is False:
            built = self.prompt(model, prompt, system=system, thinking=thinking)
        generation = self.generate(
            model,
            prompt,
            system=system,
            max_tokens=max_tokens,
            thinking=thinking,
            seed=seed,
            temperature=temperature,
        )
        measurement = replace(generation.measurement(), rendered=built)
        verdict = judge(measurement, expect=expect, gpu="ignore", prompt=prompt, think=thinking)
        warnings = list(verdict.warnings)
        if generation.served_model is not None and generation.served_model != model:
            warnings.append(f"the server answered as {generation.served_model!r}, not {model!r}")
        if generation.reasoning and thinking is not False:
            warnings.append(
                f"the server streamed {len(generation.reasoning)} characters of reasoning "
                "(not judged)"
            )
        decode_tps = verdict.decode_tps
        if decode_tps is None:
            decode_tps = generation.client_decode_tps
        return Run(
            passed=verdict.passed,
            answer=generation.text,
            failures=list(verdict.failures),
            warnings=warnings,
            ttft_ms=None if generation.ttft_s is None else generation.ttft_s * MS,
            load_s=None,
            prompt_tps=verdict.prompt_tps,
            decode_tps=decode_tps,
            total_s=generation.total_s,
            server_total_s=generation.server_total_s,
            eval_count=measurement.eval_tokens,
        )
