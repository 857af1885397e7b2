"""The TLS setting of modelpack's HTTP clients, made once per process.

httpx builds an SSL context for every client it creates, loading the CA bundle each time (about
50 ms), even for a plain-http URL that never opens a TLS connection. A build opens several
clients to one server, usually plain http on loopback. So a client for an `http://` URL gets a
context that loads nothing (it is never used), and clients for `https://` URLs share one
verifying context, made on first use the way httpx makes its default (certifi, or
SSL_CERT_FILE / SSL_CERT_DIR).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl

__all__ = ["verify_for"]


def verify_for(url: str) -> ssl.SSLContext | bool:
    """httpx's `verify=` for a client whose requests all go to `url`: False for plain http
    (no TLS is ever negotiated there), the shared verifying context for https."""
    return _verifying() if url.lower().startswith("https://") else False


@functools.cache
def _verifying() -> ssl.SSLContext:
    import httpx

    return httpx.create_ssl_context()
