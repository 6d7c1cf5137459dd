"""What the training-framework integrations share: config cleaning, ignored-argument warnings,
and ``watch`` (gradient and parameter histograms from hooks on a torch model).

Rules:

- Configs coming from frameworks (``TrainingArguments``, a model config, Lightning hparams) hold
  values JSON cannot (dtypes, enums, callables, paths). They are stored as JSON: numbers, str,
  bools, None, lists and dicts as they are; enums by value; anything else as ``str(value)``, so
  nothing a framework passes makes the run refuse its config.
- ``watch`` follows W&B's ``wandb.watch``: ``log="gradients"`` registers a hook on each parameter
  that requires grad and logs ``gradients/<name>`` as an ``ms.Histogram`` (64 bins) every
  ``log_freq``-th gradient of that parameter; ``log="parameters"`` logs ``parameters/<name>``
  every ``log_freq``-th forward call of the submodule holding the parameter (a LightningModule's
  own ``forward`` is often never called); ``"all"`` does both. The histogram is binned on the
  tensor's own device (``torch.histc``), so only 64 counts leave the GPU.
- A gradient with NaN or inf values is binned over its finite values and a warning counts the
  others (once per parameter): ``ms.Histogram`` refuses non-finite values, and a training loop
  must not die in a logging hook.

Torch is never imported here: tensors are used through their own methods.
"""

from __future__ import annotations

import enum
import math
import os
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import IgnoredArgumentWarning, InvalidArgumentError, MediaStoreWarning
from ..media import Histogram
from ..run import default_project  # the integrations take the project as ms.init does

__all__ = ["json_safe", "warn_ignored", "ModelWatch", "WATCH_LOG", "check_log_freq", "default_project"]

#: What ``watch(log=...)`` accepts, as W&B's ``wandb.watch``.
WATCH_LOG = ("gradients", "parameters", "all", None)
#: Bins of a watched tensor's histogram: the reference page's (and W&B's) default.
WATCH_BINS = 64


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON can hold it (see the module rules)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, enum.Enum):
        return json_safe(value.value, depth + 1)
    if isinstance(value, (np.generic, np.ndarray)):
        return json_safe(value.tolist(), depth + 1)
    if depth < 32:  # a self-referencing structure ends as text, not as a RecursionError
        if isinstance(value, Mapping):
            return {str(k): json_safe(v, depth + 1) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [json_safe(v, depth + 1) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if type(value).__name__ == "Tensor" and getattr(value, "ndim", None) == 0:
        return json_safe(value.item(), depth + 1)
    return str(value)


def warn_ignored(owner: str, arguments: Mapping[str, Any], why: str, stacklevel: int = 3) -> None:
    """One `IgnoredArgumentWarning` naming the arguments a port from W&B passed that do nothing here."""
    if arguments:
        names = ", ".join(f"{k}={v!r:.40}" for k, v in arguments.items())
        warnings.warn(f"{owner} ignores {names}: {why}", IgnoredArgumentWarning, stacklevel=stacklevel)


def tensor_histogram(tensor: Any, num_bins: int = WATCH_BINS) -> tuple[Histogram | None, int]:
    """An ``ms.Histogram`` of a torch tensor's finite values, binned on its device, and how many
    values were not finite. ``(None, n)`` when no value is finite."""
    t = tensor.detach()
    if getattr(t, "is_sparse", False):
        t = t.coalesce().values()
    t = t.float().reshape(-1)
    finite = t.isfinite()
    left_out = int(t.numel() - finite.sum().item())
    if left_out:
        t = t[finite]
    if t.numel() == 0:
        return None, left_out
    lo, hi = t.min().item(), t.max().item()
    if lo == hi:  # np.histogram's rule for a single value: one unit around it
        lo, hi = lo - 0.5, hi + 0.5
    counts = t.histc(bins=num_bins, min=lo, max=hi).cpu().numpy().astype(np.int64)
    return Histogram(np_histogram=(counts, np.linspace(lo, hi, num_bins + 1))), left_out


class NonFiniteWarning(MediaStoreWarning):
    """A watched tensor held NaN or inf values; its histogram covers the finite ones."""


def check_log_freq(log_freq: Any, what: str) -> None:
    """A watch's cadence: an int >= 1, or an `InvalidArgumentError` naming ``what``."""
    if isinstance(log_freq, bool) or not isinstance(log_freq, int) or log_freq < 1:
        raise InvalidArgumentError(f"{what}={log_freq!r}; pass an int >= 1 (every how many steps to log)")


class ModelWatch:
    """Hooks on one torch model that log histograms of its gradients and/or parameters.

    Parameters
    ----------
    model : torch.nn.Module
        The model whose ``named_parameters()`` are watched.
    log : {"gradients", "parameters", "all"}
        What to log, as ``wandb.watch``.
    log_freq : int
        Every how many gradients (per parameter) or forward calls a histogram is logged.
    emit : callable
        ``emit(values, step)`` logs a dict of histograms; ``step`` is ``step_of()``'s value.
    step_of : callable
        Returns the step the histograms belong to (a trainer's global step), or None for the
        run's current step.
    prefix : str
        Put before each parameter name (``gradients/<prefix><name>``).
    """

    def __init__(self, model: Any, log: str, log_freq: int, emit: Callable[[dict, int | None], None],
                 step_of: Callable[[], int | None], prefix: str = ""):
        if log not in WATCH_LOG or log is None:
            raise InvalidArgumentError(f"watch log={log!r} is not one of 'gradients', 'parameters', 'all' (or None to log nothing)")
        check_log_freq(log_freq, "watch log_freq")
        if not hasattr(model, "named_parameters"):
            raise InvalidArgumentError(f"watch takes a torch.nn.Module, got {type(model).__name__}")
        self.model, self.log, self.log_freq, self.prefix = model, log, log_freq, prefix
        self._emit, self._step_of = emit, step_of
        self._handles: list[Any] = []
        self._counts: dict[str, int] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()  # GPU backward runs hooks on autograd's device threads
        self.attach()

    def attach(self) -> None:
        """Register the hooks (again, after the model was copied into another process)."""
        if self._handles:
            return
        if self.log in ("gradients", "all"):
            for name, param in self.model.named_parameters():
                if param.requires_grad:
                    self._handles.append(param.register_hook(self._gradient_hook(name)))
        if self.log in ("parameters", "all"):
            # On each module that holds parameters itself (see the module rules).
            for module_name, module in self.model.named_modules():
                own = [(f"{module_name}.{n}" if module_name else n, p) for n, p in module.named_parameters(recurse=False)]
                if own:
                    self._handles.append(module.register_forward_hook(self._forward_hook(module_name, own)))

    def remove(self) -> None:
        """Remove every hook this watch registered."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _due(self, name: str) -> bool:
        with self._lock:
            n = self._counts.get(name, 0) + 1
            self._counts[name] = n
        return n % self.log_freq == 0  # W&B's cadence: the log_freq-th call, then every log_freq

    def _histograms(self, kind: str, tensors: list[tuple[str, Any]]) -> dict[str, Histogram]:
        out = {}
        for name, tensor in tensors:
            key = f"{kind}/{self.prefix}{name}"
            hist, left_out = tensor_histogram(tensor)
            if left_out and key not in self._warned:
                self._warned.add(key)
                warnings.warn(
                    f"{key}: {left_out} of {tensor.numel()} values are NaN or inf; the histogram covers the finite ones "
                    "(further occurrences of this key are not reported)",
                    NonFiniteWarning,
                    stacklevel=2,
                )
            if hist is not None:
                out[key] = hist
        return out

    def _gradient_hook(self, name: str) -> Callable[[Any], None]:
        def hook(grad: Any) -> None:
            if self._due("g:" + name):
                values = self._histograms("gradients", [(name, grad)])
                if values:
                    self._emit(values, self._step_of())
            return None  # the gradient is left as it is

        return hook

    def _forward_hook(self, module_name: str, params: list[tuple[str, Any]]) -> Callable[..., None]:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            if self._due("f:" + module_name):
                values = self._histograms("parameters", params)
                if values:
                    self._emit(values, self._step_of())

        return hook

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"], state["_lock"] = [], None  # hooks and locks stay in their process
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
