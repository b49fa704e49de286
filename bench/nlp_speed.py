"""Speed of the text analysis every student message goes through."""

from __future__ import annotations

import time

import yaml

from bench.table import percentile, print_table
from bot.paths import COMPETENCY_DATA_DIR, SIGNAL_RULES_FILE


def _timed(fn, texts: list[str]) -> list[float]:  # noqa: ANN001
    fn(texts[0])  # load models and rules first: start-up is reported separately
    times = []
    for text in texts:
        start = time.perf_counter()
        fn(text)
        times.append((time.perf_counter() - start) * 1000)
    return times


def _report(name: str, load_s: float, times: list[float]) -> None:
    print_table(["what", "messages", "load s", "mean ms", "p50 ms", "p95 ms", "per s"],
                [[name, len(times), load_s, sum(times) / len(times), percentile(times, 50),
                  percentile(times, 95), 1000 * len(times) / sum(times)]])


def run_signals() -> None:
    start = time.perf_counter()
    from bot.text.signals import detect

    detect("hoi")
    load_s = time.perf_counter() - start
    items = yaml.safe_load((SIGNAL_RULES_FILE.parent / "eval.yml").read_text(encoding="utf-8"))
    texts = [item.get("text") or item.get("tekst") for item in _items(items)]
    _report("signals.detect", load_s, _timed(detect, texts))


def run_competencies() -> None:
    start = time.perf_counter()
    from bot.text.competencies import classify

    classify("ik werk graag met mensen")
    load_s = time.perf_counter() - start
    items = yaml.safe_load((COMPETENCY_DATA_DIR / "test.yml").read_text(encoding="utf-8"))
    texts = [item.get("text") or item.get("tekst") for item in _items(items)]
    _report("competencies.classify", load_s, _timed(classify, texts))


def _items(raw: object) -> list[dict]:
    if isinstance(raw, dict):  # {"items": [...]} or {"berichten": [...]}
        raw = next(v for v in raw.values() if isinstance(v, list))
    return [item for item in raw  # type: ignore[union-attr]
            if isinstance(item, dict) and ("text" in item or "tekst" in item)]
