"""Prompt anatomy benchmark: round-trip rate, role-tagging accuracy, parse throughput.

    .venv/bin/python bench/anatomy.py [--csv ../shared/data/open-prompts-1k.csv]

Round trip: for every prompt, render(parse(p)) parsed again must give the same phrases (text,
weight within 1e-3, role, kind) and parameters ("equivalent"); also reported: how many come
back character for character after whitespace normalisation ("identical").
Roles: bench/roles/labels.jsonl holds hand-labelled phrases of 100 prompts of that file (see
bench/roles/README.md); per-role precision, recall, F1 and the macro-F1 over the five roles.
Throughput: parse + role-tag of the whole file in one process, one core.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from prompts.anatomy import WEIGHT_TOLERANCE, prompt_parse, prompt_render  # noqa: E402
from prompts.roles import ROLES_TAGGED  # noqa: E402

LABELS = ROOT / "bench" / "roles" / "labels.jsonl"
#: A second development set: labelled blind, then the rules were tuned once on its errors.
LABELS_2 = ROOT / "bench" / "roles" / "labels-2.jsonl"
#: Labelled after the rules were last changed and never used to tune them: the honest figure.
HELDOUT = ROOT / "bench" / "roles" / "heldout.jsonl"


def load_prompts(path: str) -> list[str]:
    csv.field_size_limit(10**7)
    with open(path, newline="") as handle:
        return [row["prompt"] for row in csv.DictReader(handle)]


def _signature(parsed) -> tuple:
    return (
        [(p.text, p.role, p.kind, p.raw) for p in parsed.phrases],
        [p.weight for p in parsed.phrases],
        parsed.params,
    )


def equivalent(prompt: str) -> tuple[bool, bool]:
    first = prompt_parse(prompt)
    rendered = prompt_render(first)
    again = prompt_parse(rendered)
    a, b = _signature(first), _signature(again)
    same = (
        a[0] == b[0]
        and a[2] == b[2]
        and len(a[1]) == len(b[1])
        and all(
            abs(x - y) <= WEIGHT_TOLERANCE * max(1.0, abs(x))
            for x, y in zip(a[1], b[1], strict=True)
        )
    )
    norm = lambda s: re.sub(r"\s+", " ", s).strip()  # noqa: E731
    return same, norm(rendered) == norm(prompt)


def round_trip(prompts: list[str]) -> None:
    equal = identical = 0
    failures = []
    for prompt in prompts:
        same, ident = equivalent(prompt)
        equal += same
        identical += ident
        if not same:
            failures.append(prompt)
    n = len(prompts)
    print(f"round trip: {equal}/{n} equivalent ({equal / n:.1%}), {identical}/{n} identical")
    for prompt in failures[:5]:
        print("  not equivalent:", prompt[:160])


def roles(path: Path = LABELS) -> float | None:
    if not path.exists():
        print(f"roles: no labels file {path.name}")
        return None
    true_positive: Counter[str] = Counter()
    predicted: Counter[str] = Counter()
    actual: Counter[str] = Counter()
    confusion: Counter[tuple[str, str]] = Counter()
    prompts = 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        item = json.loads(line)
        prompts += 1
        tagged = [p for p in prompt_parse(item["prompt"]).phrases if p.role in ROLES_TAGGED]
        labels = item["phrases"]
        if [p.text for p in tagged] != [text for text, _ in labels]:
            raise SystemExit(f"labels do not match the phrases of: {item['prompt'][:80]}")
        for phrase, (_, label) in zip(tagged, labels, strict=True):
            predicted[phrase.role] += 1
            actual[label] += 1
            if phrase.role == label:
                true_positive[label] += 1
            else:
                confusion[(label, phrase.role)] += 1
    f1s = []
    print(f"roles ({path.name}) over {prompts} prompts, {sum(actual.values())} phrases:")
    print(f"  {'role':9} {'precision':>9} {'recall':>7} {'F1':>6} {'support':>7}")
    for role in ROLES_TAGGED:
        precision = true_positive[role] / predicted[role] if predicted[role] else 0.0
        recall = true_positive[role] / actual[role] if actual[role] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        f1s.append(f1)
        print(f"  {role:9} {precision:9.3f} {recall:7.3f} {f1:6.3f} {actual[role]:7d}")
    macro = sum(f1s) / len(f1s)
    print(f"  macro-F1 {macro:.3f}")
    print("  most common confusions (label -> tagged):", confusion.most_common(8))
    return macro


def throughput(prompts: list[str]) -> None:
    from prompts.roles import phrase_role

    rates = []
    for _ in range(3):
        phrase_role.cache_clear()  # every pass starts cold: no phrase seen before
        started = time.perf_counter()
        for prompt in prompts:
            prompt_parse(prompt)
        rates.append(len(prompts) / (time.perf_counter() - started))
    print(
        f"parse + role-tag: {max(rates):,.0f} prompts/s best, {min(rates):,.0f} worst "
        f"(3 cold passes over {len(prompts)}, one process)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--csv", default=str(ROOT.parent / "shared/data/open-prompts-1k.csv"))
    args = parser.parse_args()
    prompts = load_prompts(args.csv)
    round_trip(prompts)
    roles(LABELS)
    roles(LABELS_2)
    roles(HELDOUT)
    throughput(prompts)


if __name__ == "__main__":
    main()
