"""The store is plain hive-partitioned Parquet: the README's Dask snippet, as written, reads it
without mediastore and gets the rows DuckDB gets through ``ms.open``."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pyarrow.parquet as pq
import pytest

import mediastore as ms
from readme_snippets import python_snippet, replace_once

pytest.importorskip("dask.dataframe", reason='reading a store with Dask needs dask: pip install "dask[dataframe]"')

# Runs the README's snippet in a fresh interpreter so that nothing of mediastore can help: only
# dask, pandas and pyarrow are imported, and the script checks that. The snippet's
# parquet_file_extension=None hands the directory to pyarrow's discovery, which skips the "_"
# files writers make before compaction publishes a run (Dask's default lists every *.parquet
# itself and would read them too); project= and run= directories become string columns.
READ_WITH_DASK = textwrap.dedent(
    """
    import sys

    snippet, out = sys.argv[1], sys.argv[2]
    namespace = {}
    exec(snippet, namespace)
    result = namespace["df"][["project", "run_id", "step", "key", "value"]].compute()
    result.reset_index(drop=True).to_parquet(out)
    assert "mediastore" not in sys.modules, sorted(m for m in sys.modules if m.startswith("mediastore"))
    """
)
README_SCALARS = '"s3://team-bucket/mediastore/scalars"'


def read_with_dask(scalars_dir: str, out: str) -> list[tuple]:
    snippet = replace_once(python_snippet("Reading without mediastore", "dask"), README_SCALARS, repr(scalars_dir))
    done = subprocess.run(
        [sys.executable, "-c", READ_WITH_DASK, snippet, out], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)
    return sorted(zip(*(table.column(c).to_pylist() for c in ("project", "run_id", "step", "key", "value"))))


def log(store: str, settings: ms.Settings | None = None) -> None:
    # Run ids that pyarrow's partition inference alone would read as the numbers 1, 7 and 1.
    for project, run_id, steps in (("vision", "001", 40), ("vision", "007", 25), ("audio", "1", 7)):
        with ms.init(project=project, store=store, run_id=run_id, settings=settings) as run:
            for step in range(steps):
                run.log({"loss": 1.0 / (step + 1), "acc": step / steps, "lr": 3e-4 * 0.99**step})


def duckdb_rows(store: str) -> list[tuple]:
    return ms.open(store).sql("SELECT project, run_id, step, key, value FROM scalars ORDER BY ALL").fetchall()


@pytest.mark.parametrize("flush_rows", [100_000, 30], ids=["one-file-per-run", "several-files-per-run"])
def test_dask_reads_the_scalars_that_duckdb_reads(tmp_path, flush_rows):
    store = str(tmp_path / "store")
    log(store, ms.Settings(flush_rows=flush_rows))

    rows = read_with_dask(f"{store}/scalars", str(tmp_path / "dask.parquet"))

    expected = duckdb_rows(store)
    assert len(expected) == 3 * (40 + 25 + 7)
    assert rows == expected


def test_dask_reads_the_scalars_that_duckdb_reads_after_a_resumed_run(tmp_path):
    store = str(tmp_path / "store")
    log(store)
    with ms.init(project="vision", store=store, run_id="001", resume=True) as run:
        run.log({"loss": 0.01})

    rows = read_with_dask(f"{store}/scalars", str(tmp_path / "dask.parquet"))

    assert rows == duckdb_rows(store)
