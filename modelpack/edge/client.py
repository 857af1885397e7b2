"""A thin, explicit client for the Ollama HTTP API, covering both create protocols.

Importing the official `ollama` package costs about 100 ms (its pydantic models), as much as
the three creates of a small model take on the server. So every request a build sends before
its smoke test goes through httpx: the version, the model list, the blob check and upload,
the create (both protocols: `StructuredCreate.body` is what the official `CreateRequest`
sends, and a test holds them equal), the copy and the show. The official package does the
calls around smoke tests and clean-up (ps, delete), imported on first use or ahead of it by
`preload`. httpx also streams blob uploads from disk without re-hashing and times generate
streams chunk by chunk. This is the one place where transport failures and error replies
become modelpack errors:

- an error status, or an `{"error": ...}` line inside a 200 stream -> `ServerError`
- a dropped or refused connection mid-request (crash, restart)     -> `ServerGoneError`

The client is always passed in, never global, so tests and users can point it anywhere.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import json
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import httpx

from modelpack.core.modelfile.request import (
    CreateRequest,
    takes_structured_create,
)
from modelpack.core.versions import OllamaVersion
from modelpack.edge.replies import one_line, reply_text
from modelpack.edge.server import base_url
from modelpack.edge.tls import verify_for
from modelpack.errors import NotOllamaError, ServerError, ServerGoneError, ServerTimeout

if TYPE_CHECKING:
    import ollama

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """`sha256:<hex>` of a file, read in chunks so multi-GB GGUFs never sit in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _import_quietly(name: str) -> None:
    """Import `name` ahead of time; a failure is left for the import that needs it to raise."""
    with contextlib.suppress(ImportError):
        importlib.import_module(name)


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return reply_text(response)
    if isinstance(body, dict) and "error" in body:
        return one_line(str(body["error"]))
    return reply_text(response)


def _not_ollama(what: str, url: str, why: str) -> NotOllamaError:
    """A reply of the wrong shape: whatever answers there is not the Ollama API."""
    return NotOllamaError(
        f"{what}: the server at {url} answered with something that is not Ollama's reply "
        f"({one_line(why)})",
        hint="check that OLLAMA_HOST (or the spec's ollama.host) names an Ollama server",
    )


def _json_object(response: httpx.Response, what: str, url: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise _not_ollama(what, url, "not JSON") from None
    if not isinstance(body, dict):
        raise _not_ollama(what, url, f"a JSON {type(body).__name__}, not an object")
    return body


def _json_line(line: str, what: str, url: str) -> dict[str, Any]:
    try:
        chunk = json.loads(line)
    except ValueError:
        raise _not_ollama(what, url, "a stream line that is not JSON") from None
    if not isinstance(chunk, dict):
        raise _not_ollama(what, url, "a stream line that is not an object")
    return chunk


def _status_error(method: str, path: str, response: httpx.Response) -> ServerError:
    text = _error_text(response)
    return ServerError(
        f"{method} {path} failed with HTTP {response.status_code}: {text}",
        status_code=response.status_code,
        server_message=text,
    )


API_TIMEOUT = 30.0
"""Seconds to wait for one plain API call (version, list, show, copy, ...): a server that takes
longer is stuck (the spec's `ollama.timeouts.api`)."""

CREATE_TIMEOUT = 600.0
"""Seconds to wait for the next progress line of a create (`ollama.timeouts.create`)."""


class OllamaClient:
    """Talks to one Ollama server. `host` takes the forms `OLLAMA_HOST` takes.

    Every call has a timeout, and a timeout's message names the setting that governs it: plain
    API calls `api_timeout`, creates `create_timeout`, generations the smoke timeouts their
    caller passes, pushes and pulls the stall timeout theirs does.
    """

    def __init__(
        self,
        host: str,
        *,
        api_timeout: float = API_TIMEOUT,
        create_timeout: float = CREATE_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url(host)
        self.api_timeout = api_timeout
        self.create_timeout = create_timeout
        self._transport_given = transport
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(api_timeout, connect=5.0),
            transport=transport,
            verify=verify_for(self.base_url),
        )
        self._version: str | None = None

    @functools.cached_property
    def _official(self) -> ollama.Client:
        """The official client for plain calls, made (and its package imported) on first use."""
        import ollama

        return ollama.Client(
            host=self.base_url,
            timeout=httpx.Timeout(self.api_timeout, connect=5.0),
            transport=self._transport_given,
            verify=verify_for(self.base_url),
        )

    def preload(self) -> None:
        """Start importing the official package on a background thread. For a caller about to
        wait on the network (a smoke test, before its first generation) ahead of its first
        official call: the import, about 100 ms of pydantic models, then runs during the wait.
        `_official` imports it as usual, waiting for this import if it is still running."""
        if "ollama" not in sys.modules:
            threading.Thread(target=_import_quietly, args=("ollama",), name="preload").start()

    def close(self) -> None:
        self._http.close()
        if "_official" in self.__dict__:
            self.__dict__["_official"]._client.close()

    def __enter__(self) -> OllamaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transport(
        self, what: str, timeout: float | None = None, setting: str = "ollama.timeouts.api"
    ) -> Iterator[None]:
        """The one translation of transport failures, for httpx and the ollama package alike:
        a timeout is a ServerTimeout that names `setting`, any other lost connection a
        ServerGoneError."""
        timeout = self.api_timeout if timeout is None else timeout
        try:
            yield
        except httpx.TimeoutException:
            raise ServerTimeout(
                f"{what}: no answer from {self.base_url} within {timeout:g} s",
                hint=f"raise {setting} in the spec if the server is just slow; else see its log",
            ) from None
        except (httpx.TransportError, ConnectionError) as exc:
            raise ServerGoneError(
                f"the Ollama server at {self.base_url} went away during {what}: {exc}",
                hint="check that it is still running and see its log",
            ) from None

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with self._transport(f"{method} {path}"):
            response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise _status_error(method, path, response)
        return response

    def _stream(
        self,
        path: str,
        body: Mapping[str, Any],
        *,
        timeout: float | None = None,
        setting: str = "ollama.timeouts.api",
    ) -> Iterator[dict[str, Any]]:
        """POST and yield each NDJSON line; error lines raise even under HTTP 200.

        `timeout` bounds each wait for the next bytes (Ollama loads the model before the first
        chunk, so for generate it bounds load plus first token); expiry is a ServerTimeout.
        """
        request_timeout = (
            httpx.Timeout(timeout, connect=5.0) if timeout else httpx.USE_CLIENT_DEFAULT
        )
        with (
            self._transport(f"POST {path}", timeout, setting),
            self._http.stream("POST", path, json=dict(body), timeout=request_timeout) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise _status_error("POST", path, response)
            for line in response.iter_lines():
                if not line.strip():
                    continue
                chunk = _json_line(line, f"POST {path}", self.base_url)
                if "error" in chunk:
                    error = one_line(str(chunk["error"]))
                    raise ServerError(
                        f"POST {path} failed: {error}",
                        status_code=response.status_code,
                        server_message=error,
                    )
                yield chunk

    def _call(
        self,
        what: str,
        call: Any,
        *args: Any,
        timeout: float | None = None,
        setting: str = "ollama.timeouts.api",
    ) -> Any:
        """Run an `ollama` package call with its errors translated like ours (a reply the
        package's models cannot read is not Ollama's)."""
        import ollama
        import pydantic  # loaded with ollama

        try:
            with self._transport(what, timeout, setting):
                return call(*args)
        except pydantic.ValidationError as exc:
            raise _not_ollama(what, self.base_url, exc.errors()[0]["msg"]) from None
        except ollama.ResponseError as exc:
            error = one_line(exc.error)
            raise ServerError(
                f"{what} failed with HTTP {exc.status_code}: {error}",
                status_code=exc.status_code,
                server_message=error,
            ) from None

    # -- API ---------------------------------------------------------------------------------

    def version(self) -> str:
        if self._version is None:
            what = "GET /api/version"
            reply = _json_object(self._send("GET", "/api/version"), what, self.base_url)
            if not isinstance(reply.get("version"), str):
                raise _not_ollama(what, self.base_url, "no version in the reply")
            self._version = reply["version"]
        return self._version

    def ollama_version(self) -> OllamaVersion:
        return OllamaVersion.parse(self.version())

    @property
    def structured_create(self) -> bool:
        """Whether the server takes the structured create request (>= 0.5.5)."""
        return takes_structured_create(self.ollama_version())

    def has_blob(self, digest: str) -> bool:
        try:
            self._send("HEAD", f"/api/blobs/{digest}")
        except ServerError as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    def post_blob(self, digest: str, content: Iterable[bytes] | BinaryIO) -> None:
        """POST one blob's bytes; `content` is streamed, never read whole into memory."""
        self._send("POST", f"/api/blobs/{digest}", content=content)

    def push_blob(self, path: Path, digest: str | None = None) -> str:
        """Upload a file as a blob unless the server has it; returns its digest.

        The body is streamed from disk, so memory use does not grow with the file.
        """
        digest = digest or sha256_file(path)
        if not self.has_blob(digest):
            with path.open("rb") as handle:
                self.post_blob(digest, handle)
        return digest

    def create_stream(self, request: CreateRequest) -> Iterator[dict[str, Any]]:
        """POST /api/create, yielding Ollama's progress lines; an error line raises. A
        structured request sends what the official client's `CreateRequest` would; the legacy
        one, which that client no longer speaks, the Modelfile text."""
        yield from self._stream(
            "/api/create",
            {**request.body(), "stream": True},
            timeout=self.create_timeout,
            setting="ollama.timeouts.create",
        )

    def copy(self, source: str, destination: str) -> None:
        self._send("POST", "/api/copy", json={"source": source, "destination": destination})

    def delete(self, model: str) -> None:
        self._call(f"delete {model}", self._official.delete, model)

    def model_digests(self) -> dict[str, str]:
        """Every local model's name -> manifest digest (GET /api/tags)."""
        what = "GET /api/tags"
        models = _json_object(self._send("GET", "/api/tags"), what, self.base_url).get("models")
        if not isinstance(models, list):
            raise _not_ollama(what, self.base_url, "no model list")
        return {
            m["model"]: m["digest"]
            for m in models
            if isinstance(m, dict)
            and isinstance(m.get("model"), str)
            and isinstance(m.get("digest"), str)
        }

    def model_digest(self, model: str) -> str | None:
        name = model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"
        return self.model_digests().get(name)

    def running(self) -> list[dict[str, Any]]:
        """GET /api/ps: the loaded models with size and size_vram."""
        return [m.model_dump() for m in self._call("ps", self._official.ps).models]

    def show(self, model: str) -> dict[str, Any]:
        """POST /api/show as raw JSON: the `ollama` package's ShowResponse drops `system` and
        `messages`, which drift checks compare."""
        reply = self._send("POST", "/api/show", json={"model": model})
        return _json_object(reply, "POST /api/show", self.base_url)

    def unload(self, model: str) -> None:
        """Ask the server to drop a loaded model now (keep_alive 0), so the next load is cold."""
        self._send("POST", "/api/generate", json={"model": model, "keep_alive": 0})

    def create(self, request: Mapping[str, Any]) -> list[dict[str, Any]]:
        """POST a raw /api/create body with `stream: false`, so a failure comes back as a real
        status: for probing what a server accepts (builds send a typed `create_stream`)."""
        response = self._send("POST", "/api/create", json={**request, "stream": False})
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]

    def generate(
        self,
        model: str,
        prompt: str,
        *,
        options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        **fields: Any,
    ) -> Iterator[dict[str, Any]]:
        """Stream /api/generate; the last chunk has `done: true` and the server's counters."""
        body: dict[str, Any] = {"model": model, "prompt": prompt, "stream": True, **fields}
        if options:
            body["options"] = dict(options)
        setting = "smoke.timeouts.load (or first_token)"
        return self._stream("/api/generate", body, timeout=timeout, setting=setting)

    def chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        *,
        options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """POST /api/chat without streaming: the reply with the server's counters
        (`prompt_eval_count`: the prompt's tokens as Ollama built and tokenized it)."""
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": False}
        if options:
            body["options"] = dict(options)
        chunks = list(
            self._stream("/api/chat", body, timeout=timeout, setting="smoke.timeouts.load")
        )
        return chunks[-1] if chunks else {}

    def push(
        self, name: str, *, insecure: bool = False, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """POST /api/push, yielding Ollama's progress lines (one `pushing <digest>` line per
        blob, with `digest`, `total` and `completed`); an error line raises.

        `name` must carry the registry prefix (`host:port/namespace/model:tag`): Ollama pushes
        a local model only under that name, so copy it there first. `insecure` allows plain
        HTTP. `timeout` bounds each wait for the next line: Ollama retries a failing upload for
        about a minute without a word, so a caller that wants to give up sooner sets it (expiry
        is a ServerTimeout; closing the stream cancels the push on the server).
        """
        return self._stream(
            "/api/push",
            {"model": name, "insecure": insecure, "stream": True},
            timeout=timeout,
            setting="the push's stall timeout",
        )

    def pull(
        self, name: str, *, insecure: bool = False, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """POST /api/pull, yielding progress lines; an error line raises. As `push`."""
        return self._stream(
            "/api/pull",
            {"model": name, "insecure": insecure, "stream": True},
            timeout=timeout,
            setting="the pull's stall timeout",
        )
