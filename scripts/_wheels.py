"""The scripts' name for modelpack.edge.wheels (pinned, hash-checked PyPI wheel downloads)."""

from modelpack.edge.wheels import Wheel, download, extract, file_sha256, members_under

__all__ = ["Wheel", "download", "extract", "file_sha256", "members_under"]
