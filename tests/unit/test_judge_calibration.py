"""The degenerate-output classifier against its calibration corpus (tests/data/judge/).

The corpus holds real answers from the test rig's servers (SmolLM2 with its right template and
with wrong ones, random-weight GGUFs from tiny_gguf) and hand-written samples in English,
Japanese, Chinese, French and German, each labelled `good` or `degenerate` by hand
(docs/judge.md). The targets: at least 95% of the degenerate samples flagged, at most 1% of the
good ones. Run with `-s` to see the rates and every miss.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelpack.core.results.judge import degenerate_reason

CORPUS = Path(__file__).resolve().parents[1] / "data" / "judge"
MIN_DETECTION = 0.95
MAX_FALSE_POSITIVES = 0.01
LANGUAGES = {"en", "ja", "zh", "fr", "de"}
ORIGIN = re.compile(r"real:[^:]+:[^:]+:\S+|hand-written(?::\S+)?")


@dataclass(frozen=True)
class Sample:
    where: str
    text: str
    prompt: str
    label: str
    lang: str
    origin: str

    @property
    def source(self) -> str:
        """`real:<model>:<how without the seed>` or `hand-written`, for the per-source rates."""
        if self.origin.startswith("real:"):
            _, _, model, how = self.origin.split(":", 3)
            return f"real {model} {re.sub(r'-seed.*', '', how)}"
        return self.origin


def load() -> list[Sample]:
    samples: list[Sample] = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            item = json.loads(line)
            assert set(item) >= {"text", "prompt", "label", "lang", "origin"}, where
            assert item["label"] in {"good", "degenerate"}, where
            assert ORIGIN.fullmatch(item["origin"]), where
            samples.append(
                Sample(
                    where,
                    item["text"],
                    item["prompt"],
                    item["label"],
                    item["lang"],
                    item["origin"],
                )
            )
    return samples


SAMPLES = load()


def test_the_corpus_covers_every_language_and_source() -> None:
    labels = Counter(s.label for s in SAMPLES)
    assert labels["good"] >= 300 and labels["degenerate"] >= 150, labels
    hand = {(s.lang, s.label) for s in SAMPLES if s.origin.startswith("hand-written")}
    assert {(lang, label) for lang in LANGUAGES for label in ("good", "degenerate")} <= hand
    real = {s.origin.split(":")[3].split("-")[0] for s in SAMPLES if s.origin.startswith("real:")}
    assert {"chatml", "template", "tiny"} <= real, real
    servers = {s.origin.split(":")[1] for s in SAMPLES if s.origin.startswith("real:")}
    assert len(servers) >= 2, servers
    records = Counter((s.text, s.prompt, s.origin) for s in SAMPLES)
    assert max(records.values()) == 1, [key for key, n in records.items() if n > 1][:3]


def _rates(samples: list[Sample], flagged: dict[str, str | None]) -> tuple[str, float, float]:
    bad = [s for s in samples if s.label == "degenerate"]
    good = [s for s in samples if s.label == "good"]
    caught = sum(flagged[s.where] is not None for s in bad)
    false = sum(flagged[s.where] is not None for s in good)
    detection = caught / len(bad) if bad else 1.0
    fp = false / len(good) if good else 0.0
    line = (
        f"detected {caught}/{len(bad)} ({detection:.1%}), "
        f"false positives {false}/{len(good)} ({fp:.1%})"
    )
    return line, detection, fp


def test_calibration_rates_meet_the_targets(capsys: pytest.CaptureFixture[str]) -> None:
    flagged = {s.where: degenerate_reason(s.text, prompt=s.prompt) for s in SAMPLES}
    overall, detection, fp = _rates(SAMPLES, flagged)
    lines = [f"degenerate-output calibration, {len(SAMPLES)} samples: {overall}"]
    for key, title in ((lambda s: s.lang, "language"), (lambda s: s.source, "source")):
        groups: dict[str, list[Sample]] = {}
        for sample in SAMPLES:
            groups.setdefault(key(sample), []).append(sample)
        lines += [
            f"  {title} {name}: {_rates(g, flagged)[0]}" for name, g in sorted(groups.items())
        ]
    for s in SAMPLES:
        reason = flagged[s.where]
        if s.label == "good" and reason is not None:
            lines.append(f"  false positive {s.where}: {s.text[:60]!r} -> {reason}")
        if s.label == "degenerate" and reason is None:
            lines.append(f"  missed {s.where}: {s.text[:60]!r}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert detection >= MIN_DETECTION, overall
    assert fp <= MAX_FALSE_POSITIVES, overall
