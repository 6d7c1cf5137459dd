"""``MediaStoreCallback``: a Hugging Face ``Trainer`` callback logging into a mediastore run, as
Transformers' own ``WandbCallback`` logs into W&B (``pip install "mediastore[transformers]"``).

>>> from mediastore.integrations.transformers import MediaStoreCallback
>>> trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[MediaStoreCallback(store="./mediastore-data")])

or, since importing this module registers the name with Transformers,
``TrainingArguments(..., report_to="mediastore")`` (the project is then ``args.project``, else
``$MEDIASTORE_PROJECT``; the store ``$MEDIASTORE_STORE``).

Rules (documented in the README):

- **Only the world's process zero** (``state.is_world_process_zero``) makes a run and logs.
- **Config:** at the start of training the run's config takes the model's config
  (``model.config.to_dict()``), then the ``TrainingArguments`` (``args.to_dict()``; a key in both
  keeps the argument's value, as W&B's), and ``model/num_parameters``. Values JSON cannot hold
  are stored as text.
- **Scalars:** every ``on_log`` is logged at ``step = state.global_step``; keys are renamed as
  W&B's integration does: ``eval_x`` -> ``eval/x``, ``test_x`` -> ``test/x``, anything else
  ``train/x``. The one-off totals (``train_runtime``, ``train_samples_per_second``,
  ``train_steps_per_second``, ``train_loss``, ``total_flos``) go to ``run.summary`` under their
  own names, as W&B's. Values that are not numbers, bools or str (None, lists) are skipped.
- **Finishing:** ``on_train_end`` finishes the run the callback made. A later ``trainer.evaluate()``
  or ``predict`` resumes the same run, logs, and finishes it again. A run that was current when
  training started (``ms.init`` before ``trainer.train()``, as ``wandb.init`` before it) is used
  and left open for its owner.
- **Hyperparameter search:** each trial (``state.is_hyper_param_search``) gets its own run, named
  after the trial.
- **``report_to="mediastore"``:** Transformers has no public way to register a reporting
  integration; it looks names up in ``transformers.integrations.integration_utils.INTEGRATION_TO_CALLBACK``,
  and this module adds ``"mediastore"`` there on import (tested with Transformers 5.24; the table
  is older than the 4.40 this extra asks for, and a Transformers without it gets a clear error).
  Without that import, ``report_to="mediastore"`` is refused by Transformers; pass
  ``callbacks=[MediaStoreCallback(...)]`` instead.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Mapping
from typing import Any

from .._deps import require
from ._common import check_log_freq, default_project, json_safe, warn_ignored

_transformers = require("transformers", "transformers", "MediaStoreCallback for Hugging Face Transformers")
from transformers import TrainerCallback  # noqa: E402 - after the dependency check

__all__ = ["MediaStoreCallback", "REPORT_TO", "register"]

#: The name ``TrainingArguments(report_to=...)`` takes once this module is imported.
REPORT_TO = "mediastore"
#: The environment variable of ``watch`` (W&B's ``WANDB_WATCH``): the callback made by
#: ``report_to="mediastore"`` takes no arguments.
WATCH_ENV = "MEDIASTORE_WATCH"
#: Totals the Trainer logs once at the end of training: the run's summary, not rows (W&B's list).
SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")


def rename_logs(logs: Mapping[str, Any]) -> dict[str, Any]:
    """W&B's key names for the Trainer's logs: ``eval_*`` -> ``eval/*``, ``test_*`` -> ``test/*``, else ``train/*``."""
    out = {}
    for key, value in logs.items():
        if key.startswith("eval_"):
            out["eval/" + key[5:]] = value
        elif key.startswith("test_"):
            out["test/" + key[5:]] = value
        else:
            out["train/" + key] = value
    return out


def _loggable(value: Any) -> bool:
    if isinstance(value, (numbers.Number, str)):
        return True
    return type(value).__name__ == "Tensor" and getattr(value, "ndim", None) == 0  # a 0-d tensor, by class name


class MediaStoreCallback(TrainerCallback):
    """Log a ``Trainer``'s scalars, arguments and model config into a mediastore run.

    Every argument is optional, so ``report_to="mediastore"`` (which makes the callback with no
    arguments) works; see the module rules for what is logged where.

    Parameters
    ----------
    project : str, optional
        Default ``$MEDIASTORE_PROJECT``, else ``TrainingArguments.project`` (Transformers 5),
        else ``"huggingface"`` (W&B's default).
    store : str or os.PathLike, optional
        Default ``$MEDIASTORE_STORE``, else ``./mediastore-data``.
    name : str, optional
        Display name; default ``TrainingArguments.run_name``.
    run_id : str, optional
        Default 8 random characters.
    config : dict, optional
        Added to the run's config before the Trainer's (the Trainer's keys win).
    resume : bool
        As ``ms.init``: continue ``run_id`` if it exists.
    settings : ms.Settings, optional
    storage_options : dict, optional
        As ``ms.init``.
    run : ms.Run, optional
        Log into this run; it is not finished by the callback.
    log_model : optional
        Not supported (W&B's ``WANDB_LOG_MODEL``): a true value is ignored with an
        ``ms.IgnoredArgumentWarning``; the Trainer still saves checkpoints to ``output_dir``.
    watch : {"gradients", "parameters", "all", "false"}, optional
        As W&B's ``WANDB_WATCH`` (default ``$MEDIASTORE_WATCH``, else ``"false"``): histograms of
        the model's gradients and/or parameters (``ms.watch``) every ``watch_log_freq`` steps,
        keyed ``gradients/<parameter>`` and ``parameters/<parameter>``, at the global step of the
        update they were computed for (the step its ``train/loss`` is logged at). The hooks go
        when training ends.
    watch_log_freq : int, optional
        Default ``max(100, logging_steps)``, as Transformers' ``WandbCallback``.
    """

    def __init__(self, project: str | None = None, store: Any = None, *, name: str | None = None,
                 run_id: str | None = None, config: Mapping[str, Any] | None = None, resume: bool = False,
                 settings: Any = None, storage_options: Mapping[str, Any] | None = None, run: Any = None,
                 log_model: Any = None, watch: str | None = None, watch_log_freq: int | None = None):
        from ..errors import InvalidArgumentError
        from ..run_config import parse_config
        from ..storage import validate_name

        watch = watch if watch is not None else os.environ.get(WATCH_ENV, "false")
        if watch not in ("gradients", "parameters", "all", "false"):
            raise InvalidArgumentError(f"watch={watch!r} (or ${WATCH_ENV}) is not one of 'gradients', 'parameters', 'all', 'false'")
        if watch_log_freq is not None:
            check_log_freq(watch_log_freq, "watch_log_freq")
        self._watch = None if watch == "false" else watch
        self._watch_log_freq = watch_log_freq
        self._watches: list[Any] = []

        if project is not None:
            validate_name(project, "project")
        if run_id is not None:
            validate_name(run_id, "run_id")
        if log_model:
            warn_ignored("MediaStoreCallback", {"log_model": log_model},
                         "mediastore stores no model checkpoints; the Trainer still saves them to output_dir")
        self._project, self._store, self._name, self._run_id = project, store, name, run_id
        self._config = json_safe(parse_config(config))
        self._resume, self._settings, self._storage_options = resume, settings, storage_options
        self.run = run
        self._owns_run = False
        self._configured = False  # the run's config holds the Trainer's arguments
        self._in_training = False

    # -- the run ------------------------------------------------------------------------------
    def _open(self, args: Any, state: Any) -> Any:
        """The run (process zero only): made at the first event, resumed after it was finished."""
        import mediastore as ms
        from ..run import current_run

        if self.run is not None and (not self._owns_run or self.run.state == "running"):
            return self.run
        if self.run is None and current_run() is not None:
            self.run = current_run()  # as WandbCallback uses wandb.run
            return self.run
        name = self._name
        if name is None:
            name = state.trial_name if getattr(state, "trial_name", None) else getattr(args, "run_name", None)
        project = default_project(self._project, getattr(args, "project", None) or "huggingface")
        resume = self._resume or self.run is not None  # a second opening continues the first
        run_id = self._run_id if self.run is None else self.run.run_id
        self.run = ms.init(project=project, store=self._store, name=name, run_id=run_id, config=self._config,
                           storage_options=self._storage_options, resume=resume, settings=self._settings)
        self._owns_run = True
        return self.run

    def _setup(self, args: Any, state: Any, model: Any) -> None:
        config = {}
        model_config = getattr(model, "config", None)
        if model_config is not None:
            config.update(model_config if isinstance(model_config, dict) else model_config.to_dict())
        config.update(args.to_dict())
        try:
            config["model/num_parameters"] = model.num_parameters()
        except AttributeError:  # not a PreTrainedModel
            pass
        self._open(args, state).config.update(json_safe(config))
        self._configured = True

    def _start_watch(self, args: Any, state: Any, model: Any) -> None:
        from ._common import ModelWatch

        self._stop_watch()
        if self._watch is None or model is None:
            return
        freq = self._watch_log_freq or max(100, int(getattr(args, "logging_steps", 0) or 0))
        # The Trainer passes one state for the whole training, whose global_step moves on. A backward
        # pass belongs to the update that then makes global_step + 1, the step its loss is logged at.
        self._watches.append(ModelWatch(model, self._watch, freq, self._emit_watched, lambda: state.global_step + 1))

    def _stop_watch(self) -> None:
        for watch in self._watches:
            watch.remove()
        self._watches = []

    def _emit_watched(self, values: dict[str, Any], step: int | None) -> None:
        run = self.run
        if run is not None and run.state == "running":
            run.log(values, step=step)

    def _finish(self) -> None:
        self._stop_watch()
        if self._owns_run and self.run is not None and self.run.state == "running":
            self.run.finish()

    # -- the Trainer's events -----------------------------------------------------------------
    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero:
            return
        if state.is_hyper_param_search and self._owns_run:
            self._finish()  # the previous trial's run
            self.run, self._owns_run = None, False
        self._in_training = True
        self._setup(args, state, model)
        self._start_watch(args, state, model)

    def on_log(self, args, state, control, model=None, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if not self._configured and model is not None:  # trainer.evaluate() before any training
            self._setup(args, state, model)
        run = self._open(args, state)
        for key in SUMMARY_KEYS:
            if key in logs and _loggable(logs[key]):
                run.summary[key] = json_safe(logs[key])
        values = {k: v for k, v in logs.items() if k not in SUMMARY_KEYS and _loggable(v)}
        if values:
            run.log(rename_logs(values), step=state.global_step)

    def on_evaluate(self, args, state, control, **kwargs):
        # trainer.evaluate() outside training logged through on_log just before; its run ends here
        if state.is_world_process_zero and not self._in_training:
            self._finish()

    def on_predict(self, args, state, control, metrics=None, **kwargs):
        if not state.is_world_process_zero or not metrics:
            return
        values = {k: v for k, v in metrics.items() if _loggable(v)}
        if values:
            self._open(args, state).log(rename_logs(values), step=state.global_step)
        if not self._in_training:
            self._finish()

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self._in_training = False
            self._finish()


def register() -> None:
    """Make ``TrainingArguments(report_to="mediastore")`` use `MediaStoreCallback` (done on import).

    Raises
    ------
    MissingDependencyError
        The installed Transformers keeps no table of reporting integrations where this module
        expects it; pass ``callbacks=[MediaStoreCallback(...)]`` instead.
    """
    from ..errors import MissingDependencyError

    try:
        from transformers.integrations import integration_utils
        table = integration_utils.INTEGRATION_TO_CALLBACK
    except (ImportError, AttributeError) as exc:
        raise MissingDependencyError(
            f"transformers {_transformers.__version__} has no INTEGRATION_TO_CALLBACK table, so "
            f'report_to="{REPORT_TO}" cannot be registered; pass callbacks=[MediaStoreCallback(...)] to the Trainer instead'
        ) from exc
    table[REPORT_TO] = MediaStoreCallback


register()
