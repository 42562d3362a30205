"""Reading per-prompt outcome tables in RouterBench's CSV format.

A row is one prompt: ``prompt`` (plain text, or a Python-list literal of text parts), one score
column per model (in [0, 1]; empty = no outcome), ``<model>|total_cost`` (USD) and optionally
``<model>|model_response``. The models are the score columns that have a ``|total_cost``
partner, named as the table names them. Any other column (``sample_id``, ``eval_name``, …) is
ignored. Errors say which file and column, and how to fix it.
"""

from __future__ import annotations

import ast
import csv
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import ConfigError
from core.ledger.outcomes import OutcomeRecord, prompt_hash, stable_outcome_id
from core.routing.learned import OutcomeTable

COST_SUFFIX = "|total_cost"
RESPONSE_SUFFIX = "|model_response"


def prompt_text(raw: object) -> str:
    """The prompt's text: a list literal's parts joined by blank lines, else the text as is."""
    if not isinstance(raw, str):
        return "" if raw is None or (isinstance(raw, float) and np.isnan(raw)) else str(raw)
    stripped = raw.strip()
    if stripped.startswith("[") and stripped.endswith("]"):
        try:
            parts = ast.literal_eval(stripped)
        except (ValueError, SyntaxError):
            return raw
        if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
            return "\n\n".join(parts)
    return raw


def _read_frame(path: Path) -> pd.DataFrame:
    try:
        csv.field_size_limit(1 << 30)
        return pd.read_csv(path, dtype={"prompt": str}, keep_default_na=True)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file; give the path of a RouterBench CSV") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable CSV ({type(exc).__name__}); "
                          f"export the table as UTF-8 CSV with a header row") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"{path} is a directory; give the path of a RouterBench CSV") from exc


def table_models(columns: list[str]) -> list[str]:
    """The models of a RouterBench header: score columns with a ``|total_cost`` partner."""
    names = set(columns)
    return [c for c in columns if "|" not in c and f"{c}{COST_SUFFIX}" in names]


def _numeric(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & frame[column].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise ConfigError(f"{path}: column {column!r} line {row} is not a number "
                          f"({frame[column].iloc[row - 2]!r}); fix or empty that cell")
    array: np.ndarray = values.to_numpy(dtype=np.float64)
    return array


def read_routerbench(path: str | Path) -> OutcomeTable:
    """The outcomes of a RouterBench-format CSV; ``ConfigError`` (one line) on a bad file."""
    source = Path(path).expanduser()
    frame = _read_frame(source)
    if "prompt" not in frame.columns:
        raise ConfigError(f"{source}: no 'prompt' column; a RouterBench CSV has prompt, one "
                          f"score column per model and <model>{COST_SUFFIX}")
    models = table_models([str(c) for c in frame.columns])
    if not models:
        raise ConfigError(f"{source}: no model columns (a score column <model> with a "
                          f"<model>{COST_SUFFIX} partner); check the header")
    scores = np.column_stack([_numeric(frame, m, source) for m in models])
    outside = ~np.isnan(scores) & ((scores < 0) | (scores > 1))
    if outside.any():
        row, col = (int(v) for v in np.argwhere(outside)[0])
        raise ConfigError(f"{source}: score {scores[row, col]} for {models[col]!r} at line "
                          f"{row + 2} is outside [0, 1]; scores must be in [0, 1]")
    costs = np.column_stack([_numeric(frame, f"{m}{COST_SUFFIX}", source) for m in models])
    if (costs[~np.isnan(costs)] < 0).any():
        raise ConfigError(f"{source}: a {COST_SUFFIX} value is negative; costs are USD >= 0")
    responses = None
    if all(f"{m}{RESPONSE_SUFFIX}" in frame.columns for m in models):
        responses = np.column_stack(
            [frame[f"{m}{RESPONSE_SUFFIX}"].astype(object).to_numpy() for m in models])
    prompts = [prompt_text(p) for p in frame["prompt"].tolist()]
    return OutcomeTable(prompts, models, scores, costs, responses)


def outcome_records(table: OutcomeTable, dataset: str) -> list[OutcomeRecord]:
    """One imported outcome per scored (prompt, model) cell, with ids stable across re-imports
    (same dataset, prompt and model); empty scores are skipped, unknown costs stay None."""
    records = []
    for i, text in enumerate(table.prompts):
        digest = prompt_hash(text)
        for j, model in enumerate(table.models):
            score = table.scores[i, j]
            if np.isnan(score):
                continue
            cost = table.costs[i, j]
            records.append(OutcomeRecord(
                outcome_id=stable_outcome_id("import", dataset, digest, model), prompt=text,
                prompt_hash=digest, model=model, score=float(score), source="import",
                dataset=dataset, cost_usd=None if np.isnan(cost) else Decimal(repr(float(cost))),
            ))
    return records
