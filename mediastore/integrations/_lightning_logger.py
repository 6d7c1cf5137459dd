"""``MediaStoreLogger``'s behaviour, shared by the ``lightning`` and ``pytorch_lightning`` classes.

Rules (documented in the README):

- **Only global rank 0 makes a run and logs**, as Lightning expects of a logger: every logging
  method runs through the framework's own ``rank_zero_only`` and ``experiment`` through its
  ``rank_zero_experiment`` (other ranks get Lightning's dummy experiment, which does nothing).
- **The run is made lazily**, at the first use of ``experiment`` or the first logging call. Its
  id is chosen when the logger is made (``version`` is known before training starts, and a copy
  of the logger sent to a spawned process logs into the same run).
- **Steps:** ``log_metrics(metrics, step)`` stores the rows at ``step``, Lightning's global step
  (W&B's ``trainer/global_step``), so ``WHERE step > 1000`` selects by training step. Validation
  metrics logged at the same step land beside the training ones. Media logged without ``step=``
  land at the run's current step: the last step Lightning logged.
- **Finishing:** ``finalize("success")`` (the end of ``fit``/``test``) finishes the run;
  ``finalize("failed")`` (an exception in the loop) finishes it as ``crashed``. A later
  ``trainer.test(...)`` with the same logger resumes the same run (``ms.init(..., resume=True)``)
  and finishes it again at its end. A run the logger did not make (``experiment=run``, or the
  current ``ms.run`` it found) is left for its owner to finish.
- **One writer per run:** when the logger is pickled (``strategy="ddp_spawn"``) while its run
  is open in this process, that run is finished here so the spawned rank 0 can resume it.
"""

from __future__ import annotations

import functools
import threading
import warnings
from argparse import Namespace
from collections.abc import Mapping
from typing import Any

from ..errors import InvalidArgumentError, InvalidLogError, InvalidLogValueError
from ..storage import validate_name
from ._common import ModelWatch, default_project, json_safe, warn_ignored

__all__ = ["LoggerBehaviour"]

#: Arguments of Lightning's ``WandbLogger`` (and of ``wandb.init`` it forwards) that mean nothing
#: here; a port that passes them gets one warning naming them instead of a TypeError.
WANDB_ONLY = ("save_dir", "dir", "offline", "anonymous", "entity", "mode",
              "checkpoint_name", "add_file_policy", "reinit", "sync_tensorboard", "monitor_gym", "save_code")
#: ``wandb.init``'s run labels, which WandbLogger forwards: passed on to ``ms.init``.
RUN_LABELS = ("tags", "group", "notes", "job_type")


def _rank_label(rank_zero_only: Any) -> str | None:
    """A shared run's process label for this rank: Lightning's global rank (``$RANK`` when unset)."""
    rank = getattr(rank_zero_only, "rank", None)
    return str(rank) if rank is not None else None


def _rank_zero(method):
    """Run ``method`` through the framework's own ``rank_zero_only`` (global rank 0 only)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if self._shared:
            return method(self, *args, **kwargs)  # every rank logs into the shared run
        return self._rank_zero_only(method)(self, *args, **kwargs)

    return wrapper


def _per_item(what: str, items: Any, kwargs: Mapping[str, Any]) -> list[dict[str, Any]]:
    """WandbLogger's list convention: ``items`` is a list and each keyword is a list as long."""
    if not isinstance(items, list):
        raise InvalidLogError(f"log_{what} takes a list of {what}s, got {type(items).__name__}; wrap one in a list: [{what}]")
    for name, values in kwargs.items():
        if not isinstance(values, (list, tuple)) or len(values) != len(items):
            got = f"{len(values)} items" if isinstance(values, (list, tuple)) else f"a {type(values).__name__}"
            raise InvalidLogValueError(
                f"log_{what}: {name}= must be a list with one entry per {what} ({len(items)}), got {got}"
            )
    return [{name: values[i] for name, values in kwargs.items()} for i in range(len(items))]


class LoggerBehaviour:
    """The methods of ``MediaStoreLogger``; see the module rules. Subclasses set the framework's
    ``_rank_zero_only`` and ``_rank_zero_experiment`` and derive from its ``Logger``."""

    _rank_zero_only: Any
    _rank_zero_experiment: Any
    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        *,
        project: str | None = None,
        name: str | None = None,
        id: str | None = None,
        run_id: str | None = None,
        version: str | None = None,
        store: Any = None,
        config: Any = None,
        resume: bool = True,
        settings: Any = None,
        storage_options: Mapping[str, Any] | None = None,
        prefix: str = "",
        log_model: Any = False,
        experiment: Any = None,
        shared: bool = False,
        **wandb_arguments: Any,
    ) -> None:
        from ..run import _run_labels, new_run_id
        from ..run_config import parse_config

        self._labels = _run_labels(**{k: wandb_arguments.pop(k) for k in RUN_LABELS if k in wandb_arguments})
        unknown = sorted(set(wandb_arguments) - set(WANDB_ONLY))
        if unknown:
            from ..errors import UnknownArgumentError

            raise UnknownArgumentError(f"MediaStoreLogger got unexpected keyword arguments {unknown}; it takes WandbLogger's")
        super().__init__()
        ids = {k: v for k, v in (("id", id), ("run_id", run_id), ("version", version)) if v is not None}
        if len(set(ids.values())) > 1:
            raise InvalidArgumentError(f"MediaStoreLogger got {ids}, naming different runs; pass one of id=, run_id=, version=")
        if shared and not ids and experiment is None:
            raise InvalidArgumentError(
                "MediaStoreLogger(shared=True) needs the run every rank joins: pass run_id='...' (a random id would "
                "differ between ranks that each make their logger)"
            )
        self._shared = bool(shared)
        self._run_id = validate_name(next(iter(ids.values())), "run_id") if ids else new_run_id()
        self._project = validate_name(default_project(project, "lightning_logs"), "project")
        self._name = name
        self._store = store
        self._config = json_safe(parse_config(config))
        self._resume = bool(resume)
        self._settings = settings
        self._storage_options = storage_options
        self._prefix = prefix
        self._run = experiment
        self._owns_run = False
        self._given_run = experiment is not None
        self._watches: list[ModelWatch] = []
        self._lock = threading.RLock()  # hooks may log from autograd's threads
        if experiment is not None:
            self._run_id = experiment.run_id
            self._project = experiment.project
        ignored = dict(wandb_arguments)
        if log_model:
            ignored["log_model"] = log_model
        warn_ignored("MediaStoreLogger", ignored,
                     "mediastore keeps no model checkpoints or W&B-only settings (Lightning's ModelCheckpoint still "
                     "writes checkpoints to disk); store= chooses where the run goes")

    # -- the run ------------------------------------------------------------------------------
    def _open_run(self) -> Any:
        """The run to log into (rank 0 only): made at first use, resumed after ``finalize``."""
        import mediastore as ms
        from ..run import current_run

        with self._lock:
            if self._run is None and not self._given_run and current_run() is not None:
                warnings.warn(
                    f"an ms run is current ({current_run()!r}) and MediaStoreLogger logs into it, as WandbLogger "
                    "reuses wandb.run; call ms.finish() first to give the logger a run of its own",
                    stacklevel=4,
                )
                self._run, self._given_run = current_run(), True
                self._run_id, self._project = self._run.run_id, self._run.project
            if self._run is None or (self._owns_run and self._run.state != "running"):
                resume = self._resume or self._run is not None  # the second opening continues the first
                shared = {"mode": "shared", "label": _rank_label(self._rank_zero_only)} if self._shared else {}
                self._run = ms.init(project=self._project, store=self._store, name=self._name, run_id=self._run_id,
                                    config=self._config, storage_options=self._storage_options, resume=resume,
                                    settings=self._settings, **self._labels, **shared)
                self._owns_run = True
            for watch in self._watches:  # after a copy into a spawned process
                watch.attach()
            return self._run

    def _experiment(self) -> Any:
        with self._lock:
            if self._run is not None and (self._given_run or self._run.state == "running"):
                for watch in self._watches:
                    watch.attach()
                return self._run
            if self._run is not None:  # finished: looking at it does not reopen it
                return self._run
            return self._open_run()

    @property
    def experiment(self) -> Any:
        """The ``ms.Run`` (made on first use) on global rank 0; Lightning's dummy experiment elsewhere.

        ``logger.experiment.log({...})``, ``.config``, ``.summary`` and ``.run_id`` work as on any run.
        """
        if self._shared:
            return self._experiment()  # every rank has the shared run
        return self._rank_zero_experiment(type(self)._experiment)(self)

    @property
    def name(self) -> str:
        """The project (as ``WandbLogger.name``; the run's display name is ``experiment.name``)."""
        return self._project

    @property
    def version(self) -> str:
        """The run id, known before the run is made."""
        return self._run_id

    @property
    def save_dir(self) -> None:
        """None: the logger writes to its store, not to a folder Lightning should put checkpoints in."""
        return None

    def _log(self, values: dict[str, Any], step: int | None) -> None:
        with self._lock:
            self._open_run().log(values, step=step)

    def _key(self, key: str) -> str:
        return f"{self._prefix}{self.LOGGER_JOIN_CHAR}{key}" if self._prefix else key

    # -- what Lightning calls -----------------------------------------------------------------
    @_rank_zero
    def log_hyperparams(self, params: Mapping[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        """Merge ``params`` (a dict or ``argparse.Namespace``; Lightning passes ``hparams``) into the run's config.

        Values JSON cannot hold are stored as text (see ``mediastore.integrations._common``).
        """
        from ..run_config import parse_config

        params = json_safe(parse_config(params, "log_hyperparams"))
        with self._lock:
            self._open_run().config.update(params)

    @_rank_zero
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Log scalars at ``step`` (Lightning's global step); without it, at the run's current step.

        Raises
        ------
        InvalidLogError
            A value mediastore cannot log (see ``run.log``); nothing of the call is stored.
        """
        self._log({self._key(k): v for k, v in metrics.items()}, step)

    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Does nothing: mediastore stores no model graphs (Lightning calls this at every ``fit``)."""

    def save(self) -> None:
        """Does nothing, on purpose: Lightning calls it after every ``log_metrics``, and writing a file
        each time would make the small files that slow every query. Rows reach the local spool within
        ``Settings.spool_seconds`` and the store by ``flush_rows``/``flush_seconds`` and at ``finalize``.
        """

    @_rank_zero
    def finalize(self, status: str) -> None:
        """Finish the run this logger made: ``"failed"`` marks it crashed, any other status finished."""
        with self._lock:
            if self._owns_run and self._run is not None and self._run.state == "running":
                self._run.finish(crashed=status == "failed")

    # -- what users call, as on WandbLogger ---------------------------------------------------
    @_rank_zero
    def log_image(self, key: str, images: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log a list of images under ``key``: tensors, arrays, PIL images or file paths.

        Each keyword (``caption=``, ``masks=``, ``boxes=``, ``mode=``, ``file_type=``) is a list
        with one entry per image, passed to its ``ms.Image``.

        Raises
        ------
        InvalidLogError
            ``images`` is not a list.
        InvalidLogValueError
            A keyword list is not as long as ``images``.
        """
        from ..media import Image

        per_item = _per_item("image", images, kwargs)
        self._log({self._key(key): [Image(img, **kw) for img, kw in zip(images, per_item)]}, step)

    @_rank_zero
    def log_audio(self, key: str, audios: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log a list of clips (arrays or tensors with ``sample_rate=[...]``, or file paths); keywords as ``log_image``."""
        from ..media import Audio

        per_item = _per_item("audio", audios, kwargs)
        self._log({self._key(key): [Audio(a, **kw) for a, kw in zip(audios, per_item)]}, step)

    @_rank_zero
    def log_video(self, key: str, videos: list[Any], step: int | None = None, **kwargs: Any) -> None:
        """Log a list of videos (``(time, channels, height, width)`` arrays or tensors, or files); keywords
        (``fps=``, ``format=``, ``caption=``) as ``log_image``."""
        from ..media import Video

        per_item = _per_item("video", videos, kwargs)
        self._log({self._key(key): [Video(v, **kw) for v, kw in zip(videos, per_item)]}, step)

    @_rank_zero
    def log_table(self, key: str, columns: list[str] | None = None, data: Any = None, dataframe: Any = None,
                  step: int | None = None) -> None:
        """Log an ``ms.Table`` from ``columns`` and ``data`` (rows), or from a ``dataframe``; cells may be media."""
        from ..media import Table

        self._log({self._key(key): Table(columns=columns, data=data, dataframe=dataframe)}, step)

    @_rank_zero
    def log_text(self, key: str, columns: list[str] | None = None, data: Any = None, dataframe: Any = None,
                 step: int | None = None) -> None:
        """Log text as a table (as ``WandbLogger.log_text``): rows queryable in ``tables."<key>"``."""
        self.log_table(key, columns=columns, data=data, dataframe=dataframe, step=step)

    @_rank_zero
    def watch(self, model: Any, log: str | None = "gradients", log_freq: int = 100, log_graph: bool = False) -> None:
        """Log histograms of ``model``'s gradients (``log="gradients"``), its parameters
        (``"parameters"``) or both (``"all"``) every ``log_freq`` steps, as ``wandb.watch``.

        Keys are ``gradients/<parameter name>`` and ``parameters/<parameter name>`` (``histograms``
        view, 64 bins). For a LightningModule the step is the trainer's global step when the
        gradient was computed. ``log=None`` removes this model's hooks. ``log_graph=True`` is ignored
        with a warning (no model graphs are stored).
        """
        if log_graph:
            warn_ignored("MediaStoreLogger.watch", {"log_graph": log_graph}, "mediastore stores no model graphs")
        self.unwatch(model)
        if log is None:
            return
        self._watches.append(ModelWatch(model, log, log_freq, self._emit_watched, functools.partial(_global_step, model)))

    def unwatch(self, model: Any = None) -> None:
        """Remove the hooks ``watch`` put on ``model`` (every model's when None)."""
        for watch in [w for w in self._watches if model is None or w.model is model]:
            watch.remove()
            self._watches.remove(watch)

    def _emit_watched(self, values: dict[str, Any], step: int | None) -> None:
        if not self._shared and getattr(self._rank_zero_only, "rank", 0) != 0:
            return
        with self._lock:
            run = self._open_run()
            if step is None:
                run.log(values, commit=False)  # joins the run's current step, as wandb.watch's rows
            else:
                run.log(values, step=step)

    # -- pickling (strategy="ddp_spawn") ---------------------------------------------------
    def __getstate__(self) -> dict:
        if self._given_run:
            raise InvalidArgumentError(
                f"MediaStoreLogger logging into a run it did not make ({self._run!r}) cannot be copied into another "
                "process (strategy='ddp_spawn'): the run stays with its owner. Finish it and pass "
                "run_id=<its id> instead, so the spawned rank 0 resumes it"
            )
        with self._lock:
            if self._owns_run and self._run is not None and self._run.state == "running":
                self._run.finish()  # one writer per run: the spawned rank 0 resumes it
            state = self.__dict__.copy()
        state.update(_lock=None, _run=None, _owns_run=False, _resume=self._resume or self._owns_run)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()


def _global_step(model: Any) -> int | None:
    """The global step of the trainer ``model`` is attached to (a LightningModule), else None."""
    trainer = getattr(model, "_trainer", None)
    return None if trainer is None else int(trainer.global_step)
