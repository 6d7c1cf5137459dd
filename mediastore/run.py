"""A run: W&B's step semantics over the writer, the run record, config and summary.

Step rules (W&B's, except one):

- ``run.log(d)``: the rows land at the current step, then the step advances by one.
- ``run.log(d, step=N)`` with N >= current: the current step becomes N; rows accumulate
  there until a later call commits (W&B's default ``commit=False`` when a step is given).
- ``run.log(d, commit=False)``: accumulate into the current step without advancing.
- **Unlike W&B**, ``step=N`` below the current step is not dropped: the rows are stored at N
  at once, and the current step does not move.

The module-level API (``ms.log``, ``ms.finish``, ``ms.define_metric``, ``ms.run``,
``ms.config``, ``ms.summary``) acts on the current run: the one the last ``ms.init`` made,
until it finishes.

Config changes reach the store while the run runs: a change rewrites the run's heartbeat
record (one fixed name per writer, so no new file) at most once per
`CONFIG_WRITE_SECONDS`, coalescing the changes of that interval.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import secrets
import string
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from ._lazy import np
from .errors import (
    InvalidArgumentError,
    InvalidLogError,
    InvalidLogValueError,
    ManyItemsWarning,
    NoRunError,
    RunExistsError,
    RunFinishedError,
    StoreUnavailableError,
)
from ._not_offered import not_offered, stub as _wandb_stub
from .run_config import Config, defaults_config, parse_config
from .media.base import Media
from .media.table import Table, is_dataframe
from .plot import CustomChart
from .media.image import Image, is_matplotlib
from .records import combined_record, newest_record_of, publish_records, read_run_records, write_run_record
from .settings import Settings
from .storage import DEFAULT_STORE, StoreLocation, validate_name

__all__ = ["Run", "init", "log", "finish", "define_metric", "current_run"]

#: Longest wait before a config change is in the stored run record. Changes within it share
#: one write: a training script sets many keys in a row, and each write is a PUT on S3.
CONFIG_WRITE_SECONDS = 1.0
_METRIC_SUMMARIES = frozenset({"min", "max", "mean", "best", "last", "first", "none", "copy"})
#: The aggregates define_metric(summary=...) puts in the summary, in W&B's order ("best" and
#: "copy", deprecated there, add none: the value stays the last one).
_AGGREGATES = ("last", "first", "max", "min", "mean")
_UNSET = object()

_ALPHABET = string.ascii_lowercase + string.digits
_SCALAR_TYPES = frozenset({float, int, bool})
_live_runs: "weakref.WeakSet[Run]" = weakref.WeakSet()
_uncaught = threading.Event()
_current: "Run | None" = None  # what ms.log, ms.config, ... act on


def _now_us() -> int:
    return time.time_ns() // 1000


def new_run_id() -> str:
    """8 random lowercase letters and digits: short, URL-safe, ~2.8e12 possibilities."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


def _jsonable(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return _jsonable(value.item(), where)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), where)
    if isinstance(value, Media):
        return value._summary()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise InvalidLogError(f"{where} is a {type(value).__name__}, which cannot be stored as JSON; pass numbers, str, lists or dicts")


class Summary(MutableMapping):
    """W&B's ``run.summary``: each key's last logged value (or what its ``define_metric`` summary
    asks for), under the values set here, which win. ``run.summary["best"] = 0.9`` sets one;
    ``del run.summary["loss"]`` leaves a key out until it is set again. Written with the run's
    records (at least every heartbeat, and at finish), read back in the ``runs`` view."""

    def __init__(self, run: "Run"):
        self._run = run
        self._set: dict[str, Any] = {}
        self._hidden: set[str] = set()

    def _combined(self) -> dict[str, Any]:
        combined = {**self._run._summarise(self._run._last_values()), **self._set}
        for key in list(self._hidden):  # one copy: the heartbeat thread reads while run.log goes on
            combined.pop(key, None)
        return combined

    def __getitem__(self, key: str) -> Any:
        if key in self._set:
            return self._set[key]
        if key in self._hidden:
            raise KeyError(key)
        return self._combined()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._set[key] = value
        self._hidden.discard(key)

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._set.pop(key, None)
        self._hidden.add(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._combined())

    def __len__(self) -> int:
        return len(self._combined())

    def __contains__(self, key: object) -> bool:
        return key in self._set or (key not in self._hidden and key in self._combined())

    def __repr__(self) -> str:
        return repr(self._combined())


class Run:
    """One training run; made by `ms.init`. Use as a context manager or call `finish`."""

    def __init__(
        self,
        location: StoreLocation,
        project: str,
        run_id: str,
        name: str | None,
        config: dict,
        resume: bool,
        settings: Settings,
        process: str | None = None,
        shared: bool = False,
        labels: Mapping[str, Any] | None = None,
        must_exist: bool = False,
        scratch: bool = False,
        defaults: Mapping[str, Any] | None = None,
    ):
        from .writer import RunWriter

        self.location = location
        self.project = project
        self.id = self.run_id = run_id
        self.settings = settings
        location.png_compress_level = settings.png_compress_level
        self.process = process
        self.shared = shared
        records = read_run_records(location, project, run_id)
        previous = combined_record(records) if records else None
        # Processes of a shared run join it whatever its state; steps are per process, so a
        # process continues after its own last step, from its own newest record.
        mine = newest_record_of(records, process) if shared else None
        if previous is None and must_exist:
            from .errors import RunNotFoundError

            raise RunNotFoundError(
                f"resume='must': there is no run {run_id!r} in project {project!r} to resume; check the run_id, or pass resume='allow'"
            )
        if previous is not None and not resume and not shared:
            raise RunExistsError(
                f"run {run_id!r} exists already in project {project!r} (state {previous['state']}); "
                "pass resume=True to continue it, or choose another run_id"
            )
        if previous is not None and previous["state"] == "running" and not shared:
            age = (_now_us() - previous["updated_at"]) / 1e6
            if age < 3 * (previous.get("heartbeat_seconds") or 30.0):
                raise RunExistsError(
                    f"run {run_id!r} in project {project!r} is running (its writer beat {age:.0f} s ago); two writers "
                    "must not write one run — wait until it finishes, or resume it once it has crashed"
                )
        self.writer = RunWriter(location, project, run_id, settings, heartbeat=self._beat, process=process)
        # A resumed run has published files; a shared run's processes each publish their own.
        self.writer.resumed = previous is not None or shared
        self._name = name
        self._scratch = scratch  # mode='disabled': the store is this run's own, dropped at finish
        self._watches: list[Any] = []  # ModelWatch hooks of run.watch, removed at finish
        labels = dict(labels or {})
        self._tags: tuple[str, ...] = labels.get("tags", ())
        self._notes: str | None = labels.get("notes")
        self._group: str | None = labels.get("group")
        self._job_type: str | None = labels.get("job_type")
        self._record_lock = threading.Lock()  # the heartbeat record is written by two threads
        self._config_timer: threading.Timer | None = None
        self._metrics: dict[str, dict[str, Any]] = {}
        self._summarised = False  # some define_metric has a summary: scalars are aggregated
        self._specs: dict[str, Any] = {}  # key -> (none, aggregates) of the definition that applies, or None
        self._aggregates: dict[str, list] = {}  # key -> [first, last, min, max, total, count]
        self.summary = Summary(self)
        self._last: dict[str, Any] = {}  # last value per key: the automatic part of the summary
        self._step = 0
        self._pending: dict[str, Any] = {}
        self._fast_keys: tuple = ()  # the last key tuple the fast path validated
        self._fast_last: tuple[tuple, tuple] | None = None  # (keys, values) of its last call, not yet in _last
        self._step_counts: dict[type, int] = {}  # media items per type at the current step
        self._started_at = _now_us()
        self._finished = False
        self._records: list[tuple[str, dict]] = []  # hidden run records this writer wrote
        self._beat_name: str | None = None
        self.state = "running"
        if previous is not None:
            self._name = name if name is not None else previous["name"]
            # W&B's labels: those given replace the run's, the others are kept.
            if "tags" not in labels and previous.get("tags"):
                self._tags = tuple(json.loads(previous["tags"]))
            for key in ("notes", "group", "job_type"):
                if key not in labels and previous.get(key) is not None:
                    setattr(self, f"_{key}", previous[key])
            if previous["config"]:
                config = {**json.loads(previous["config"]), **config}
            if previous.get("metrics"):
                self._metrics = json.loads(previous["metrics"])
                self._definitions_changed()
            if previous["summary"]:
                self._last = json.loads(previous["summary"])
            self._started_at = previous["started_at"]
            if shared:
                self._step = mine["last_step"] + 1 if mine is not None and mine["last_step"] is not None else 0
            else:
                last = max(x for x in (previous["last_step"], self.writer.steps_on_disk(), -1) if x is not None)
                self._step = last + 1
        if defaults:
            config = {**defaults, **config}  # config-defaults.yaml: under everything else
        self._resumed = previous is not None
        self._starting_step = self._step
        self.config = Config(config, on_change=self._config_changed)
        self._config_json = self._to_json(self.config, "config")
        self._write_record(finished_at=None)
        _live_runs.add(self)

    # -- logging ----------------------------------------------------------------------------
    @property
    def step(self) -> int:
        """The current step: where the next ``run.log`` without ``step`` lands."""
        return self._step

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
        """Log a dict of values at a step.

        Parameters
        ----------
        data : dict
            ``str`` keys; values are numbers or bools (``scalars``), str (``texts``), media
            objects or lists of them (one row per item, ``idx`` keeps the order), pandas
            DataFrames (logged as ``ms.Table``), or nested dicts (flattened to ``"outer.inner"`` keys).
        step : int, optional
            Where the rows land (>= 0). Default: the current step, which then advances.
        commit : bool, optional
            False accumulates into the current step. Default: True without ``step``, False with it.

        Raises
        ------
        InvalidLogError
            ``data`` is not a dict, a key is not a str, or a value cannot be logged.
            Nothing from the call is stored.
        RunFinishedError
            The run was finished.
        """
        # Fast path: a plain dict of plain numbers, committed at once; one tuple append. The
        # summary's part of the call is kept as one reference, merged when the keys change.
        if step is None and commit is None and type(data) is dict and not self._pending and not self._finished:
            values = tuple(data.values())
            for v in values:
                if type(v) is not float and type(v) not in _SCALAR_TYPES:
                    break
            else:
                keys = tuple(data)
                if keys == self._fast_keys:
                    keys = self._fast_keys  # one tuple for every call of a loop, shared by the batches
                elif keys and all(type(k) is str and k for k in keys):
                    self._settle_last()
                    self._fast_keys = keys
                else:
                    keys = None
                if keys is not None:
                    writer = self.writer
                    if writer._error is not None:
                        writer.raise_pending_error()
                    writer.add_values("scalars", self._step, time.time_ns() // 1000, keys, values, 16 * len(keys))
                    if self._summarised:
                        self._aggregate(keys, values)
                    self._fast_last = (keys, values)
                    self._step += 1
                    if self._step_counts:
                        self._step_counts = {}
                    return
        if self._finished:
            raise RunFinishedError(f"run {self.run_id!r} is finished; start a new one with ms.init() or resume it with resume=True")
        if type(data) is not dict and not isinstance(data, Mapping):
            raise InvalidLogError(f"run.log takes a dict of str keys to values, got {type(data).__name__}")
        self.writer.raise_pending_error()
        values = _classify(data)  # validates everything before anything is stored
        if step is not None:
            if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)):
                raise InvalidLogError(f"step must be an int >= 0, got {type(step).__name__} {step!r}")
            if step < 0:
                raise InvalidLogValueError(f"step must be an int >= 0, got {step!r}")
            step = int(step)
            if step < self._step:
                self._check_per_step(values, {})
                self._check_destinations(values, step)
                self._emit(step, values, _now_us())
                return
            self._check_destinations(values, step)
        else:
            self._check_destinations(values, self._step)
        if step is not None:
            if step > self._step:
                self._commit()
                self._step = step
                self._step_counts = {}
            do_commit = bool(commit)
        else:
            do_commit = commit is None or bool(commit)
        self._step_counts = self._check_per_step(values, self._step_counts)
        self._pending.update(values)
        if do_commit:
            self._commit()

    def _log_at(self, data: Mapping[str, Any], step: int, logged_at_us: int) -> None:
        """``log(data, step=step)`` stored at once with the source's own time (``logged_at``, in
        microseconds since the epoch): the importers keep when a W&B or TensorBoard value was
        logged, not when it was imported. Validated like ``log``: nothing of a bad call is stored."""
        if self._finished:
            raise RunFinishedError(f"run {self.run_id!r} is finished; it takes no more data")
        self.writer.raise_pending_error()
        values = _classify(data)
        self._check_per_step(values, {})
        self._check_destinations(values, step)
        self._commit()
        self._emit(step, values, logged_at_us)
        self._step = max(self._step, step + 1)

    def _commit(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, {}
            self._emit(self._step, pending, _now_us())
            self._step += 1
            self._step_counts = {}

    def _emit(self, step: int, values: dict[str, Any], logged_at: int) -> None:
        scalar_keys, scalar_values, text_keys, text_values = [], [], [], []
        media: list[tuple[str, int, Media]] = []
        for key, value in values.items():
            if isinstance(value, str):
                text_keys.append(key)
                text_values.append(value)
            elif isinstance(value, list):
                media.extend((key, i, item) for i, item in enumerate(value))
            elif isinstance(value, Media):
                media.append((key, 0, value))
            else:
                scalar_keys.append(key)
                scalar_values.append(value)
        if scalar_keys:
            self.writer.add_values("scalars", step, logged_at, tuple(scalar_keys), tuple(scalar_values), 16 * len(scalar_keys))
            if self._summarised:
                self._aggregate(scalar_keys, scalar_values)
        if text_keys:
            nbytes = sum(len(t) for t in text_values) + 16 * len(text_keys)
            self.writer.add_values("texts", step, logged_at, tuple(text_keys), tuple(text_values), nbytes)
        for key, idx, item in media:
            item._on_logged(self.project, self.run_id, key, step)
            self.writer.add_media(step, logged_at, key, idx, item)
        # Media are kept as objects; _jsonable calls _summary() only when a record is written.
        self._settle_last()
        self._last.update(values)

    # -- define_metric's summaries ------------------------------------------------------------
    def _definitions_changed(self) -> None:
        """The metric definitions changed: find again which apply to each key, and whether any
        asks for a summary (run.log folds values in only then)."""
        self._specs.clear()
        self._summarised = any("summary" in d for d in self._metrics.values())

    def _summary_spec(self, key: str) -> Any:
        """(none, aggregates) of the definition that applies to ``key``, or None: its own, else the
        first glob (``"val/*"``) it matches, as W&B picks them."""
        spec = self._specs.get(key, _UNSET)
        if spec is not _UNSET:
            return spec
        definition = self._metrics.get(key)
        if definition is None:
            definition = next((d for name, d in self._metrics.items() if name.endswith("*") and key.startswith(name[:-1])), None)
        spec = None
        if definition is not None and definition.get("summary"):
            parts = {p.strip() for p in definition["summary"].split(",")}
            aggregates = tuple(a for a in _AGGREGATES if a in parts)
            if "none" in parts or aggregates:
                spec = ("none" in parts, aggregates)
        self._specs[key] = spec
        return spec

    def _aggregate(self, keys: list[str], values: list[Any]) -> None:
        """Fold the scalars of a step into the aggregates of the keys with a summary definition."""
        for key, value in zip(keys, values):
            spec = self._summary_spec(key)
            if spec is None or spec[0]:
                continue
            state = self._aggregates.get(key)
            if state is None:
                state = self._aggregates[key] = [value, value, None, None, 0.0, 0]
            state[1] = value
            if type(value) is not bool:  # W&B: a bool is a value, not a number (last and first only)
                number = float(value)
                state[2] = number if state[5] == 0 or number < state[2] else state[2]
                state[3] = number if state[5] == 0 or number > state[3] else state[3]
                state[4] += number
                state[5] += 1

    def _summarise(self, last: dict[str, Any]) -> dict[str, Any]:
        """The automatic summary: each key's last value, or what its define_metric asks for."""
        if not self._summarised:
            return last
        for key in list(last):
            spec = self._summary_spec(key)
            if spec is None:
                continue
            if spec[0]:
                del last[key]  # summary="none": no summary of it
                continue
            state = self._aggregates.get(key)
            if state is None:  # logged only before the definition, or by an earlier process of the run
                continue
            first, latest, low, high, total, count = state
            picked = {"last": latest, "first": first, "max": high, "min": low, "mean": total / count if count else None}
            last[key] = {a: picked[a] for a in spec[1] if picked[a] is not None}
        return last

    def _settle_last(self) -> None:
        """Merge the fast path's last call into ``_last`` (the caller's thread only)."""
        if self._fast_last is not None:
            self._last.update(zip(*self._fast_last))
            self._fast_last = None

    def _last_values(self) -> dict[str, Any]:
        """The last value of each key, without changing ``_last``: the heartbeat calls this
        on the writer's timer thread while ``run.log`` goes on."""
        fast = self._fast_last  # one read: keys and values from the same call
        return {**self._last, **dict(zip(*fast))} if fast is not None else dict(self._last)

    def _check_per_step(self, values: dict[str, Any], counts: dict[type, int]) -> dict[type, int]:
        """Count media per type at the step (this call plus what the step holds already): raise
        past a type's MAX_PER_STEP before anything is stored, warn past its WARN_PER_STEP."""
        added: dict[type, int] = {}
        for value in values.values():
            if isinstance(value, Media):
                cls = type(value)
                added[cls] = added.get(cls, 0) + 1
            elif isinstance(value, list):
                for item in value:
                    cls = type(item)
                    added[cls] = added.get(cls, 0) + 1  # _classify let only media into lists
        if not added:
            return counts
        new = dict(counts)
        for cls, n in added.items():
            new[cls] = new.get(cls, 0) + n
            if cls.MAX_PER_STEP is not None and new[cls] > cls.MAX_PER_STEP:
                raise InvalidLogValueError(
                    f"{new[cls]} {cls.kind} items at one step of run {self.run_id!r}; the limit is "
                    f"ms.{cls.__name__}.MAX_PER_STEP = {cls.MAX_PER_STEP} ({cls.per_step_reason}) — log fewer per step, "
                    f"or raise it: ms.{cls.__name__}.MAX_PER_STEP = {new[cls]}. Nothing from this call was stored"
                )
        for cls, n in added.items():
            limit = cls.WARN_PER_STEP
            if limit is not None and new[cls] > limit >= new[cls] - n:
                warnings.warn(
                    f"more than {limit} {cls.kind} items at one step of run {self.run_id!r}: {cls.per_step_reason}. "
                    "They are all stored; log fewer per step, or spread them over steps",
                    ManyItemsWarning,
                    stacklevel=3,
                )
        return new

    def _check_destinations(self, values: dict[str, Any], step: int) -> None:
        """Let each media item refuse where it is about to land (before anything is stored)."""
        for key, value in values.items():
            if isinstance(value, list):
                for item in value:
                    item._check_destination(self.project, self.run_id, key, step, in_list=True)
            elif isinstance(value, Media):
                value._check_destination(self.project, self.run_id, key, step, in_list=False)

    # -- W&B's run labels -----------------------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The display name (W&B's ``run.name``); may be set while the run runs, and the ``runs``
        view shows it within `CONFIG_WRITE_SECONDS`."""
        return self._name

    @name.setter
    def name(self, value: str | None) -> None:
        self._set_text("name", value, InvalidLogError)

    def _set_text(self, field: str, value: str | None, error: type[Exception]) -> None:
        """Set a text field of the run record (name, notes) while the run runs."""
        self._check_open(f"run.{field}")
        if value is not None and not isinstance(value, str):
            raise error(f"{field} must be a str, got {type(value).__name__} {value!r}")
        setattr(self, f"_{field}", value)
        self._record_changed()

    @property
    def url(self) -> None:
        """None: a run has no hosted page (W&B's offline runs have none either); ``mediastore ui``
        shows it."""
        return None

    @property
    def entity(self) -> None:
        """None: a store has no W&B entity (user or team)."""
        return None

    @property
    def dir(self) -> str:
        """W&B's ``run.dir``, a folder whose files W&B uploads with the run: not offered (files are
        not uploaded; ``NotImplementedError`` names the nearest way)."""
        not_offered("run.dir", "save", attribute=True)

    @property
    def path(self) -> str:
        """``"<project>/<run_id>"`` (W&B's is ``"<entity>/<project>/<run_id>"``)."""
        return f"{self.project}/{self.run_id}"

    @property
    def tags(self) -> tuple[str, ...]:
        """The run's tags (W&B's ``run.tags``). Set a new list or tuple to change them; the
        ``runs`` view shows it within `CONFIG_WRITE_SECONDS`."""
        return self._tags

    @tags.setter
    def tags(self, value: Sequence[str]) -> None:
        self._check_open("run.tags")
        self._tags = _check_tags(value)
        self._record_changed()

    @property
    def notes(self) -> str | None:
        """Free text about the run (W&B's ``run.notes``); may be set while the run runs."""
        return self._notes

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._set_text("notes", value, InvalidArgumentError)

    @property
    def group(self) -> str | None:
        """The group given to ``ms.init`` (W&B's ``run.group``), or None."""
        return self._group

    @property
    def job_type(self) -> str | None:
        """The job type given to ``ms.init`` (W&B's ``run.job_type``), or None."""
        return self._job_type

    def _check_open(self, what: str) -> None:
        if self._finished:
            raise RunFinishedError(f"{what} needs a running run: run {self.run_id!r} is finished (ms.init(run_id=..., resume=True) continues it)")

    # -- config and metrics -----------------------------------------------------------------
    def _config_changed(self) -> None:
        """Config changed: validated already; the record follows within CONFIG_WRITE_SECONDS."""
        self._config_json = self._to_json(self.config, "config")
        self._record_changed()

    def _record_changed(self) -> None:
        """What the run record holds changed: it is written again within CONFIG_WRITE_SECONDS."""
        with self._record_lock:
            if self._config_timer is not None or self._finished:
                return
            delay = min(CONFIG_WRITE_SECONDS, self.settings.heartbeat_seconds)
            self._config_timer = threading.Timer(delay, self._write_changed_record)
            self._config_timer.daemon = True
            self._config_timer.start()

    def _write_changed_record(self) -> None:
        with self._record_lock:
            self._config_timer = None
        try:
            self._beat()
        except Exception as exc:
            from .packer import is_transient

            if not is_transient(exc):  # a bug: surfaced at the next log or at finish, like a writer error
                self.writer._error = self.writer._error or exc
            # The store is down: the next heartbeat carries the config (every record holds it).

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """The `define_metric` definitions, by metric name or glob (a copy)."""
        return {name: dict(d) for name, d in self._metrics.items()}

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> dict[str, Any]:
        """Declare how a metric is plotted and summarised (W&B's ``define_metric``).

        The definition is stored in the run record, queryable as
        ``json_extract(metrics, '$."train/*".step_metric')`` in the ``runs`` view, and kept in
        ``run.metrics``. ``summary`` acts as in W&B: the run's summary holds, instead of the last
        value of the metric, a dict of the aggregates asked for (``{"min": 0.12}`` for
        ``summary="min"``; ``"none"`` leaves the metric out), over the values logged from this call
        on. Every step is stored anyway; the other options are stored and not acted on.

        Parameters
        ----------
        name : str
            A metric name, or a glob ending in ``*`` (``"train/*"``).
        step_metric : str, optional
            The metric to use as x axis (Transformers' callback uses ``"train/global_step"``).
        step_sync : bool, optional
            Carry the step metric's last value into rows that lack it (W&B's option, stored).
        hidden : bool, optional
            Hide the metric from charts (stored).
        summary : str, optional
            Comma-separated aggregates: min, max, mean, last, first, none; best and copy (deprecated
            in W&B) add nothing.
        goal : str, optional
            ``"minimize"`` or ``"maximize"`` (stored).
        overwrite : bool, optional
            False merges with an earlier definition of ``name``; default replaces it.

        Returns
        -------
        dict
            The stored definition.

        Raises
        ------
        InvalidLogError
            ``name``, ``step_metric``, ``summary`` or ``goal`` of the wrong type.
        InvalidLogValueError
            An empty ``name`` or ``step_metric``, an unknown summary or goal.
        """
        # A wrong type is an InvalidLogError (TypeError), a str that is not allowed an
        # InvalidLogValueError (ValueError), as everywhere in run.log.
        if not isinstance(name, str) or not name:
            error = InvalidLogError if not isinstance(name, str) else InvalidLogValueError
            raise error(f"define_metric name must be a non-empty str, got {name!r}")
        if step_metric is not None and (not isinstance(step_metric, str) or not step_metric):
            error = InvalidLogError if not isinstance(step_metric, str) else InvalidLogValueError
            raise error(f"define_metric step_metric must be a metric name (str), got {step_metric!r}")
        if summary is not None:
            parts = [p.strip() for p in str(summary).split(",")]
            unknown = [p for p in parts if p not in _METRIC_SUMMARIES]
            if not isinstance(summary, str) or unknown:
                error = InvalidLogError if not isinstance(summary, str) else InvalidLogValueError
                raise error(
                    f"define_metric summary {summary!r} has {unknown or summary!r}; use comma-separated {sorted(_METRIC_SUMMARIES)}"
                )
        if goal is not None and goal not in ("minimize", "maximize"):
            error = InvalidLogError if not isinstance(goal, str) else InvalidLogValueError
            raise error(f"define_metric goal must be 'minimize' or 'maximize', got {goal!r}")
        given = {"step_metric": step_metric, "step_sync": step_sync, "hidden": hidden, "summary": summary, "goal": goal}
        definition = {k: v for k, v in given.items() if v is not None}
        if overwrite is False and name in self._metrics:
            definition = {**self._metrics[name], **definition}
        self._metrics[name] = definition
        self._definitions_changed()
        self._config_changed()
        return dict(definition)

    # -- the run record ---------------------------------------------------------------------
    def _to_json(self, value: Any, where: str) -> str:
        return json.dumps(_jsonable(value, where), separators=(",", ":"))

    def _record(self, finished_at: int | None) -> dict:
        return {
            "name": self._name,
            "config": self._config_json,
            "summary": self._to_json(self.summary._combined(), "summary"),
            "state": self.state,
            "started_at": self._started_at,
            "finished_at": finished_at,
            "updated_at": _now_us(),
            "last_step": self._step - 1 if self._step > 0 else None,
            "heartbeat_seconds": self.settings.heartbeat_seconds,
            "metrics": self._to_json(self._metrics, "metrics") if self._metrics else None,
            "process": self.process,
            "tags": json.dumps(list(self._tags), ensure_ascii=False) if self._tags else None,
            "notes": self._notes,
            "group": self._group,
            "job_type": self._job_type,
        }

    def _write_record(self, finished_at: int | None) -> None:
        record = self._record(finished_at)
        name = write_run_record(self.location, self.project, self.run_id, self.writer.token, record)
        self._records.append((name, record))

    def _beat(self) -> None:
        """Called by the writer's timer thread: a fresh record under one fixed name per writer."""
        with self._record_lock:
            if not self._finished:
                self._beat_name = write_run_record(
                    self.location, self.project, self.run_id, self.writer.token, self._record(None), heartbeat=True
                )

    def _publish_records(self, final: dict) -> None:
        """The run's records, with the final one, as one published file replacing the hidden ones
        this writer wrote (compaction of the runs table without reading them back)."""
        replaces = [name for name, _ in self._records] + ([self._beat_name] if self._beat_name else [])
        rows = [record for _, record in self._records] + [final]
        publish_records(self.location, self.project, self.run_id, self.writer.token, rows, replaces)

    def finish(self, exit_code: int | None = None, quiet: bool | None = None, *, crashed: bool = False) -> None:
        """Write everything, then mark the run finished (or crashed). A second call does nothing.

        ``exit_code`` (W&B's): a non-zero one marks the run crashed, as ``crashed=True``.
        ``quiet`` is taken for W&B code and unused (finish prints nothing)."""
        global _current
        if self._finished:
            return
        if exit_code:
            crashed = True
        with self._record_lock:  # no config write may start after this
            self._finished = True
            if self._config_timer is not None:
                self._config_timer.cancel()
                self._config_timer = None
        _live_runs.discard(self)
        if _current is self:
            _current = None
        self.unwatch()  # a hook must not log into a finished run
        try:
            self._commit()
            complete = self.writer.close(publish=self.settings.compact_on_finish)
        except BaseException as exc:
            self.state = "crashed"
            if not isinstance(exc, StoreUnavailableError):  # a store that is down takes no record either
                self._write_record(finished_at=_now_us())
            raise
        self.state = "crashed" if crashed else "finished"
        self._config_json = self._to_json(self.config, "config")
        if complete:
            try:
                if self.settings.compact_on_finish:
                    from .compact import compact_run

                    tables = sorted(self.writer.tables_written)
                    if self.shared:
                        # This process's records and rows into files of its own: other processes
                        # of the run may be writing and finishing at the same moment.
                        self._publish_records(self._record(finished_at=_now_us()))
                        compact_run(self.location, self.project, self.run_id, tables=tables, writer=self.writer.token)
                        tables = []
                    elif self.writer.resumed:
                        # The run has a published records file: compaction adds these records to it.
                        self._write_record(finished_at=_now_us())
                        tables.append("runs")
                    else:
                        self._publish_records(self._record(finished_at=_now_us()))
                    if tables:
                        compact_run(self.location, self.project, self.run_id, tables=tables)
                else:
                    self._write_record(finished_at=_now_us())
            except Exception as exc:
                from .packer import is_transient

                if not is_transient(exc):
                    raise
                complete = False
        if not complete:
            # The store is unreachable: everything is in the local spool; recovery uploads it
            # and writes this record, so the run shows finished only once every row is in.
            from .errors import StorageUnavailableWarning

            self.writer.abandon(self._record(finished_at=_now_us()))
            warnings.warn(
                f"run {self.run_id!r} finished, but the store at {self.location.uri} did not take everything within "
                f"Settings.finish_timeout = {self.settings.finish_timeout} s; the rest waits in the local spool. "
                "`mediastore recover` (or the next ms.init on this machine) uploads it and marks the run "
                f"{self.state}; until then it shows as running, then crashed",
                StorageUnavailableWarning,
                stacklevel=2,
            )
            return
        self.writer.discard_spool()
        if self._scratch:  # mode='disabled': nothing logged is kept
            try:
                self.location.fs.rm(self.location.root, recursive=True)
            except FileNotFoundError:
                pass

    # -- W&B's watch, and what is not offered ------------------------------------------------
    def watch(self, models: Any, criterion: Any = None, log: str | None = "gradients", log_freq: int = 1000,
              idx: int | None = None, log_graph: bool = False) -> None:
        """Log histograms of a torch model's gradients (``log="gradients"``), parameters
        (``"parameters"``) or both (``"all"``), as ``wandb.watch``: ``gradients/<parameter>`` every
        ``log_freq``-th gradient of each parameter, ``parameters/<parameter>`` every ``log_freq``-th
        forward call of the module holding it, at the run's current step (the rows join the next
        ``run.log``). ``models`` may be a list: the second and later get ``graph_<i>.`` before
        their names (``idx`` numbers the first). ``log=None`` only removes the models' hooks;
        ``criterion`` is taken and unused, as in W&B; ``log_graph=True`` warns (no model graphs are
        stored). ``finish`` removes the hooks."""
        from .integrations._common import ModelWatch, warn_ignored

        self._check_open("run.watch")
        if log_graph:
            warn_ignored("run.watch", {"log_graph": log_graph}, "mediastore stores no model graphs")
        first = idx or 0
        for i, model in enumerate(_models(models)):
            self.unwatch(model)
            if log is not None:
                prefix = f"graph_{first + i}." if first + i > 0 else ""
                self._watches.append(ModelWatch(model, log, log_freq, self._emit_watched, lambda: None, prefix=prefix))

    def unwatch(self, models: Any = None) -> None:
        """Remove the hooks `watch` put on ``models`` (a model or a list; every model's when None)."""
        wanted = None if models is None else _models(models)
        for watch in [w for w in self._watches if wanted is None or any(w.model is m for m in wanted)]:
            watch.remove()
            self._watches.remove(watch)

    def _emit_watched(self, values: dict[str, Any], step: int | None) -> None:
        if not self._finished:
            self.log(values, commit=False)  # joins the current step, as wandb.watch's rows

    def save(self, glob_str: Any = None, *args: Any, **kwargs: Any) -> bool:
        """W&B's ``run.save``. Without a file (``run.save()``, which older W&B code calls after
        setting ``run.name``): True, as W&B; the record carries every change already. With one:
        not offered (``NotImplementedError`` names the nearest way)."""
        if glob_str is None and not args:
            return True
        not_offered("run.save", "save")

    log_code = _wandb_stub("run.log_code", "save")
    restore = _wandb_stub("run.restore", "save")
    log_artifact = _wandb_stub("run.log_artifact", "artifacts")
    use_artifact = _wandb_stub("run.use_artifact", "artifacts")
    link_artifact = _wandb_stub("run.link_artifact", "artifacts")
    log_model = _wandb_stub("run.log_model", "model")
    use_model = _wandb_stub("run.use_model", "model")
    link_model = _wandb_stub("run.link_model", "model")
    alert = _wandb_stub("run.alert", "alert")

    # -- W&B's run attributes about its server, as they read in an offline W&B run -------------
    @property
    def start_time(self) -> float:
        """When the run started (its first process, for a resumed run), in seconds since the epoch."""
        return self._started_at / 1e6

    @property
    def starting_step(self) -> int:
        """The first step this process logs to: 0, or where a resumed run went on."""
        return self._starting_step

    @property
    def resumed(self) -> bool:
        """Whether this ``ms.init`` continued a run that existed (``resume=True``)."""
        return self._resumed

    @property
    def offline(self) -> bool:
        """True: there is no server; the rows go to the store as they are logged."""
        return True

    @property
    def disabled(self) -> bool:
        """Whether the run stores nothing (``mode="disabled"``)."""
        return self._scratch

    sweep_id = None  # W&B's hosted sweeps are not run
    sweep_url = project_url = None  # no hosted pages; ``mediastore ui`` shows the store

    def project_name(self) -> str:
        """W&B's: the run's project."""
        return self.project

    def get_url(self) -> None:
        """W&B's: None, as ``url``."""
        return None

    get_project_url = get_sweep_url = get_url

    def mark_preempting(self) -> None:
        """W&B's: tells its server the job is about to be preempted. There is no server; a killed
        run shows as crashed, and ``resume=True`` continues it."""

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.finish(crashed=exc_type is not None)

    def __repr__(self) -> str:
        return f"<ms.Run {self.project}/{self.run_id} step={self._step} {self.state}>"


def _models(models: Any) -> list[Any]:
    """``watch``'s models: a list or tuple of them, or one."""
    return list(models) if isinstance(models, (list, tuple)) else [models]


def _classify(data: Mapping[str, Any], prefix: str = "", out: dict[str, Any] | None = None) -> dict[str, Any]:
    """Check every value of a log call; returns ``{key: value}`` with scalars as float/int/bool,
    strings, media objects and lists of media. Raises before anything is stored."""
    out = {} if out is None else out
    for key, value in data.items():
        if type(key) is not str:
            raise InvalidLogError(f"run.log keys must be str, got {type(key).__name__} {key!r}; use str(key)")
        if not key:
            raise InvalidLogValueError("run.log got an empty key; name every value")
        full = prefix + key
        if isinstance(value, (bool, int, float, str)):
            out[full] = value
        elif isinstance(value, Media):
            out[full] = value._prepare()
        elif isinstance(value, CustomChart):  # W&B's place for a chart's data: "<key>_table"
            table_key = value.table_key(full)
            if table_key in out or value.table_key(key) in data:
                raise InvalidLogError(f"run.log: the chart {full!r} stores its table under {table_key!r}, which is logged too; rename one")
            out[table_key] = value._prepare()
        elif isinstance(value, (np.bool_, np.integer, np.floating)):
            out[full] = value.item()
        elif isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "biuf":
            out[full] = value.item()
        elif type(value).__name__ == "Tensor" and getattr(value, "ndim", None) == 0:
            out[full] = value.item()
        elif is_dataframe(value):  # W&B logs a DataFrame as a table
            out[full] = Table(dataframe=value)._prepare()
        elif is_matplotlib(value):  # a figure, or pyplot itself, as W&B logs them: a picture
            out[full] = Image(value)._prepare()
        elif (type(value).__module__ or "").startswith(("plotly.", "bokeh.")):  # W&B stores them as its own charts
            library = type(value).__module__.split(".", 1)[0].capitalize()
            not_offered(f"run.log of a {library} {type(value).__name__} under {full!r}", "figure")
        elif isinstance(value, Mapping):
            _classify(value, full + ".", out)
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, Media) for v in value):
            out[full] = [v._prepare() for v in value]
        else:
            what = f"{type(value).__name__} {value!r}"[:120]
            raise InvalidLogError(
                f"run.log value for {full!r} is a {what}; log a number, bool, str, a media object "
                "(ms.Image, ...) or a non-empty list of media objects — for many numbers use ms.Histogram"
            )
    return out


def init(
    project: str | None = None,
    store: str | os.PathLike | None = None,
    name: str | None = None,
    run_id: str | None = None,
    config: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    *,
    resume: bool = False,
    mode: str | None = None,
    label: str | None = None,
    settings: Settings | None = None,
    tags: "Sequence[str] | None" = None,
    notes: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    id: str | None = None,
    config_exclude_keys: "Sequence[str] | None" = None,
    config_include_keys: "Sequence[str] | None" = None,
    allow_val_change: bool | None = None,
    **wandb_only: Any,
) -> Run:
    """Start (or with ``resume=True`` continue) a run.

    Parameters
    ----------
    project : str, optional
        Project name; becomes the ``project=<p>`` directory. Default ``$MEDIASTORE_PROJECT`` (as
        W&B's ``$WANDB_PROJECT``), else ``"uncategorized"`` (W&B's).
    store : str or os.PathLike, optional
        Local folder or fsspec URI (``memory://``, ``s3://``). Default: ``$MEDIASTORE_STORE``,
        else ``./mediastore-data``.
    name : str, optional
        Display name (free text).
    run_id : str, optional
        Unique id in the project; a path component. Default: 8 random lowercase letters/digits.
    config : dict, optional
        Hyperparameters, stored as JSON.
    storage_options : dict, optional
        Passed to fsspec (credentials, ``endpoint_url``, ...).
    resume : bool
        Continue the run ``run_id`` (steps continue after the last stored one). Without it an
        existing ``run_id`` is refused. A missing run is started.
    mode : {None, "shared"}
        ``"shared"``: join the run ``run_id`` (made if missing) together with other processes
        (DDP ranks, data-loader workers, an evaluation job elsewhere), each logging its own rows
        and steps; every row records its process's ``label``. The run is running while any
        process is, finished when all are, crashed if one crashed and none runs.
    label : str, optional
        The process's label in a shared run (the ``process`` column of every view). Default:
        ``$RANK``, else ``$LOCAL_RANK``, else ``<host>-<pid>``.
    settings : ms.Settings, optional
        Batching and encoding knobs.
    tags : list of str, optional
        Labels of the run (W&B's), each 1 to 64 characters; duplicates are dropped. Stored in the
        ``runs`` view's ``tags`` column (JSON text); ``run.tags`` may be set while the run runs.
    notes : str, optional
        Free text about the run (``notes`` column; ``run.notes`` may be set while it runs).
    group, job_type : str, optional
        The group of runs this one belongs to, and its kind of job (``"train"``, ``"eval"``):
        the ``group`` and ``job_type`` columns.
    id : str, optional
        W&B's name for ``run_id``.
    config_exclude_keys, config_include_keys : list of str, optional
        Keys of ``config`` left out, or the only ones kept (one of the two).
    allow_val_change : bool, optional
        Accepted for W&B code; config values may always change here.
    **wandb_only
        W&B arguments with no meaning for a store (``entity``, ``dir``, ``reinit``,
        ``save_code``, ``sync_tensorboard``, ``monitor_gym``, ``anonymous``, ``force``,
        ``tensorboard``, ``magic``): ignored with an ``ms.IgnoredArgumentWarning``.
        ``resume_from`` and ``fork_from`` raise ``NotImplementedError``; any other keyword is an
        ``ms.UnknownArgumentError`` (a ``TypeError``).

    ``mode`` also takes W&B's ``"online"`` and ``"offline"`` (the rows go to ``store`` either
    way) and ``"disabled"``: a run that takes every call and stores nothing anywhere (it
    lives in a private in-memory store, dropped at ``finish``). Without ``mode``,
    ``$MEDIASTORE_MODE`` gives it (as ``$WANDB_MODE`` for W&B): ``MEDIASTORE_MODE=disabled``
    turns the logging of a test suite off. ``resume`` also takes W&B's
    ``"allow"`` and ``"auto"`` (as True), ``"never"`` (as False) and ``"must"`` (as True, and
    ``ms.RunNotFoundError`` when there is no such run).

    Returns
    -------
    Run
    """
    project = default_project(project, "uncategorized")
    validate_name(project, "project")
    _wandb_only(wandb_only)
    if id is not None:
        if run_id is not None and run_id != id:
            raise InvalidArgumentError(f"run_id={run_id!r} and id={id!r} name two runs; id is W&B's name for run_id: pass one of them")
        run_id = id
    resume, must_exist = _resume_mode(resume)
    if mode is None and os.environ.get(MODE_ENV):
        mode = os.environ[MODE_ENV]  # W&B's WANDB_MODE: "disabled" turns a test suite's logging off
    if mode in ("online", "offline"):
        mode = None  # W&B's: where its rows go; here they go to `store` either way
    disabled = mode == "disabled"
    if disabled:
        import dataclasses
        import uuid

        mode, store, storage_options = None, f"memory://mediastore-disabled/{uuid.uuid4().hex}", None
        settings = dataclasses.replace(settings or Settings(), spool_seconds=0.0)  # no spool on disk either
    if mode not in (None, "shared"):
        raise InvalidArgumentError(
            f"mode={mode!r} is not a mode of ms.init; pass mode='shared' to join a run with other processes, "
            "'disabled' for a run that stores nothing, or leave it out"
        )
    if mode == "shared":
        if run_id is None:
            raise InvalidArgumentError("mode='shared' needs the run_id every process joins: ms.init(run_id='...', mode='shared')")
        label = _process_label(label)
    elif label is not None:
        raise InvalidArgumentError(f"label={label!r} labels a process of a shared run: pass mode='shared' too")
    if run_id is None:
        run_id = new_run_id()
    validate_name(run_id, "run_id")
    if name is not None and not isinstance(name, str):
        raise InvalidLogError(f"name must be a str, got {type(name).__name__} {name!r}")
    config = _filter_config(parse_config(config), config_exclude_keys, config_include_keys)  # a dict, or an argparse.Namespace like W&B
    labels = _run_labels(tags=tags, notes=notes, group=group, job_type=job_type)
    location = StoreLocation(store if store is not None else os.environ.get("MEDIASTORE_STORE", DEFAULT_STORE), storage_options)
    location.ensure_initialized()
    from .recover import recover

    recover(location)  # what killed writers of this store on this machine left in the spool
    global _current
    run = Run(location, project, run_id, name, config, resume, settings or Settings(), process=label, shared=mode == "shared",
              labels=labels, must_exist=must_exist, scratch=disabled, defaults=_filter_config(defaults_config(), config_exclude_keys,
                                                                                              config_include_keys))
    _current = run
    return run


#: The environment variable giving ``ms.init``'s ``mode`` when the code does not (W&B's ``WANDB_MODE``).
MODE_ENV = "MEDIASTORE_MODE"
#: Environment variable naming the project when the code does not (W&B's ``WANDB_PROJECT``).
PROJECT_ENV = "MEDIASTORE_PROJECT"


def default_project(given: str | None, fallback: str) -> str:
    """The project: the argument, else ``$MEDIASTORE_PROJECT``, else the caller's default."""
    return given if given is not None else os.environ.get(PROJECT_ENV) or fallback


#: W&B's init arguments that mean nothing for a store: taken, with a warning.
_WANDB_IGNORED = ("entity", "dir", "reinit", "save_code", "sync_tensorboard", "monitor_gym", "anonymous", "force",
                  "tensorboard", "magic")
#: W&B's init arguments for what mediastore does not do.
_WANDB_UNSUPPORTED = {
    "resume_from": "rewinding a run to a step (W&B's resume_from) is not implemented; resume it with resume=True, or start a new run",
    "fork_from": "forking a run at a step (W&B's fork_from) is not implemented; start a new run and copy what it needs from store.history",
}


def _wandb_only(arguments: dict[str, Any]) -> None:
    for key in arguments:
        if key in _WANDB_UNSUPPORTED:
            raise NotImplementedError(f"ms.init({key}=...): {_WANDB_UNSUPPORTED[key]}")
        if key not in _WANDB_IGNORED:
            from .errors import UnknownArgumentError

            raise UnknownArgumentError(
                f"init() got an unexpected keyword argument {key!r}; ms.init takes mediastore's arguments and W&B's "
                "(help(ms.init) lists them)"
            )
    ignored = [key for key in arguments if arguments[key] is not None]
    if ignored:
        from .errors import IgnoredArgumentWarning

        warnings.warn(
            f"ms.init ignores W&B's {', '.join(f'{k}=' for k in ignored)}: they have no meaning for a store "
            "(the rows go to store=, the process's files stay where they are)",
            IgnoredArgumentWarning,
            stacklevel=3,
        )


def _resume_mode(resume: Any) -> tuple[bool, bool]:
    """``resume`` as (resume, the run must exist): a bool, None, or W&B's strings."""
    if resume is None or resume is False:
        return False, False
    if resume is True or resume in ("allow", "auto"):
        return True, False
    if resume == "must":
        return True, True
    if resume == "never":
        return False, False
    raise InvalidArgumentError(f"resume={resume!r} is not a resume mode; pass True or False, or W&B's 'allow', 'must', 'never' or 'auto'")


def _filter_config(config: dict, exclude: Any, include: Any) -> dict:
    """W&B's config_exclude_keys / config_include_keys, applied to the config given to init."""
    if exclude is not None and include is not None:
        raise InvalidArgumentError("config_exclude_keys and config_include_keys were both given; pass one of them")
    for what, keys in (("config_exclude_keys", exclude), ("config_include_keys", include)):
        if keys is not None and (isinstance(keys, (str, bytes)) or not all(isinstance(k, str) for k in keys)):
            raise InvalidArgumentError(f"{what}={keys!r} must be a list of str keys of config")
    if exclude is not None:
        left_out = set(exclude)
        return {k: v for k, v in config.items() if k not in left_out}
    if include is not None:
        kept = set(include)
        return {k: v for k, v in config.items() if k in kept}
    return config


#: The longest tag W&B takes.
MAX_TAG_LENGTH = 64


def _check_tags(tags: Any) -> tuple[str, ...]:
    """Tags as a tuple of distinct str in the order given, or a typed error naming the bad one."""
    if tags is None:
        return ()
    if isinstance(tags, (str, bytes)) or not hasattr(tags, "__iter__"):
        raise InvalidArgumentError(f"tags={tags!r} must be a list of str, e.g. tags=[{tags!r}]" if isinstance(tags, str)
                                   else f"tags must be a list of str, got {type(tags).__name__}")
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise InvalidArgumentError(f"tag {tag!r} is a {type(tag).__name__}; tags must be str")
        if not 1 <= len(tag) <= MAX_TAG_LENGTH:
            raise InvalidArgumentError(
                f"tag {tag[:80]!r} has {len(tag)} characters; a tag has 1 to {MAX_TAG_LENGTH} (W&B's limit) — shorten it"
            )
        if tag not in out:
            out.append(tag)
    return tuple(out)


def _run_labels(**labels: Any) -> dict[str, Any]:
    """The W&B run labels given to init (tags checked), without those not given."""
    out: dict[str, Any] = {}
    for key, value in labels.items():
        if value is None:
            continue
        if key == "tags":
            out[key] = _check_tags(value)
        elif not isinstance(value, str):
            raise InvalidArgumentError(f"{key}={value!r} must be a str")
        else:
            out[key] = value
    return out


def _process_label(label: str | None) -> str:
    """A shared run's process label: ``label``, else ``$RANK``, ``$LOCAL_RANK``, ``<host>-<pid>``."""
    if label is None:
        import socket

        label = os.environ.get("RANK") or os.environ.get("LOCAL_RANK") or f"{socket.gethostname()}-{os.getpid()}"
    if not isinstance(label, str) or not label or len(label) > 128 or not label.isprintable():
        raise InvalidArgumentError(f"label={label!r} is not a process label: give a printable str of 1 to 128 characters, e.g. 'rank0'")
    return label


def current_run() -> Run | None:
    """The run ``ms.log`` and the other module-level calls act on: the last ``ms.init``'s, until it finishes."""
    return _current


def _require_run(call: str) -> Run:
    run = _current
    if run is None:
        raise NoRunError(f"{call} was called with no current run; call ms.init(...) first (or use the run it returns)")
    return run


def log(data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """``run.log`` of the current run (W&B's ``wandb.log``).

    Raises
    ------
    NoRunError
        No run is current: call ``ms.init(...)`` first.
    """
    _require_run("ms.log").log(data, step=step, commit=commit)


def define_metric(name: str, step_metric: str | None = None, **options: Any) -> dict[str, Any]:
    """``run.define_metric`` of the current run (W&B's ``wandb.define_metric``).

    Raises
    ------
    NoRunError
        No run is current: call ``ms.init(...)`` first.
    """
    return _require_run("ms.define_metric").define_metric(name, step_metric=step_metric, **options)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the current run; does nothing when there is none (as W&B's ``wandb.finish``). A
    non-zero ``exit_code`` marks it crashed."""
    run = _current
    if run is not None:
        run.finish(exit_code, quiet)


def watch(models: Any, criterion: Any = None, log: str | None = "gradients", log_freq: int = 1000,
          idx: int | None = None, log_graph: bool = False) -> None:
    """``run.watch`` of the current run (W&B's ``wandb.watch``).

    Raises
    ------
    NoRunError
        No run is current: call ``ms.init(...)`` first.
    """
    _require_run("ms.watch").watch(models, criterion, log=log, log_freq=log_freq, idx=idx, log_graph=log_graph)


def unwatch(models: Any = None) -> None:
    """``run.unwatch`` of the current run; does nothing when there is none."""
    run = _current
    if run is not None:
        run.unwatch(models)


def login(*args: Any, **kwargs: Any) -> bool:
    """W&B's ``wandb.login``: there is no account to log in to (a store is a folder or a
    bucket, with its own credentials), so this returns True and does nothing."""
    return True


def _finish_live_runs() -> None:
    for run in list(_live_runs):
        try:
            run.finish(crashed=_uncaught.is_set())
        except Exception:  # at exit there is no one left to tell
            pass


_previous_hook = sys.excepthook


def _excepthook(exc_type, exc, tb):
    _uncaught.set()
    _previous_hook(exc_type, exc, tb)


sys.excepthook = _excepthook
atexit.register(_finish_live_runs)
