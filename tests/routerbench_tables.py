"""Small RouterBench-format tables whose right answers are known, written by the tests."""

from __future__ import annotations

import csv
import random
from pathlib import Path

TOPICS = ("algebra", "poetry", "history", "chemistry")
MODELS = {  # name: (cost per prompt, topics it gets right)
    "tiny": (0.001, ("poetry",)),
    "small": (0.002, ("poetry", "history")),
    "big": (0.02, ("poetry", "history", "algebra", "chemistry")),
}


def write_table(path: Path, rows: int, seed: int, with_responses: bool = True) -> Path:
    """A table where each model answers its topics right (a little noise) and costs a fixed
    amount per prompt; prompts name their topic, so a router can learn who is good at what."""
    rng = random.Random(seed)
    header = ["sample_id", "prompt", "eval_name", *MODELS,
              *(f"{m}|total_cost" for m in MODELS)]
    if with_responses:
        header += [f"{m}|model_response" for m in MODELS]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i in range(rows):
            topic = rng.choice(TOPICS)
            words = " ".join(rng.choice(("please", "kindly", "now", "quickly")) for _ in range(3))
            prompt = repr([f"A {topic} question number {i}: {words} answer {topic} things."])
            right = {m: (topic in good) != (rng.random() < 0.05) for m, (_, good) in MODELS.items()}
            scores = [1.0 if right[m] else 0.0 for m in MODELS]
            costs = [cost * (1 + 0.01 * (i % 3)) for cost, _ in MODELS.values()]
            answers = [repr(["A"]) if right[m] else repr([rng.choice("BCD")]) for m in MODELS]
            writer.writerow([f"t.{i}", prompt, "synthetic", *scores, *costs,
                             *(answers if with_responses else [])])
    return path
