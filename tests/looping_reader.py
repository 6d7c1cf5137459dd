"""A reader process that queries a store in a loop while writer processes log into it
(test_concurrency, test_shared_runs): what every pass answered, and every error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

READER = textwrap.dedent(
    """
    import json, os, sys, time
    import mediastore as ms
    store, until, queries = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    s = ms.open(store)
    results, errors = [], []
    while not os.path.exists(until):
        try:
            results.append([value for query in queries for value in s.sql(query).fetchall()[0]])
        except Exception as exc:
            errors.append(repr(exc))
        time.sleep(0.05)
    print(json.dumps({"results": results, "errors": errors}))
    """
)


def read_while_writing(store: str, tmp_path, queries: list[str], writers: list[list[str]]) -> dict:
    """Start the reader on ``store``, run each writer (``python -c`` and its arguments) to its
    end, checking it succeeded, then stop the reader. Its report: ``results``, one list per
    pass of every query's single row, values in order; ``errors``."""
    stop = tmp_path / "stop"
    env = {**os.environ, "MEDIASTORE_SPOOL": str(tmp_path / "spool")}
    reader = subprocess.Popen([sys.executable, "-c", READER, store, str(stop), json.dumps(queries)],
                              stdout=subprocess.PIPE, text=True, env=env)
    procs = [subprocess.Popen([sys.executable, "-c", *argv], env=env, stderr=subprocess.PIPE, text=True) for argv in writers]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    stop.touch()
    return json.loads(reader.communicate(timeout=120)[0])
