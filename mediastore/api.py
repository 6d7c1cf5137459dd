"""W&B's public API (``wandb.Api``) over a store, for the scripts and notebooks that read runs back.

``api = ms.Api(store="s3://team-bucket/ms")`` then, as with W&B, ``api.runs("project",
filters={"config.lr": {"$gt": 0.01}, "state": "finished"})``, ``api.run("project/run_id")``,
``run.config``, ``run.summary``, ``run.history(keys=["loss"])`` and ``run.scan_history()``.
A store has no entities: a path's entity (``"entity/project"``) is read and ignored. What W&B's
API does beyond reading runs (files, artifacts, reports, sweeps, editing a run) raises
``NotImplementedError`` naming the nearest mediastore way. Reading runs through SQL
(``ms.open(store).sql(...)``) is the faster way for many runs at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from ._lazy import np
from .errors import InvalidArgumentError, RunNotFoundError
from .media.base import evenly_spaced

__all__ = ["Api", "Run", "Runs", "Project"]

_FIELDS = {"state": "state", "name": "run_id", "id": "run_id", "display_name": "name", "group": "group",
           "jobType": "job_type", "job_type": "job_type", "notes": "notes", "tags": "tags",
           "created_at": "created_at", "createdAt": "created_at"}
_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$exists")


class _RestNotOffered:
    """What W&B's API does beyond reading runs: ``NotImplementedError`` naming the nearest way
    (and an ``AttributeError`` to ``hasattr``)."""

    _call = "ms.Api()"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        from ._not_offered import not_offered

        not_offered(f"{self._call}.{name}", "api", attribute=True)


class Api(_RestNotOffered):
    """W&B's ``wandb.Api``, reading the store at ``store`` (default ``$MEDIASTORE_STORE``, else
    ``./mediastore-data``, as ``ms.open``).

    Parameters
    ----------
    overrides : dict, optional
        W&B's: ``{"project": "p"}`` is the project of paths that name none; ``"entity"`` is ignored.
    timeout, api_key : optional
        Taken for W&B code, unused (a store needs no key: a folder or a bucket's own credentials).
    store : str, optional
        The store's folder or fsspec URI.
    storage_options : dict, optional
        As for ``ms.open``.
    """

    def __init__(self, overrides: Mapping[str, Any] | None = None, timeout: int | None = None, api_key: str | None = None,
                 *, store: str | None = None, storage_options: Mapping[str, Any] | None = None):
        from .query import open_store

        self.store = open_store(store, storage_options)
        self.overrides = dict(overrides or {})

    def projects(self, entity: str | None = None, per_page: int = 200) -> list["Project"]:
        """Every project of the store (``entity`` is ignored)."""
        rows = self.store.sql("SELECT project, count(*) FROM runs GROUP BY project ORDER BY project").fetchall()
        return [Project(name, runs) for name, runs in rows]

    def runs(self, path: str | None = None, filters: Mapping[str, Any] | None = None, order: str = "+created_at",
             per_page: int = 50, include_sweeps: bool = True, lazy: bool = True) -> "Runs":
        """The runs of a project (``"project"`` or ``"entity/project"``) that match ``filters``.

        Parameters
        ----------
        filters : dict, optional
            W&B's MongoDB-style query over ``state``, ``name`` (the run id), ``display_name``,
            ``tags``, ``group``, ``jobType``, ``notes``, ``created_at`` (ISO text),
            ``config.<key>`` (``config.<key>.value`` too) and ``summary_metrics.<key>``, with
            ``$eq $ne $gt $gte $lt $lte $in $nin $regex $exists`` and ``$and $or $nor``.
            A field that is a list (``tags``) matches when one of its items does.
        order : str, default "+created_at"
            ``+`` or ``-`` then ``created_at``, ``config.<key>`` or ``summary_metrics.<key>``.

        Raises
        ------
        InvalidArgumentError
            A filter field or operator that is not one of those, or an order that is not.
        """
        parts = [p for p in (path or "").split("/") if p]
        project = parts[-1] if parts else self.overrides.get("project")
        if project is None:
            raise InvalidArgumentError("Api.runs: no project given; pass 'project' or 'entity/project', or Api(overrides={'project': ...})")
        runs = [Run(self.store, row) for row in _run_rows(self.store, project)]
        if filters:
            runs = [r for r in runs if _matches(r._fields, filters)]
        return Runs(_ordered(runs, order), project)

    def run(self, path: str = "") -> "Run":
        """One run: ``"project/run_id"``, ``"entity/project/run_id"`` (W&B's ``.../runs/run_id`` too).

        Raises
        ------
        RunNotFoundError
            No such run in the project.
        """
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[-2] == "runs":
            del parts[-2]
        if not parts:
            raise InvalidArgumentError("Api.run: give 'project/run_id' (or 'entity/project/run_id')")
        run_id = parts[-1]
        project = parts[-2] if len(parts) >= 2 else self.overrides.get("project")
        if project is None:
            raise InvalidArgumentError(f"Api.run({path!r}): no project given; pass 'project/{run_id}'")
        rows = _run_rows(self.store, project, run_id)
        if not rows:
            raise RunNotFoundError(f"no run {run_id!r} in project {project!r} of the store at {self.store.uri}; Api().runs({project!r}) lists them")
        return Run(self.store, rows[0])

    def __repr__(self) -> str:
        return f"<ms.Api {self.store.uri}>"


class Project:
    """A project of the store: ``name`` and how many ``runs`` it has."""

    def __init__(self, name: str, runs: int):
        self.name, self.entity, self.run_count = name, None, runs

    def __repr__(self) -> str:
        return f"<ms.Api Project {self.name} ({self.run_count} runs)>"


class Runs(list):
    """The runs ``Api.runs`` found: a list of `Run`, in the order asked for."""

    def __init__(self, runs: list["Run"], project: str):
        super().__init__(runs)
        self.project = project

    def __repr__(self) -> str:
        return f"<ms.Api Runs {self.project} ({len(self)})>"


class Run(_RestNotOffered):
    """One run as W&B's API shows it: ``id``, ``name`` (the display name, else the id), ``state``,
    ``config``, ``summary``, ``tags``, ``notes``, ``group``, ``job_type``, ``project``,
    ``created_at`` (ISO text, UTC), ``path`` (``[project, id]``: a store has no entity), and its
    ``history`` and ``scan_history``. Read when made: ``Api.run`` again for newer values."""

    _call = "ms.Api run"

    def __init__(self, store, row: Mapping[str, Any]):
        self._store = store
        self.id = row["run_id"]
        self.project = row["project"]
        self.entity = None
        self.name = row["name"] or self.id
        self.display_name = self.name
        self.state = row["state"]
        self.config = json.loads(row["config"]) if row["config"] else {}
        self.summary = json.loads(row["summary"]) if row["summary"] else {}
        self.summary_metrics = self.summary
        self.tags = json.loads(row["tags"]) if row["tags"] else []
        self.notes, self.group, self.job_type = row["notes"], row["group"], row["job_type"]
        started = row["started_at"]
        self.created_at = started.strftime("%Y-%m-%dT%H:%M:%SZ") if started is not None else None
        self._started_us = int(started.timestamp() * 1e6) if started is not None else 0  # the order, and _runtime
        self.path = [self.project, self.id]
        self.lastHistoryStep = row["last_step"] if row["last_step"] is not None else -1
        self._fields = {"state": self.state, "run_id": self.id, "name": row["name"], "group": self.group, "job_type": self.job_type,
                        "notes": self.notes, "tags": self.tags, "created_at": self.created_at,
                        "config": self.config, "summary": self.summary}

    def history(self, samples: int = 500, keys: list[str] | None = None, x_axis: str = "_step", pandas: bool = True,
                stream: str = "default"):
        """The run's scalars and strings, a row per step (``_step``, a column per key, and W&B's
        ``_runtime`` and ``_timestamp`` in seconds), at most ``samples`` rows: evenly spaced steps,
        the first and last kept, as W&B samples. With ``keys``, ``_step`` and those keys, on the
        steps that logged every one of them. ``pandas=False``: a list of dicts.

        Raises
        ------
        InvalidArgumentError
            ``keys`` is not a list of str.
        NotImplementedError
            ``stream="system"``: machine metrics are not recorded.
        """
        frame = self._frame(keys, "history", stream)
        if x_axis != "_step":
            if x_axis not in frame.columns:
                raise InvalidArgumentError(f"Run.history: x_axis={x_axis!r} is not a logged key of run {self.id!r}")
            frame = frame[frame[x_axis].notna()]
        if len(frame) > samples > 0:
            frame = frame.iloc[evenly_spaced(len(frame), samples)]
        frame = frame.reset_index(drop=True)
        return frame if pandas else _records(frame)

    def scan_history(self, keys: list[str] | None = None, page_size: int = 1000, min_step: int = 0,
                     max_step: int | None = None, use_cache: bool = True) -> Iterator[dict[str, Any]]:
        """Every step's scalars and strings, a dict per step (``_step``, the keys it logged, and
        without ``keys`` W&B's ``_runtime`` and ``_timestamp``), from
        ``min_step`` up to ``max_step`` (excluded). With ``keys``, only the steps that logged every
        one of them."""
        frame = self._frame(keys, "scan_history", "default")
        steps = frame["_step"]
        frame = frame[(steps >= min_step) & ((steps < max_step) if max_step is not None else True)]
        return iter(_records(frame))

    def _frame(self, keys: list[str] | None, what: str, stream: str):
        if stream != "default":
            raise NotImplementedError(f"Run.{what}(stream={stream!r}): machine metrics are not recorded; the run's own keys are (stream='default')")
        if keys is not None and (not isinstance(keys, list) or not all(isinstance(k, str) for k in keys)):
            raise InvalidArgumentError(f"Run.{what}: keys must be a list of str, got {keys!r}"[:200])
        frame = self._store.history(self.id, keys or None, project=self.project).rename(columns={"step": "_step"})
        texts = self._texts(keys)
        if len(texts):
            frame = frame.merge(texts, on="_step", how="outer").sort_values("_step", kind="stable").reset_index(drop=True)
        if keys:
            for key in keys:
                if key not in frame.columns:
                    frame[key] = np.nan
            frame = frame[["_step", *keys]]
            frame = frame[frame[keys].notna().all(axis=1)]
        else:
            frame = frame[["_step", *sorted(c for c in frame.columns if c != "_step")]]
            times = self._times()
            frame = frame.merge(times, on="_step", how="left")
        return frame

    def _texts(self, keys: list[str] | None):
        """The run's strings, a column per key (``_step`` and the keys), the later of two at a step."""
        where = "project = ? AND run_id = ?" + (f" AND key IN ({', '.join('?' * len(keys))})" if keys else "")
        rows = self._store.sql(
            f"SELECT step AS _step, key, arg_max(text, logged_at) AS text FROM texts WHERE {where} GROUP BY ALL",
            [self.project, self.id, *(keys or [])],
        ).df()
        return rows.pivot(index="_step", columns="key", values="text").reset_index().rename_axis(columns=None)

    def _times(self):
        """W&B's ``_timestamp`` (seconds since the epoch of each step's last log call) and
        ``_runtime`` (seconds since the run started) of each step."""
        times = self._store.sql(
            "SELECT step AS _step, epoch_us(max(logged_at)) AS us FROM (SELECT step, logged_at FROM scalars WHERE project = ? "
            "AND run_id = ? UNION ALL SELECT step, logged_at FROM texts WHERE project = ? AND run_id = ?) GROUP BY step",
            [self.project, self.id, self.project, self.id],
        ).df()
        us = times.pop("us")
        times["_runtime"] = (us - self._started_us) / 1e6
        times["_timestamp"] = us / 1e6
        return times

    def __repr__(self) -> str:
        return f"<ms.Api Run {self.project}/{self.id} ({self.state})>"


def _run_rows(store, project: str, run_id: str | None = None) -> list[dict[str, Any]]:
    """The ``runs`` rows of a project, or of one of its runs (filtered by the view's query)."""
    if run_id is None:
        frame = store.runs(project)
    else:
        frame = store.sql("SELECT * FROM runs WHERE project = ? AND run_id = ?", [project, run_id]).df()
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")


def _records(frame) -> list[dict[str, Any]]:
    """A row per step as a dict: the keys the step logged (missing cells left out, as W&B's rows)."""
    columns = list(frame.columns)
    out = []
    for row in frame.itertuples(index=False, name=None):
        record = {"_step": int(row[0])}
        record.update((c, v if isinstance(v, str) else float(v)) for c, v in zip(columns[1:], row[1:]) if v is not None and v == v)
        out.append(record)
    return out


# -- filters and order ----------------------------------------------------------------------------
_MISSING = object()


def _lookup(fields: Mapping[str, Any], path: str) -> Any:
    """A filter field's value in a run, or _MISSING."""
    if path in _FIELDS:
        return fields[_FIELDS[path]]
    head, _, rest = path.partition(".")
    if head not in ("config", "summary_metrics", "summary") or not rest:
        raise InvalidArgumentError(
            f"Api.runs: filter field {path!r} is not one of {sorted(_FIELDS)} or config.<key>, summary_metrics.<key>"
        )
    value: Any = fields["config" if head == "config" else "summary"]
    names = rest.split(".")
    for i, name in enumerate(names):
        if isinstance(value, Mapping) and name in value:
            value = value[name]
        elif head == "config" and name == "value" and i == len(names) - 1:
            break  # W&B's config.<key>.value: the value itself here
        else:
            return _MISSING
    return value


def _compare(value: Any, op: str, operand: Any) -> bool:
    if op == "$exists":
        return (value is not _MISSING and value is not None) == bool(operand)
    if value is _MISSING:
        return op in ("$ne", "$nin")
    if isinstance(value, list) and op == "$eq" and value == operand:
        return True  # the whole list given
    if isinstance(value, list) and op not in ("$ne", "$nin"):
        return any(_compare(item, op, operand) for item in value)  # an array field: one item matches
    if op == "$eq":
        return value == operand
    if op == "$ne":
        return operand not in value if isinstance(value, list) else value != operand
    if op in ("$in", "$nin"):
        if not isinstance(operand, (list, tuple, set)):
            raise InvalidArgumentError(f"Api.runs: {op} takes a list, got {operand!r}")
        found = any(v in operand for v in value) if isinstance(value, list) else value in operand
        return found if op == "$in" else not found
    if op == "$regex":
        return isinstance(value, str) and re.search(str(operand), value) is not None
    try:
        return {"$gt": value > operand, "$gte": value >= operand, "$lt": value < operand, "$lte": value <= operand}[op]
    except TypeError:  # a str against a number: no match, as in W&B
        return False


def _matches(fields: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for key, condition in query.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(condition, list):
                raise InvalidArgumentError(f"Api.runs: {key} takes a list of filters, got {condition!r}")
            results = [_matches(fields, q) for q in condition]
            if not {"$and": all, "$or": any, "$nor": lambda r: not any(r)}[key](results):
                return False
            continue
        if key.startswith("$"):
            raise InvalidArgumentError(f"Api.runs: filter operator {key!r} at the top level; use $and, $or or $nor, or a field name")
        value = _lookup(fields, key)
        if isinstance(condition, Mapping) and condition and all(str(op).startswith("$") for op in condition):
            for op, operand in condition.items():
                if op not in _OPERATORS:
                    raise InvalidArgumentError(f"Api.runs: filter operator {op!r} on {key!r} is not one of {list(_OPERATORS)}")
                if not _compare(value, op, operand):
                    return False
        elif not _compare(value, "$eq", condition):
            return False
    return True


def _ordered(runs: list[Run], order: str) -> list[Run]:
    descending = order.startswith("-")
    field = order.lstrip("+-")
    if field in ("created_at", "createdAt"):
        key = lambda r: (r._started_us, r.id)  # noqa: E731
    elif field.startswith(("config.", "summary_metrics.")):
        def key(r):
            value = _lookup(r._fields, field)
            missing = value is _MISSING or not isinstance(value, (int, float, str)) or isinstance(value, bool)
            # runs without the value go last, either way
            return (missing != descending, "" if missing else value if isinstance(value, str) else float(value))
        try:
            return sorted(runs, key=key, reverse=descending)
        except TypeError:
            raise InvalidArgumentError(f"Api.runs: order={order!r} compares numbers with text; order by a key of one type") from None
    else:
        raise InvalidArgumentError(f"Api.runs: order={order!r}; use '+' or '-' then created_at, config.<key> or summary_metrics.<key>")
    return sorted(runs, key=key, reverse=descending)

