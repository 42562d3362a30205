"""``orchestra outcomes import|list|export`` and ``orchestra router eval`` end to end."""

from __future__ import annotations

import csv
import json

import pytest

from core.cli import main
from core.ledger import Ledger
from core.ledger.outcomes import outcome_summary
from tests.routerbench_tables import write_table


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "ledger.duckdb")


def test_import_list_export(tmp_path, db, capsys):
    table = write_table(tmp_path / "bench.csv", rows=30, seed=1)
    assert main(["outcomes", "import", str(table), "--format", "routerbench",
                 "--dataset", "synthetic", "--db", db]) == 0
    assert "imported 90 outcomes into dataset 'synthetic'" in capsys.readouterr().out
    assert main(["outcomes", "import", str(table), "--format", "routerbench",
                 "--dataset", "synthetic", "--db", db]) == 0
    assert "imported 0 outcomes" in capsys.readouterr().out, "a re-import adds nothing"
    counts = {s.model: s.count for s in outcome_summary(Ledger(db))}
    assert counts == {"tiny": 30, "small": 30, "big": 30}, "models kept as the table names them"
    assert main(["outcomes", "list", "--model", "big", "--limit", "5", "--json", "--db", db]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == 5 and {r["model"] for r in listed} == {"big"}
    assert {r["source"] for r in listed} == {"import"}
    target = tmp_path / "out.csv"
    assert main(["outcomes", "export", str(target), "--dataset", "synthetic", "--db", db]) == 0
    with target.open() as handle:
        assert len(list(csv.DictReader(handle))) == 90


@pytest.mark.parametrize("argv, fragment", [
    (["outcomes", "import", "MISSING", "--format", "routerbench"], "no such file"),
    (["outcomes", "export", "out.json"], "name it .csv or .parquet"),
    (["outcomes", "list", "--limit", "0"], "--limit must be at least 1"),
    (["router", "eval", "--train", "MISSING", "--test", "MISSING"], "no such file"),
])
def test_caller_mistakes_exit_2_with_one_line(tmp_path, db, capsys, argv, fragment):
    argv = [str(tmp_path / a) if a == "MISSING" else a for a in argv]
    if argv[0] == "outcomes":
        argv += ["--db", db]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err and err.startswith("orchestra: error:")


def test_a_bad_file_imports_nothing(tmp_path, db, capsys):
    good = write_table(tmp_path / "good.csv", rows=20, seed=1)
    assert main(["outcomes", "import", str(good), "--format", "routerbench", "--db", db]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt,a,a|total_cost,b,b|total_cost\nx,1,0.1,7,0.2\n")
    assert main(["outcomes", "import", str(bad), "--format", "routerbench", "--db", db]) == 2
    assert "outside [0, 1]" in capsys.readouterr().err
    assert sum(s.count for s in outcome_summary(Ledger(db))) == 60, "what was there is kept"


def test_router_eval_json(tmp_path, capsys):
    train = write_table(tmp_path / "train.csv", rows=120, seed=1)
    test = write_table(tmp_path / "test.csv", rows=60, seed=2)
    assert main(["router", "eval", "--train", str(train), "--test", str(test), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("points", "singles", "oracle", "zero_router", "router_aiq", "zero_router_aiq",
                "best_single", "cost_to_match_best_single_usd"):
        assert key in report
    assert {"knob", "accuracy", "cost_usd"} <= set(report["points"][0])
    assert {"model", "accuracy", "cost_usd"} <= set(report["best_single"])
    assert report["router_aiq"] > report["zero_router_aiq"]
    assert main(["router", "eval", "--train", str(train), "--test", str(test)]) == 0
    text = capsys.readouterr().out
    assert "zero router" in text and "best single model: big" in text
