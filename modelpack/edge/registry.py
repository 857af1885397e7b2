"""A small client for the Docker Registry v2 API, for checking what Ollama pushed.

`ollama push` reports success per blob but cannot tell a user that the tag they published is
complete: a push interrupted half-way, or a registry that lost a blob, leaves a tag that a
clean Ollama fails to pull. This client reads the registry side directly: tags, the manifest
Ollama pushed (and its digest, which must equal the digest Ollama reports for the model), and
whether every blob the manifest names is really there. It can also delete a half-pushed tag.

Like `OllamaClient`, this is the one place where registry replies become modelpack errors:
a refused connection -> `ServerGoneError` (one line naming the URL and what to check), a
timeout -> `ServerTimeout`, an error status -> `ServerError` with the registry's error code.

`parse_model_name` maps an Ollama model name (`127.0.0.1:5000/ns/name:tag`) to the registry
host, repository and tag it lives at, with Ollama's defaults.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import httpx

from modelpack.core.package.names import DEFAULTS, Part, part_problem, split_name
from modelpack.edge.replies import one_line, reply_text
from modelpack.errors import ServerError, ServerGoneError, ServerTimeout, UsageError

# What Ollama pushes (its manifest is a Docker image manifest v2, schema 2). A registry asked
# without this Accept type tries to down-convert to schema 1 and fails with 400.
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST_V1 = "application/vnd.oci.image.manifest.v1+json"
MANIFEST_TYPES = (DOCKER_MANIFEST_V2, OCI_MANIFEST_V1)

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:]+\](:[0-9]{1,5})?$")


class RegistryRef(NamedTuple):
    """Where an Ollama model name lives: registry `host` (`host:port`), `repo`, `tag`."""

    host: str
    repo: str
    tag: str

    @property
    def name(self) -> str:
        """The model name Ollama uses for this place."""
        return f"{self.host}/{self.repo}:{self.tag}"


def parse_model_name(name: str) -> RegistryRef:
    """`[host/][namespace/]model[:tag]` -> RegistryRef, with Ollama's defaults.

    Upper case in the namespace or model is refused: registries take only lowercase repository
    names, and Ollama is inconsistent about them (0.5.4 lowercases on push, 0.9.3 fails with
    "file does not exist"). Tags keep their case.
    """
    text = name.strip()
    if "://" in text:
        raise UsageError(
            f"model name {name!r} has a URL scheme",
            hint="write it as Ollama does: host:port/namespace/model:tag (plain HTTP is "
            "chosen with insecure, not with http://)",
        )
    if "@" in text:
        raise UsageError(f"model name {name!r} has a digest; give a tag instead")
    if text.count("/") > 2 or "//" in text or text.startswith("/") or text.endswith("/"):
        raise UsageError(
            f"model name {name!r} is not host/namespace/model:tag",
            hint="an Ollama name has at most three parts separated by '/'",
        )
    # Ollama's own splitting and part rules (core.package.names), then the registry's.
    parts = split_name(text)
    host = parts.host or DEFAULTS["host"]
    namespace = parts.namespace or DEFAULTS["namespace"]
    model = parts.model
    tag = parts.tag if parts.tag is not None else DEFAULTS["tag"]
    if not _HOST.match(host):
        raise UsageError(f"model name {name!r}: {host!r} is not a registry host[:port]")
    checks: tuple[tuple[Part, str], ...] = (
        ("namespace", namespace),
        ("model", model),
        ("tag", tag),
    )
    for kind, value in checks:
        problem = part_problem(kind, value)
        if problem is not None:
            raise UsageError(f"model name {name!r}: invalid {kind}: {problem}")
    repo = f"{namespace}/{model}"
    if repo != repo.lower():
        raise UsageError(
            f"model name {name!r}: registries accept only lowercase repository names",
            hint=f"use {host}/{repo.lower()}:{tag}",
        )
    return RegistryRef(host, repo, tag)


def _registry_error_text(response: httpx.Response) -> str:
    """`CODE: message` from the registry's `{"errors": [...]}` body, else the raw text."""
    try:
        body = response.json()
    except ValueError:
        return reply_text(response)
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return one_line(
            "; ".join(
                f"{e.get('code', '?')}: {e.get('message', '')}".strip(": ")
                for e in errors
                if isinstance(e, dict)
            )
        )
    return reply_text(response)


class RegistryClient:
    """Talks to one Docker Registry v2. `base_url` is `host:port` or a URL.

    `insecure=True` allows plain HTTP (and unverified TLS), as Ollama's `insecure` does; a
    `host:port` without a scheme then means `http://`, otherwise `https://`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        insecure: bool = False,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = base_url.strip().rstrip("/")
        if "://" not in url:
            url = f"{'http' if insecure else 'https'}://{url}"
        if url.startswith("http://") and not insecure:
            raise UsageError(
                f"{url} is plain HTTP",
                hint="pass insecure=True for a registry without TLS (Ollama: --insecure)",
            )
        self.base_url = url
        self.insecure = insecure
        self._http = httpx.Client(
            base_url=url,
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
            verify=not insecure,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _transport(self, what: str) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException:
            raise ServerTimeout(
                f"{what}: the registry at {self.base_url} did not answer in time",
                hint="check that the registry is running and not overloaded",
            ) from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            if self.base_url.startswith("https://") and "ssl" in reason.lower():
                raise ServerGoneError(
                    f"no TLS handshake with the registry at {self.base_url} ({what}: {reason})",
                    hint="if the registry serves plain HTTP, pass insecure=True",
                ) from None
            raise ServerGoneError(
                f"no registry answers at {self.base_url} ({what}: {reason})",
                hint="check that the registry is running and that host and port are right",
            ) from None

    def _send(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200,), **kwargs: Any
    ) -> httpx.Response:
        """Send one request; a status outside `ok` becomes a ServerError."""
        with self._transport(f"{method} {path}"):
            response = self._http.request(method, path, **kwargs)
        if response.status_code not in ok:
            text = _registry_error_text(response)
            hint = None
            if response.status_code == 401:
                hint = "registries that need a login are not supported yet"
            elif response.status_code == 405 and method == "DELETE":
                hint = "the registry has deletes disabled (distribution: storage.delete.enabled)"
            raise ServerError(
                f"{method} {self.base_url}{path} failed with HTTP {response.status_code}: {text}",
                status_code=response.status_code,
                server_message=text,
                hint=hint,
            )
        return response

    # -- API -------------------------------------------------------------------------------------

    def ping(self) -> str:
        """Check that a Docker Registry v2 answers; returns its API version header."""
        try:
            response = self._send("GET", "/v2/")
        except ServerError as exc:
            if exc.status_code in (404, 405):
                raise ServerError(
                    f"{self.base_url} is not a Docker Registry v2 API "
                    f"(GET /v2/ answered HTTP {exc.status_code})",
                    status_code=exc.status_code,
                    server_message=exc.server_message,
                    hint="point it at the registry's host:port, not at an Ollama or a web page",
                ) from None
            raise
        version: str = response.headers.get("Docker-Distribution-API-Version", "registry/2.0")
        return version

    def catalog(self) -> list[str]:
        """Every repository the registry lists (distribution pages it; all pages are read)."""
        return self._paged("/v2/_catalog", "repositories")

    def tags(self, repo: str) -> list[str]:
        """The repository's tags; [] for a repository the registry does not know."""
        try:
            return self._paged(f"/v2/{repo}/tags/list", "tags")
        except ServerError as exc:
            if exc.status_code == 404:
                return []
            raise

    def _paged(self, path: str, key: str) -> list[str]:
        items: list[str] = []
        next_path: str | None = path
        while next_path:
            response = self._send("GET", next_path)
            items += response.json().get(key) or []  # null once all tags are deleted
            link = response.links.get("next", {}).get("url")
            next_path = str(link) if link else None
        return items

    def manifest(self, repo: str, reference: str) -> tuple[str, dict[str, Any]]:
        """`(digest, manifest)` of a tag (or digest) as Ollama would pull it.

        The digest is the registry's Docker-Content-Digest, checked against the sha256 of the
        bytes received; it is what Ollama reports as the model's digest after push and pull.
        """
        response = self._send(
            "GET",
            f"/v2/{repo}/manifests/{reference}",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
        )
        computed = f"sha256:{hashlib.sha256(response.content).hexdigest()}"
        claimed = response.headers.get("Docker-Content-Digest")
        if claimed and claimed != computed:
            raise ServerError(
                f"the registry at {self.base_url} sent manifest {repo}:{reference} whose bytes "
                f"hash to {computed}, not to its Docker-Content-Digest {claimed}",
                hint="the registry or a proxy in front of it altered the manifest",
            )
        try:
            manifest = json.loads(response.content)
        except ValueError:
            raise ServerError(
                f"the registry at {self.base_url} sent a manifest for {repo}:{reference} "
                "that is not JSON"
            ) from None
        if not isinstance(manifest, dict):
            raise ServerError(f"the manifest of {repo}:{reference} is not a JSON object")
        return computed, manifest

    def has_blob(self, repo: str, digest: str) -> bool:
        """Whether the repository has the blob (a redirect to storage counts as yes)."""
        if not _DIGEST.match(digest):
            raise UsageError(f"{digest!r} is not a sha256:<64 hex> digest")
        response = self._send(
            "HEAD", f"/v2/{repo}/blobs/{digest}", ok=(200, 301, 302, 303, 307, 308, 404)
        )
        return response.status_code != 404

    def missing_blobs(self, repo: str, reference: str) -> list[str]:
        """Digests the manifest of `repo:reference` names (config and layers) that the
        registry lacks: [] proves the tag is complete. A missing tag raises (HTTP 404)."""
        _, manifest = self.manifest(repo, reference)
        return [d for d in manifest_blobs(manifest) if not self.has_blob(repo, d)]

    def delete_manifest(self, repo: str, digest: str) -> None:
        """Delete a manifest by digest; the registry drops every tag that points at it."""
        if not _DIGEST.match(digest):
            raise UsageError(f"{digest!r} is not a sha256:<64 hex> digest")
        self._send("DELETE", f"/v2/{repo}/manifests/{digest}", ok=(202,))

    def delete_tag(self, repo: str, tag: str) -> str:
        """Remove a (half-pushed) tag; returns the manifest digest deleted.

        Registry v2 deletes manifests, not tags: other tags on the same digest go too.
        """
        digest, _ = self.manifest(repo, tag)
        self.delete_manifest(repo, digest)
        return digest


def manifest_blobs(manifest: dict[str, Any]) -> list[str]:
    """The config digest, then each layer's, in manifest order, without repeats."""
    digests: list[str] = []
    entries = [manifest.get("config"), *(manifest.get("layers") or [])]
    for entry in entries:
        digest = entry.get("digest") if isinstance(entry, dict) else None
        if isinstance(digest, str) and digest not in digests:
            digests.append(digest)
    return digests


__all__ = [
    "DOCKER_MANIFEST_V2",
    "MANIFEST_TYPES",
    "OCI_MANIFEST_V1",
    "RegistryClient",
    "RegistryRef",
    "manifest_blobs",
    "parse_model_name",
]
