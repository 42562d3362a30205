"""Learned-ranker benchmark: training on 10,000 outcomes, and one learned decision.

Goals: training on 10,000 stored outcomes in under 10 s; a learned decision under 1 ms p50.
The outcomes come from the RouterBench train files in ../shared/data/routerbench, imported
under catalog ids (the tables' 11 models mapped in order onto 11 catalog models, so that the
catalog's candidates match them), repeated with a suffix on the prompt until 10,000 are stored.
Training is ``train_from_ledger`` (read every outcome, pivot, fit features, ridge heads, cost
lines and the neighbourhood index, save the model file); a decision is ``LearnedRanker.rank``
over every catalog candidate for the first prompt of each RouterBench test file (prompts
not in the ledger), timed one call at a time after a warm-up, and then the whole
``Router.route`` with the ranker in front. Training uses the default features (word TF-IDF);
a retrain with cross-validation may choose any set of ``CV_FEATURES``, so ``rank`` is also
timed with quality heads fitted on each of the others (same outcomes, same index).

Run: ``.venv/bin/python bench/learned_bench.py [--outcomes 10000] [--decisions 2000]``;
with ``--features [SET ...]``, instead, the mean cross-validated AIQ of every feature set on each train
file (train files only: which features win).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import machine_line, percentile  # noqa: E402
from core.catalog import default_catalog  # noqa: E402
from core.ledger import Ledger  # noqa: E402
from core.ledger.outcomes import OutcomeRecord, record_outcomes  # noqa: E402
from core.policy import Policy, RoutingSettings  # noqa: E402
from core.routing.candidates import Candidate, RouteRequest  # noqa: E402
from core.ledger.outcomes import outcomes_frame  # noqa: E402
from core.routing.evaluation import CV_FEATURES, cross_validate, priced  # noqa: E402
from core.routing.features import FEATURE_SETS  # noqa: E402
from core.routing.learned import OutcomeTable, QualityModel  # noqa: E402
from core.routing.learned_ranker import (  # noqa: E402
    LearnedRanker,
    TrainedRouter,
    train_from_ledger,
)
from core.routing.router import Router  # noqa: E402
from core.routing.routerbench import outcome_records, read_routerbench  # noqa: E402

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "routerbench"


def _outcomes(count: int, catalog_ids: list[str]) -> list[OutcomeRecord]:
    records = []
    for name in ("arc_challenge_train.csv", "winograde_train.csv"):
        table = read_routerbench(DATA / name)
        mapping = dict(zip(table.models, catalog_ids, strict=False))
        records += [r.model_copy(update={"model": mapping[r.model]})
                    for r in outcome_records(table, name)]
    out: list[OutcomeRecord] = []
    round_no = 0
    while len(out) < count:
        for record in records[: count - len(out)]:
            text = record.prompt if round_no == 0 else f"{record.prompt}\n(variant {round_no})"
            fields = record.model_dump(exclude={"outcome_id", "prompt_hash", "prompt"})
            out.append(OutcomeRecord(prompt=text, **fields))
        round_no += 1
    return out


def _time_ms(call: Callable[[], object], runs: int) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this thread) milliseconds of single calls, after a warm-up. On a
    shared, loaded machine the CPU time is the figure that says what a decision costs."""
    for _ in range(min(50, runs)):
        call()
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        call()
        cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
        wall.append((time.perf_counter_ns() - start) / 1e6)
    return wall, cpu


def compare_features(sets: tuple[str, ...]) -> None:
    """Mean 5-fold CV AIQ of each feature set (best alpha and blend) on each train file."""
    print(machine_line())
    for name in ("arc_challenge_train.csv", "winograde_train.csv"):
        table = priced(read_routerbench(DATA / name))
        start = time.perf_counter()
        _, scores = cross_validate(table, features_grid=sets)
        print(f"{name}: zero router CV AIQ {scores[0].zero_router_aiq:.4f} "
              f"({time.perf_counter() - start:.0f} s for the grid)")
        for features in sets:
            best = max((s for s in scores if s.features == features), key=lambda s: s.aiq)
            print(f"  {features:18s} CV AIQ {best.aiq:.4f} (alpha {best.alpha:g}, "
                  f"blend {best.blend:g})")


def main() -> None:
    """Store the outcomes, time training, then time decisions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcomes", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--features", nargs="*", choices=FEATURE_SETS, default=None,
                        help="instead: cross-validate these feature sets (default all) on the "
                             "train files")
    args = parser.parse_args()
    if args.features is not None:
        compare_features(tuple(args.features) or FEATURE_SETS)
        return
    catalog = default_catalog()
    ids = [m.id for m in catalog.models.values() if not m.route_only_for][:11]
    with tempfile.TemporaryDirectory() as folder:
        ledger = Ledger(Path(folder) / "bench.duckdb")
        stored = record_outcomes(ledger, _outcomes(args.outcomes, ids))
        start, start_cpu = time.perf_counter(), time.process_time()
        trained = train_from_ledger(ledger)
        train_s, train_cpu_s = time.perf_counter() - start, time.process_time() - start_cpu
        assert trained is not None
        settings = RoutingSettings(mode="learned", min_outcomes=20)
        ranker = LearnedRanker(trained, settings)
        viable = [Candidate(m, catalog) for m in catalog.models.values()]
        texts = [read_routerbench(DATA / f"{name}_test.csv").prompts[0]
                 for name in ("arc_challenge", "winograde")]  # unseen prompts
        requests = [RouteRequest(text=t) for t in texts]
        decisions = [ranker.rank(r, viable) for r in requests]
        router = Router(catalog, Policy(routing=settings), ranker=ranker)
        timings = {
            "LearnedRanker.rank": [_time_ms(lambda r=r: ranker.rank(r, viable),
                                            args.decisions // 2) for r in requests],
            "Router.route + ranker": [_time_ms(lambda r=r: router.route(r), args.decisions // 2)
                                      for r in requests],
        }
        table = OutcomeTable.from_frame(outcomes_frame(ledger))
        for features in CV_FEATURES:
            if features == trained.model.hyper.features:
                continue
            hyper = replace(trained.model.hyper, features=features)
            other = LearnedRanker(TrainedRouter(QualityModel.fit(table, hyper),
                                                trained.neighbourhood, trained.output_tokens),
                                  settings)
            timings[f"  rank, {features} features"] = [
                _time_ms(lambda r=r, o=other: o.rank(r, viable), args.decisions // 4)
                for r in requests]
    print(machine_line())
    print(f"outcomes stored: {stored} ({len(trained.model.models)} models, "
          f"{len(trained.neighbourhood.known)} prompts)")
    print(f"training: {train_s:.2f} s wall, {train_cpu_s:.2f} s CPU (features {trained.model.hyper.features}, "
          f"alpha {trained.model.hyper.alpha:g}, blend {trained.model.hyper.blend:g})")
    for name, runs in timings.items():
        wall = [t for w, _ in runs for t in w]
        cpu = [t for _, c in runs for t in c]
        print(f"{name}: wall p50 {statistics.median(wall):.3f} ms, p95 "
              f"{percentile(wall, 0.95):.3f} ms; CPU p50 {statistics.median(cpu):.3f} ms, "
              f"p95 {percentile(cpu, 0.95):.3f} ms over {len(wall)} decisions")
    for decision in decisions:
        print(f"  e.g. {decision.reason}")


if __name__ == "__main__":
    main()
