"""The scripts in examples/ run as a user runs them (a subprocess) and store what they say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mediastore as ms

ROOT = Path(__file__).resolve().parents[2]


def run_example(name: str, store: Path) -> str:
    """Run examples/<name> for one epoch into ``store``; its standard output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = subprocess.run([sys.executable, str(ROOT / "examples" / name), "--store", str(store), "--epochs", "1"], capture_output=True,
                         text=True, timeout=300, cwd=str(ROOT), env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_lightning_example(tmp_path):
    pytest.importorskip("lightning", reason='the example needs lightning: pip install "mediastore[lightning]"')
    stdout = run_example("lightning_mnist_like.py", tmp_path / "store")
    s = ms.open(str(tmp_path / "store"))
    (run_id, state), = s.sql("SELECT run_id, state FROM runs").fetchall()
    assert state == "finished" and f"run: {run_id}" in stdout
    assert "train/loss" in stdout and "val/acc" in stdout  # the SQL result it prints
    # 1024 samples / 64 = 16 steps, a row every 4 steps; validation (128 samples) after the last
    assert s.sql("SELECT list(step ORDER BY step) FROM scalars WHERE key = 'train/loss'").fetchall() == [([3, 7, 11, 15],)]
    assert s.sql("SELECT step, count(*) FROM images WHERE key = 'val/examples' GROUP BY step").fetchall() == [(16, 4)]
    assert s.sql("SELECT step, count(*) FROM tables.\"val/predictions\" GROUP BY step").fetchall() == [(16, 64)]
    assert s.sql("SELECT count(DISTINCT key) FROM histograms WHERE key LIKE 'gradients/%'").fetchall() == [(4,)]


def test_transformers_example(tmp_path):
    pytest.importorskip("transformers", reason='the example needs transformers: pip install "mediastore[transformers]"')
    stdout = run_example("transformers_trainer.py", tmp_path / "store")
    s = ms.open(str(tmp_path / "store"))
    (run_id, name, state), = s.sql("SELECT run_id, name, state FROM runs").fetchall()
    assert (name, state) == ("tiny-bert", "finished") and f"run: {run_id}" in stdout
    assert "train/loss" in stdout and "eval/loss" in stdout
    # 512 samples / 32 = 16 steps, a row every 2 steps, evaluation at the end of the epoch
    assert s.sql("SELECT list(step ORDER BY step) FROM scalars WHERE key = 'train/loss'").fetchall() == [([2, 4, 6, 8, 10, 12, 14, 16],)]
    assert s.sql("SELECT step FROM scalars WHERE key = 'eval/loss'").fetchall() == [(16,)]
