"""The live progress line that build and push share: spinner, description, bar, bytes."""

from __future__ import annotations

from typing import Any


class ProgressLine:
    """A transient rich progress bar on `console`; subclasses turn their events into updates."""

    def __init__(self, console: Any) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn

        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("starting", total=None)

    def __enter__(self) -> ProgressLine:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()
