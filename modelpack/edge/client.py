"""A thin, explicit client for the Ollama HTTP API, covering both create protocols.

The official `ollama` package does the plain calls (copy, ps, delete) and the structured
create. httpx does what it cannot: the legacy `modelfile` create of servers older than 0.5.5,
blob uploads streamed from disk without re-hashing, and generate streams timed chunk by chunk.
The version and the model list, which every build asks for, also go through httpx: importing
the official package costs about 100 ms, so it is imported on its first call, and a rebuild
with nothing to do never makes one. This is the one place where transport failures and error
replies become modelpack errors:

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
    LegacyCreate,
    StructuredCreate,
    takes_structured_create,
)
from modelpack.core.versions import OllamaVersion
from modelpack.edge.server import base_url
from modelpack.edge.tls import verify_for
from modelpack.errors import ServerError, ServerGoneError, ServerTimeout

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
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict) and "error" in body:
        return str(body["error"])
    return response.text.strip()


def _status_error(method: str, path: str, response: httpx.Response) -> ServerError:
    text = _error_text(response)
    return ServerError(
        f"{method} {path} failed with HTTP {response.status_code}: {text}",
        status_code=response.status_code,
        server_message=text,
    )


class OllamaClient:
    """Talks to one Ollama server. `host` takes the forms `OLLAMA_HOST` takes."""

    def __init__(
        self,
        host: str,
        *,
        timeout: float | None = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url(host)
        self._timeout = httpx.Timeout(timeout, connect=5.0)
        self._transport_given = transport
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=self._timeout,
            transport=transport,
            verify=verify_for(self.base_url),
        )
        self._version: str | None = None

    @functools.cached_property
    def _official(self) -> ollama.Client:
        """The official client, made (and its package imported) on first use."""
        import ollama

        return ollama.Client(
            host=self.base_url,
            timeout=self._timeout,
            transport=self._transport_given,
            verify=verify_for(self.base_url),
        )

    def preload(self) -> None:
        """Start importing the official package on a background thread. For a caller about to
        wait on the network (a build, before its upload) ahead of its first official call:
        the import, about 100 ms of pydantic models, then runs during the wait. `_official`
        imports it as usual, waiting for this import if it is still running."""
        if "ollama" not in sys.modules:
            threading.Thread(target=_import_quietly, args=("ollama",), name="preload").start()

    def close(self) -> None:
        self._http.close()
        if "_official" in self.__dict__:
            self._official._client.close()

    def __enter__(self) -> OllamaClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transport(self, what: str, timeout: float | None = None) -> Iterator[None]:
        """The one translation of transport failures, for httpx and the ollama package alike:
        a timeout is a ServerTimeout, any other lost connection a ServerGoneError."""
        try:
            yield
        except httpx.TimeoutException:
            within = f" within {timeout:g} s" if timeout else " in time"
            raise ServerTimeout(
                f"{what}: no answer from {self.base_url}{within}",
                hint="raise the smoke timeouts in the spec if the model is just slow to load",
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
        self, path: str, body: Mapping[str, Any], *, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """POST and yield each NDJSON line; error lines raise even under HTTP 200.

        `timeout` bounds each wait for the next bytes (Ollama loads the model before the first
        chunk, so for generate it bounds load plus first token); expiry is a ServerTimeout.
        """
        request_timeout = (
            httpx.Timeout(timeout, connect=5.0) if timeout else httpx.USE_CLIENT_DEFAULT
        )
        with (
            self._transport(f"POST {path}", timeout),
            self._http.stream("POST", path, json=dict(body), timeout=request_timeout) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise _status_error("POST", path, response)
            for line in response.iter_lines():
                if not line.strip():
                    continue
                chunk = json.loads(line)
                if "error" in chunk:
                    raise ServerError(
                        f"POST {path} failed: {chunk['error']}",
                        status_code=response.status_code,
                        server_message=str(chunk["error"]),
                    )
                yield chunk

    def _call(self, what: str, call: Any, *args: Any) -> Any:
        """Run an `ollama` package call with its errors translated like ours."""
        import ollama

        try:
            with self._transport(what):
                return call(*args)
        except ollama.ResponseError as exc:
            raise ServerError(
                f"{what} failed with HTTP {exc.status_code}: {exc.error}",
                status_code=exc.status_code,
                server_message=exc.error,
            ) from None

    # -- API ---------------------------------------------------------------------------------

    def version(self) -> str:
        if self._version is None:
            self._version = str(self._send("GET", "/api/version").json()["version"])
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
        structured request goes through the official client's own `create` (and its request
        model); the legacy one, which that client no longer speaks, through httpx."""
        if isinstance(request, LegacyCreate):
            body = {"model": request.model, "modelfile": request.modelfile, "stream": True}
            yield from self._stream("/api/create", body)
            return
        yield from self._structured_create(request)

    def _structured_create(self, request: StructuredCreate) -> Iterator[dict[str, Any]]:
        what = f"create {request.model}"
        stream = self._call(
            what,
            lambda: self._official.create(
                model=request.model,
                from_=request.from_,
                files=request.files,
                adapters=request.adapters,
                template=request.template,
                license=request.license,
                system=request.system,
                parameters=request.parameters,
                messages=request.messages,
                stream=True,
            ),
        )
        while True:
            progress = self._call(what, next, stream, None)
            if progress is None:
                return
            yield progress.model_dump(exclude_none=True)

    def copy(self, source: str, destination: str) -> None:
        self._call(f"copy {source} -> {destination}", self._official.copy, source, destination)

    def delete(self, model: str) -> None:
        self._call(f"delete {model}", self._official.delete, model)

    def model_digests(self) -> dict[str, str]:
        """Every local model's name -> manifest digest (GET /api/tags)."""
        try:
            body = self._send("GET", "/api/tags").json()
        except ValueError:
            body = None
        models = body.get("models") if isinstance(body, dict) else None
        if not isinstance(models, list):
            raise ServerError(
                f"GET /api/tags: {self.base_url} answered without a model list",
                hint="check that OLLAMA_HOST (or the spec's ollama.host) names an Ollama server",
            )
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
        body = self._send("POST", "/api/show", json={"model": model}).json()
        return body if isinstance(body, dict) else {}

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
        return self._stream("/api/generate", body, timeout=timeout)

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
            "/api/push", {"model": name, "insecure": insecure, "stream": True}, timeout=timeout
        )

    def pull(
        self, name: str, *, insecure: bool = False, timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """POST /api/pull, yielding progress lines; an error line raises. As `push`."""
        return self._stream(
            "/api/pull", {"model": name, "insecure": insecure, "stream": True}, timeout=timeout
        )
