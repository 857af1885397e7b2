"""CPU contention from Linux PSI: read from the kernel's format, as a share of wall time."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelpack.edge.load import PSI_CPU, CpuPressure, cpu_stalled_s, on_this_machine


def psi(path: Path, some_us: int) -> Path:
    """A file in the kernel's format (Documentation/accounting/psi.rst)."""
    path.write_text(
        f"some avg10=61.72 avg60=61.87 avg300=74.01 total={some_us}\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    )
    return path


def test_stalled_seconds_are_the_some_line_total(tmp_path: Path) -> None:
    assert cpu_stalled_s(psi(tmp_path / "cpu", 548_697_218)) == pytest.approx(548.697218)


def test_no_psi_is_none(tmp_path: Path) -> None:
    assert cpu_stalled_s(tmp_path / "missing") is None
    (tmp_path / "odd").write_text("full avg10=0.00 total=12\n")
    assert cpu_stalled_s(tmp_path / "odd") is None
    assert CpuPressure(tmp_path / "missing").share() is None


def test_share_is_stalled_time_over_wall_time(tmp_path: Path) -> None:
    source = psi(tmp_path / "cpu", 1_000_000)
    clock = iter([10.0, 14.0])
    pressure = CpuPressure(source, clock=lambda: next(clock))
    psi(source, 4_680_000)  # 3.68 s of the 4 s had a task waiting
    assert pressure.share() == 0.92


def test_share_stays_between_0_and_1(tmp_path: Path) -> None:
    source = psi(tmp_path / "cpu", 0)
    clock = iter([0.0, 1.0])
    pressure = CpuPressure(source, clock=lambda: next(clock))
    psi(source, 1_000_400)  # the kernel's totals and our clock are read a moment apart
    assert pressure.share() == 1.0


@pytest.mark.skipif(not PSI_CPU.exists(), reason="this kernel reports no CPU pressure")
def test_this_machine_reports_a_share() -> None:
    share = CpuPressure().share()
    assert share is not None and 0.0 <= share <= 1.0


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("http://127.0.0.1:11434", True),
        ("http://localhost:8080", True),
        ("http://[::1]:11434", True),
        ("http://127.0.0.2:1", True),
        ("http://10.0.0.5:11434", False),
        ("https://ollama.example.com", False),
    ],
)
def test_only_a_server_on_this_machine_counts(url: str, local: bool) -> None:
    assert on_this_machine(url) is local
