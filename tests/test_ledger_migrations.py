"""Schema migrations: applied once, in order, atomically; the schema matches AttemptRecord."""

from __future__ import annotations

import duckdb
import pytest

from core.ledger import Ledger
from core.ledger.migrations import MIGRATIONS, applied_migrations, apply_migrations
from core.types import AttemptRecord

M002 = ("m902_add_notes", ("ALTER TABLE runs ADD COLUMN notes VARCHAR DEFAULT ''",))
M003 = ("m903_fill_notes", ("UPDATE runs SET notes = 'migrated'",))
SHIPPED = [name for name, _ in MIGRATIONS]


def test_migrations_apply_once_and_in_order(tmp_path):
    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    try:
        assert apply_migrations(con) == SHIPPED
        assert SHIPPED[:3] == ["m001_initial", "m002_run_owner", "m003_attempt_traces"]
        assert SHIPPED == sorted(SHIPPED), "migrations are numbered in the order they apply"
        con.execute("INSERT INTO runs (run_id, demand, created_at, status, mode) "
                    "VALUES ('r', 'd', now()::TIMESTAMP, 'done', 'live')")
        assert apply_migrations(con, (*MIGRATIONS, M002, M003)) == [
            "m902_add_notes", "m903_fill_notes"]
        assert apply_migrations(con, (*MIGRATIONS, M002, M003)) == []
        assert applied_migrations(con) == [*SHIPPED, "m902_add_notes", "m903_fill_notes"]
        assert con.execute("SELECT notes FROM runs").fetchall() == [("migrated",)]
    finally:
        con.close()


def test_a_failing_migration_leaves_no_trace(tmp_path):
    broken = ("m902_broken", ("CREATE TABLE extra (x INT)", "SELECT * FROM no_such_table"))
    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    try:
        with pytest.raises(duckdb.CatalogException):
            apply_migrations(con, (*MIGRATIONS, broken))
        assert applied_migrations(con) == SHIPPED
        tables = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()")
                  .fetchall()}
        assert "extra" not in tables
    finally:
        con.close()


def test_ledger_applies_migrations_on_open_and_creates_directories(tmp_path):
    ledger = Ledger(tmp_path / "a" / "b" / "ledger.duckdb")
    assert ledger.recent_runs() == []
    assert ledger.transact(applied_migrations) == SHIPPED
    assert ledger.transact(applied_migrations) == SHIPPED


def test_attempts_table_has_a_column_for_every_attempt_field(tmp_path):
    ledger = Ledger(tmp_path / "ledger.duckdb")
    columns = ledger.transact(lambda con: [
        name for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'attempts'"
        ).fetchall()])
    assert set(AttemptRecord.model_fields) <= set(columns)
    assert set(columns) - set(AttemptRecord.model_fields) == {"day"}
