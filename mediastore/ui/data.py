"""What the viewer's pages ask of a store, answered by DuckDB queries over its views.

Every method returns plain JSON-ready values (str, int, float, bool, None, lists, dicts).
User values reach SQL only as parameters; view names come from a fixed set.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any

import numpy as np

from ..packer import PACKS
from ..storage import _EXTENSIONS
from ..errors import MediaStoreError
from ..media.base import evenly_spaced, registered_kinds
from ..query import Store

#: Line-chart points per run and key: enough for a wide screen, few enough for 100 runs at once.
SERIES_POINTS = 1000
#: Steps drawn in a histogram heat map; more are sampled evenly.
HEATMAP_STEPS = 500
HEATMAP_BINS = 64
#: Runs overlaid on one chart or compared side by side at most.
MAX_RUNS = 100
TABLE_PAGE = 100
#: Most rows of a table an ms.plot chart is drawn from (its table may hold ms.Table.MAX_ROWS or more).
CHART_ROWS = 20000
#: Seconds a snapshot of the runs view serves the runs pages before it is read again.
RUNS_TTL = 2.0


class ViewerQueryError(MediaStoreError, ValueError):
    """A viewer request named something the store does not have, or a bad parameter."""


def jsonable(value: Any) -> Any:
    """DuckDB/numpy/pandas values as JSON values; NaN and infinities become None."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "isoformat"):  # datetime, date, pandas Timestamp
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return None  # bytes are never sent inline: blobs have their own route
    return str(value)


def _blob_url(blob: Any) -> str | None:
    if not isinstance(blob, dict) or not blob.get("uri"):
        return None
    if blob["uri"].startswith(PACKS + "/"):
        # A blob inside a pack: its byte range, named with its type's extension for the mime.
        extension = _EXTENSIONS.get(blob.get("mime") or "", ".bin")
        return f"/blob/{blob['uri']}/{int(blob['offset'])}-{int(blob['length'])}{extension}"
    return "/blob/" + blob["uri"]


def _with_urls(row: dict) -> dict:
    """A view row for the page: blob structs gain a ``url``; masks' blobs too."""
    out = jsonable(row)
    if isinstance(out.get("blob"), dict):
        out["blob"]["url"] = _blob_url(out["blob"])
    for mask in out.get("masks") or []:
        if isinstance(mask.get("blob"), dict):
            mask["blob"]["url"] = _blob_url(mask["blob"])
    return out


def _parse_json_fields(run: dict) -> dict:
    """A runs row with its JSON text columns (config, summary, tags) parsed, in place."""
    for field in ("config", "summary"):
        run[field] = json.loads(run[field]) if run[field] else {}
    if "tags" in run:
        run["tags"] = json.loads(run["tags"]) if run["tags"] else []
    return run


def _kind(kind: str) -> str:
    """A media view's name, checked against the registry (it becomes part of the SQL text)."""
    if kind not in registered_kinds():
        raise ViewerQueryError(f"unknown media kind {kind!r}; use one of {registered_kinds()}")
    return kind


def _run_list(runs: list[str] | None) -> list[str]:
    runs = list(dict.fromkeys(r for r in (runs or []) if r))
    if not runs:
        raise ViewerQueryError("no runs given; pass runs=<id>,<id>")
    if len(runs) > MAX_RUNS:
        raise ViewerQueryError(f"{len(runs)} runs asked for at once; the viewer overlays at most {MAX_RUNS} — select fewer")
    return runs


def _among(runs: list[str]) -> str:
    """``run_id IN (?, ...)``: a literal list, so DuckDB prunes the run partitions."""
    return f"run_id IN ({', '.join('?' * len(runs))})"


class ViewerData:
    """The queries behind the pages. One DuckDB connection, so calls are serialized."""

    def __init__(self, store: Store, runs_ttl: float = RUNS_TTL):
        self.store = store
        self._lock = threading.Lock()
        self._runs_ttl = runs_ttl
        self._runs_at = -math.inf

    def _rows(self, query: str, params: list | None = None) -> list[dict]:
        with self._lock:
            rel = self.store.sql(query, params)
            names = [d[0] for d in rel.description]
            return [dict(zip(names, row)) for row in rel.fetchall()]

    def _runs(self) -> str:
        """The name of a snapshot of the ``runs`` view, at most ``runs_ttl`` seconds old. The view
        reads a record file per run; with a thousand runs that is most of a page's time, and the
        runs pages ask several questions of it at once (count, page, filter as one types)."""
        with self._lock:
            if time.monotonic() - self._runs_at > self._runs_ttl:
                self.store.sql("CREATE OR REPLACE TEMP TABLE viewer_runs AS SELECT * FROM runs")
                self._runs_at = time.monotonic()
        return "viewer_runs"

    # -- runs --------------------------------------------------------------------------------
    def projects(self) -> list[dict]:
        rows = self._rows(
            "SELECT project, count(*) AS runs, count(*) FILTER (state = 'running') AS running, "
            f"max(started_at) AS last_started FROM {self._runs()} GROUP BY project ORDER BY project"
        )
        return jsonable(rows)

    def runs(self, project: str, q: str = "", limit: int = 50, offset: int = 0) -> dict:
        """The runs of a project, newest first; ``q`` filters on id, name, state, config text and
        W&B's labels (tags, group, job type, notes)."""
        where, params = "project = ?", [project]
        if q:
            text = ("run_id", "coalesce(name, '')", "state", "coalesce(config, '')", "coalesce(tags, '')",
                    "coalesce(\"group\", '')", "coalesce(job_type, '')", "coalesce(notes, '')")
            where += f" AND ({' OR '.join(f'{t} ILIKE ?' for t in text)})"
            params += [f"%{q}%"] * len(text)
        runs = self._runs()
        total = self._rows(f"SELECT count(*) AS n FROM {runs} WHERE {where}", params)[0]["n"]
        rows = self._rows(
            f"SELECT run_id, name, state, started_at, finished_at, config, summary, tags, \"group\", job_type, notes FROM {runs} WHERE {where} "
            "ORDER BY started_at DESC, run_id LIMIT ? OFFSET ?",
            params + [max(1, min(int(limit), 500)), max(0, int(offset))],
        )
        for row in rows:
            _parse_json_fields(row)
        return {"total": total, "runs": jsonable(rows)}

    def scalar_keys(self, project: str, runs: list[str]) -> list[str]:
        runs = _run_list(runs)
        rows = self._rows(f"SELECT DISTINCT key FROM scalars WHERE project = ? AND {_among(runs)} ORDER BY key", [project, *runs])
        return [r["key"] for r in rows]

    def series(self, project: str, key: str, runs: list[str], points: int = SERIES_POINTS) -> dict:
        """Each run's values of one scalar key over steps, averaged into at most ``points`` step buckets."""
        runs = _run_list(runs)
        points = max(10, min(int(points), 10_000))
        rows = self._rows(
            f"WITH s AS (SELECT run_id, process, step, value FROM scalars WHERE project = ? AND key = ? AND {_among(runs)}), "
            "r AS (SELECT run_id, process, min(step) AS lo, max(step) AS hi FROM s GROUP BY run_id, process) "
            "SELECT s.run_id, s.process, min(s.step) AS step, avg(s.value) AS value FROM s JOIN r ON s.run_id = r.run_id AND s.process IS NOT DISTINCT FROM r.process "
            "GROUP BY s.run_id, s.process, (s.step - r.lo) * ? // (r.hi - r.lo + 1) ORDER BY s.run_id, s.process, step",
            [project, key, *runs, points],
        )
        # A shared run's processes are lines of their own: "<run> · <process>".
        out: dict[str, dict[str, list]] = {}
        for row in rows:
            line = out.setdefault(row["run_id"] if row["process"] is None else f"{row['run_id']} · {row['process']}",
                                  {"steps": [], "values": []})
            line["steps"].append(row["step"])
            line["values"].append(jsonable(row["value"]))
        for run in runs:  # a run with no value of the key: an empty line, as before
            if not any(k == run or k.startswith(f"{run} · ") for k in out):
                out[run] = {"steps": [], "values": []}
        return {"key": key, "runs": out}

    # -- one run's media ---------------------------------------------------------------------
    def run(self, project: str, run_id: str) -> dict:
        found = self._rows(f"SELECT * FROM {self._runs()} WHERE project = ? AND run_id = ?", [project, run_id])
        if not found:  # started since the snapshot?
            found = self._rows("SELECT * FROM runs WHERE project = ? AND run_id = ?", [project, run_id])
        if not found:
            raise ViewerQueryError(f"no run {run_id!r} in project {project!r}")
        info = _parse_json_fields(found[0])
        media = self._rows(
            "SELECT kind, key, count(*) AS items, count(DISTINCT step) AS steps, min(step) AS first_step, "
            "max(step) AS last_step FROM media WHERE project = ? AND run_id = ? GROUP BY kind, key "
            "UNION ALL SELECT 'histograms', key, count(*), count(DISTINCT step), min(step), max(step) "
            "FROM histograms WHERE project = ? AND run_id = ? GROUP BY key ORDER BY kind, key",
            [project, run_id, project, run_id],
        )
        return {"run": jsonable(info), "media": jsonable(media), "scalar_keys": self.scalar_keys(project, [run_id])}

    def steps(self, project: str, kind: str, key: str, runs: list[str]) -> list[int]:
        """The steps at which any of ``runs`` logged ``key``, ascending."""
        kind, runs = _kind(kind), _run_list(runs)
        rows = self._rows(
            f'SELECT DISTINCT step FROM "{kind}" WHERE project = ? AND key = ? AND {_among(runs)} ORDER BY step',
            [project, key, *runs],
        )
        return [r["step"] for r in rows]

    def items(self, project: str, kind: str, key: str, step: int, runs: list[str]) -> dict:
        """For each run, the items of ``key`` at ``step`` — or at the last step before it where the run
        logged the key (runs log on their own schedules), with that step."""
        kind, runs = _kind(kind), _run_list(runs)
        rows = self._rows(
            f'SELECT * FROM "{kind}" WHERE project = ? AND key = ? AND {_among(runs)} AND step <= ? '
            "QUALIFY step = max(step) OVER (PARTITION BY run_id) ORDER BY run_id, process, idx, logged_at",
            [project, key, *runs, int(step)],
        )
        out: dict[str, list] = {r: [] for r in runs}
        for row in rows:
            items = out[row["run_id"]]
            if row.get("process") is not None and "caption" in row:
                # A shared run: every process's items at the step, each captioned with its process.
                row["caption"] = f"{row['process']}: {row['caption']}" if row["caption"] else row["process"]
            if items and items[-1]["idx"] == row["idx"] and items[-1].get("process") == row.get("process"):
                items[-1] = _with_urls(row)  # the same step and idx logged again: the later one
            else:
                items.append(_with_urls(row))
        return {"kind": kind, "key": key, "step": int(step), "runs": out}

    def histogram(self, project: str, run_id: str, key: str) -> dict:
        """A steps x bins heat map of one histogram key: every step's counts spread over one
        shared grid of bins (by overlap, so counts are kept), at most HEATMAP_STEPS steps."""
        rows = self._rows(
            "SELECT step, bins, counts FROM histograms WHERE project = ? AND run_id = ? AND key = ? "
            "QUALIFY row_number() OVER (PARTITION BY step ORDER BY logged_at DESC, idx) = 1 ORDER BY step",
            [project, run_id, key],
        )
        if not rows:
            raise ViewerQueryError(f"no histogram {key!r} in run {run_id!r}")
        if len(rows) > HEATMAP_STEPS:
            rows = [rows[i] for i in evenly_spaced(len(rows), HEATMAP_STEPS)]
        lo = min(r["bins"][0] for r in rows)
        hi = max(r["bins"][-1] for r in rows)
        if not hi > lo:
            hi = lo + 1.0
        grid = np.linspace(lo, hi, HEATMAP_BINS + 1)
        matrix = np.zeros((len(rows), HEATMAP_BINS))
        for i, row in enumerate(rows):
            edges = np.asarray(row["bins"], dtype=float)
            counts = np.asarray(row["counts"], dtype=float)
            # The cumulative count at each grid edge, linear inside each original bin.
            cumulative = np.concatenate([[0.0], np.cumsum(counts)])
            if edges[-1] > edges[0]:
                at_grid = np.interp(grid, edges, cumulative)
            else:  # every value equal: one point mass
                at_grid = np.where(grid >= edges[0], cumulative[-1], 0.0)
            matrix[i] = np.diff(at_grid)
        return {
            "key": key,
            "steps": [r["step"] for r in rows],
            "edges": grid.tolist(),
            "counts": np.round(matrix, 3).tolist(),
            "last": {"bins": jsonable(rows[-1]["bins"]), "counts": jsonable(rows[-1]["counts"])},
        }

    def table(self, project: str, run_id: str, key: str, step: int | None, offset: int = 0, limit: int = TABLE_PAGE) -> dict:
        """A page of a logged table's rows; media cells carry their blob's url."""
        with self._lock:
            frame = self.store.table(run_id, key, step=step, project=project)
        offset, limit = max(0, int(offset)), max(1, min(int(limit), 1000))
        page = frame.iloc[offset : offset + limit]
        rows = []
        for record in page.itertuples(index=False, name=None):
            cells = []
            for cell in record:
                if isinstance(cell, dict) and "kind" in cell:
                    cell = _with_urls(cell)
                cells.append(jsonable(cell))
            rows.append(cells)
        return {"columns": [str(c) for c in frame.columns], "num_rows": len(frame), "offset": offset, "rows": rows}

    def chart(self, project: str, run_id: str, key: str, step: int | None, columns: list[str]) -> dict:
        """The ``columns`` of a logged table that an ``ms.plot`` chart draws, every row (at most
        ``CHART_ROWS``, evenly spaced beyond); columns the table lacks are left out."""
        with self._lock:
            frame = self.store.table(run_id, key, step=step, project=project)
        wanted = [c for c in dict.fromkeys(columns) if c in frame.columns]
        if len(frame) > CHART_ROWS:
            frame = frame.iloc[evenly_spaced(len(frame), CHART_ROWS)]
        rows = [[jsonable(v) for v in record] for record in frame[wanted].itertuples(index=False, name=None)]
        return {"columns": wanted, "num_rows": len(rows), "rows": rows}


