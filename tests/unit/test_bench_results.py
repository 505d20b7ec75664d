"""A benchmark run that names fewer backends keeps the others' earlier runs in the file."""

from __future__ import annotations

import json

import pytest
from bench import machine


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "RESULTS", tmp_path)
    return tmp_path


AMD = {"nproc": 2, "cpu": "AMD EPYC"}


def test_runs_of_other_backends_stay_with_their_own_command(results_dir):
    (results_dir / "http.json").write_text(
        json.dumps(
            {
                "machine": AMD,
                "command": "python -m bench.bench_http",
                "at": "2026-11-01T00:00:00+00:00",
                "workload": {"members": 10},
                "runs": {"postgres": {"purchases_per_s": 1.0}, "sqlite": {"purchases_per_s": 2.0}},
                "pgbench": {"tps": 3.0},
            }
        )
    )
    now = {"workload": {"members": 10}, "runs": {"sqlite": {"purchases_per_s": 5.0}}}
    machine.keep_earlier_runs(
        "http",
        now,
        ["sqlite"],
        False,
        machine.command_line("bench_http", ["--backends", "sqlite"]),
        same=("workload",),
        companions={"pgbench": "postgres"},
    )
    assert now["runs"]["sqlite"]["purchases_per_s"] == 5.0
    assert now["runs"]["sqlite"]["command"] == "python -m bench.bench_http --backends sqlite"
    assert now["runs"]["sqlite"]["machine"] == machine.machine()
    assert now["runs"]["postgres"] == {
        "purchases_per_s": 1.0,
        "command": "python -m bench.bench_http",
        "at": "2026-11-01T00:00:00+00:00",
        "machine": AMD,
    }
    assert now["pgbench"] == {"tps": 3.0}


def test_an_earlier_file_of_another_size_is_not_mixed_in(results_dir):
    (results_dir / "import.json").write_text(
        json.dumps({"purchases": 100, "runs": {"postgres_csv": {"purchases_per_s": 1.0}}})
    )
    now = {"purchases": 1000, "runs": {"sqlite_csv": {"purchases_per_s": 5.0}}}
    machine.keep_earlier_runs("import", now, ["sqlite"], False, "x", same=("purchases",))
    assert list(now["runs"]) == ["sqlite_csv"]


def test_the_backend_run_now_replaces_its_earlier_run(results_dir):
    (results_dir / "import.json").write_text(
        json.dumps({"purchases": 10, "runs": {"sqlite_csv": {"purchases_per_s": 1.0}}})
    )
    now = {"purchases": 10, "runs": {"sqlite_parquet": {"purchases_per_s": 5.0}}}
    machine.keep_earlier_runs("import", now, ["sqlite"], False, "x", same=("purchases",))
    assert list(now["runs"]) == ["sqlite_parquet"]
