"""RegistryClient and model-name mapping without a network.

The registry's normal behaviour is tested against the real one (tests/integration/
test_registry_rig.py). The `Fake...` transports here stand in only for registries this
project cannot run: ones that tamper with manifests, omit headers, page their lists, redirect
blob HEADs to storage, need a login, or hang.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import httpx
import pytest

from modelpack.edge.registry import (
    DOCKER_MANIFEST_V2,
    RegistryClient,
    RegistryRef,
    manifest_blobs,
    parse_model_name,
)
from modelpack.errors import ServerError, ServerTimeout, UsageError

MANIFEST = {
    "schemaVersion": 2,
    "mediaType": DOCKER_MANIFEST_V2,
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
               "digest": "sha256:" + "c" * 64, "size": 2},
    "layers": [
        {"mediaType": "application/vnd.ollama.image.model", "digest": "sha256:" + "a" * 64},
        {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "b" * 64},
    ],
}  # fmt: skip
BODY = json.dumps(MANIFEST).encode()
BODY_DIGEST = f"sha256:{hashlib.sha256(BODY).hexdigest()}"


def client_over(handler: Callable[[httpx.Request], httpx.Response]) -> RegistryClient:
    return RegistryClient(
        "registry.test:5000", insecure=True, transport=httpx.MockTransport(handler)
    )


# -- model names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("127.0.0.1:5000/ns/smol:test", RegistryRef("127.0.0.1:5000", "ns/smol", "test")),
        ("localhost:5000/ns/smol", RegistryRef("localhost:5000", "ns/smol", "latest")),
        ("me/smol:q4", RegistryRef("registry.ollama.ai", "me/smol", "q4")),
        ("smol", RegistryRef("registry.ollama.ai", "library/smol", "latest")),
        ("127.0.0.1:5000/ns/smol:Q4_K_M", RegistryRef("127.0.0.1:5000", "ns/smol", "Q4_K_M")),
    ],
)
def test_model_name_maps_to_registry_repo_and_tag(name: str, expected: RegistryRef) -> None:
    assert parse_model_name(name) == expected
    host, repo, tag = parse_model_name(name)
    assert (host, repo, tag) == tuple(expected)


def test_model_name_round_trips_to_the_name_ollama_uses() -> None:
    assert parse_model_name("127.0.0.1:5000/ns/smol:test").name == "127.0.0.1:5000/ns/smol:test"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("http://127.0.0.1:5000/ns/smol:test", "URL scheme"),
        ("a/b/c/d:tag", "not host/namespace/model:tag"),
        ("ns//smol", "not host/namespace/model:tag"),
        ("ns/smol@sha256:" + "a" * 64, "digest"),
        ("ns/smol:bad tag", "invalid tag"),
        ("ns/-smol:x", "invalid model"),
        ("bad host!/ns/smol", "not a registry host"),
        # Ollama's own part rules (core.package.names): no '.' in a namespace, tags <= 80.
        ("my.ns/smol:x", "invalid namespace"),
        ("ns/smol:" + "t" * 81, "over Ollama's limit of 80"),
        # Ollama 0.9.3 creates such a model but its push fails with "file does not exist".
        ("127.0.0.1:5000/ModelPack/Smol:x", "only lowercase repository names"),
    ],
)
def test_bad_model_names_are_usage_errors(name: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        parse_model_name(name)


# -- URLs ---------------------------------------------------------------------------------------


def test_host_port_means_https_unless_insecure() -> None:
    assert RegistryClient("r.test:5000").base_url == "https://r.test:5000"
    assert RegistryClient("r.test:5000", insecure=True).base_url == "http://r.test:5000"


def test_plain_http_needs_insecure() -> None:
    """As in Ollama: a registry without TLS is an explicit choice, never a silent fallback."""
    with pytest.raises(UsageError, match="insecure=True"):
        RegistryClient("http://r.test:5000")


# -- faults the real registry does not produce --------------------------------------------------


def test_manifest_digest_falls_back_to_the_body_hash() -> None:
    """FakeRegistryWithoutDigestHeader: the header is optional in the spec."""

    def fake_registry_without_digest_header(request: httpx.Request) -> httpx.Response:
        assert DOCKER_MANIFEST_V2 in request.headers["Accept"]
        return httpx.Response(200, content=BODY)

    with client_over(fake_registry_without_digest_header) as client:
        assert client.manifest("ns/smol", "test") == (BODY_DIGEST, MANIFEST)


def test_a_manifest_that_does_not_match_its_digest_is_refused() -> None:
    """FakeTamperingProxy: the bytes changed on the way; trusting the header would hide it."""

    def fake_tampering_proxy(request: httpx.Request) -> httpx.Response:
        altered = BODY.replace(b'"size": 2', b'"size": 3')
        return httpx.Response(200, content=altered, headers={"Docker-Content-Digest": BODY_DIGEST})

    with (
        client_over(fake_tampering_proxy) as client,
        pytest.raises(ServerError, match="not to its Docker-Content-Digest"),
    ):
        client.manifest("ns/smol", "test")


def test_tags_follow_link_pages() -> None:
    """FakePagingRegistry: large registries page tag lists with a Link header."""

    def fake_paging_registry(request: httpx.Request) -> httpx.Response:
        if "last" not in request.url.params:
            return httpx.Response(
                200,
                json={"name": "ns/smol", "tags": ["a", "b"]},
                headers={"Link": '</v2/ns/smol/tags/list?last=b&n=2>; rel="next"'},
            )
        return httpx.Response(200, json={"name": "ns/smol", "tags": ["c"]})

    with client_over(fake_paging_registry) as client:
        assert client.tags("ns/smol") == ["a", "b", "c"]


def test_a_blob_redirected_to_storage_counts_as_present() -> None:
    """FakeStorageRedirectRegistry: public registries answer blob HEAD/GET with a redirect."""

    def fake_storage_redirect_registry(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("a" * 64):
            return httpx.Response(307, headers={"Location": "https://storage.test/blob"})
        return httpx.Response(404)

    with client_over(fake_storage_redirect_registry) as client:
        assert client.has_blob("ns/smol", "sha256:" + "a" * 64)
        assert not client.has_blob("ns/smol", "sha256:" + "b" * 64)


def test_missing_blobs_lists_config_and_layers_in_order() -> None:
    """FakeRegistryMissingTwoBlobs: exactly the blobs it lacks come back, config first."""

    def fake_registry_missing_two_blobs(request: httpx.Request) -> httpx.Response:
        if "/manifests/" in request.url.path:
            return httpx.Response(200, content=BODY)
        present = request.url.path.endswith("a" * 64)
        return httpx.Response(200 if present else 404)

    with client_over(fake_registry_missing_two_blobs) as client:
        assert client.missing_blobs("ns/smol", "test") == [
            "sha256:" + "c" * 64,
            "sha256:" + "b" * 64,
        ]
    assert manifest_blobs(MANIFEST) == ["sha256:" + x * 64 for x in "cab"]


def test_a_registry_that_needs_a_login_says_so() -> None:
    """FakeAuthRegistry: token auth is not supported yet, and the error says that."""

    def fake_auth_registry(request: httpx.Request) -> httpx.Response:
        body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        return httpx.Response(401, json=body)

    with client_over(fake_auth_registry) as client, pytest.raises(ServerError) as error:
        client.tags("ns/smol")
    assert error.value.status_code == 401
    assert error.value.server_message == "UNAUTHORIZED: authentication required"
    assert "login" in str(error.value)


def test_a_hanging_registry_is_a_timeout() -> None:
    """FakeHangingRegistry: no answer in time is a ServerTimeout naming the registry."""

    def fake_hanging_registry(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with (
        client_over(fake_hanging_registry) as client,
        pytest.raises(ServerTimeout, match=r"http://registry\.test:5000 did not answer in time"),
    ):
        client.ping()


def test_a_bad_digest_is_refused_before_any_request() -> None:
    def no_request(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    with client_over(no_request) as client, pytest.raises(UsageError, match="sha256"):
        client.has_blob("ns/smol", "sha256:abc")
