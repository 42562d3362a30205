"""Ratings are stored once per answer and rater: a second save updates the first (m006)."""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.ledger import Ledger
from core.ledger.migrations import MIGRATIONS, apply_migrations
from ui.jobs import save_ratings

BEFORE_M006 = tuple(m for m in MIGRATIONS if m[0] < "m006")


def test_a_second_save_updates_the_first(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "r.duckdb")
    assert save_ratings({"a1": 2, "a2": 5, "a3": None}, best="a2", ledger=ledger) == 3
    assert save_ratings({"a1": 4, "a2": 5, "a3": None}, best="a1", ledger=ledger) == 3
    rows = {r.attempt_id: (r.rating, r.best) for r in ledger.get_ratings()}
    assert rows == {"a1": (4, True), "a2": (5, False), "a3": (None, False)}
    assert len(ledger.get_ratings()) == 3


def test_another_rater_or_a_judge_keeps_its_own_rating(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "r.duckdb")
    ledger.rate("a1", 2, rater="ana")
    ledger.rate("a1", 5, rater="ben")
    ledger.rate("a1", 3, rater="openai:gpt-4o", source="judge")
    ledger.rate("a1", 1, rater="ana")
    ratings = sorted((r.rater, r.rating) for r in ledger.get_ratings(attempt_id="a1"))
    assert ratings == [("ana", 1), ("ben", 5), ("openai:gpt-4o", 3)]


def test_the_migration_keeps_the_latest_of_earlier_duplicates(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    try:
        apply_migrations(con, BEFORE_M006)
        for rating, at in ((1, "2026-01-01 10:00"), (4, "2026-01-02 10:00"), (2, "2026-01-01")):
            con.execute("INSERT INTO ratings (attempt_id, rating, source, created_at) "
                        "VALUES ('a1', ?, 'person', ?)", [rating, at])
        con.execute("INSERT INTO ratings (attempt_id, rating, source, rater, created_at) "
                    "VALUES ('a1', 5, 'judge', 'm', '2026-01-01')")
        assert apply_migrations(con)[:1] == ["m006_ratings_unique"]  # then any later ones
        rows = con.execute("SELECT source, rating FROM ratings ORDER BY source").fetchall()
        assert rows == [("judge", 5), ("person", 4)]
    finally:
        con.close()
