"""W&B API that mediastore does not offer, present so that ported code fails with a
``NotImplementedError`` naming the nearest mediastore way (README, "Porting from W&B") instead
of an ``AttributeError``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["not_offered", "stub", "Artifact", "ArtifactTTL", "Classes", "Plotly", "Graph", "save", "restore", "log_artifact",
           "use_artifact", "log_model", "use_model", "link_model", "alert", "sweep", "agent", "controller", "NOT_OFFERED"]

#: The nearest mediastore way for each W&B call that is not offered.
NOT_OFFERED = {
    "save": "files are not uploaded to a run; log them as media (ms.Html, ms.Object3D.from_file, ms.Video, ...) or "
            "keep them in your own bucket and name them in run.config",
    "artifacts": "artifacts are not offered; logged media are stored content-addressed, and datasets and models go to "
                 "your own bucket, referenced in run.config",
    "alert": "alerts (Slack, e-mail) are not sent; log a text (run.log({'alert': '...'})) and query the texts view",
    "plot": "only W&B's chart functions are offered (ms.plot.line, scatter, bar, histogram, line_series, confusion_matrix, "
            "pr_curve, roc_curve, and ms.plot_table); log the numbers (run.log, an ms.Table) and plot from store.history or "
            "store.sql(...).df()",
    "api": "ms.Api reads runs (runs(), run(), a run's config, summary, history and scan_history), not W&B's files, "
           "artifacts, reports, sweeps or run edits; for more read the store with ms.open(store): runs(), sql(...), "
           "delete_run(...)",
    "figure": "interactive Plotly and Bokeh figures and wandb.Graph are not stored as such; log ms.Html(fig.to_html()) "
              "for an interactive figure, or ms.Image(fig) for a picture of it",
    "model": "model registry calls are not offered; keep checkpoints in your own bucket and name them in run.config",
    "classes": "a class set is not a separate object; give each mask's and box set's class labels as "
               "class_labels={0: 'background', 1: 'cat'}",
    "sweep": "hosted sweeps are not run; loop over your configs (or let Optuna or Ray Tune choose them), start a run for "
             "each with ms.init(config=..., group='<sweep name>'), and compare them in SQL",
}


class NotOfferedAttributeError(NotImplementedError, AttributeError):
    """A W&B attribute that is not offered: a ``NotImplementedError`` with the nearest way, and an
    ``AttributeError`` too, so that ``hasattr`` and introspection see no such attribute."""


def not_offered(call: str, what: str, *, attribute: bool = False) -> NoReturn:
    error = NotOfferedAttributeError if attribute else NotImplementedError
    raise error(f"{call}: {NOT_OFFERED[what]} (README: Porting from W&B)")


def stub(call: str, what: str) -> Callable[..., NoReturn]:
    """W&B's ``call`` (``ms.save``, ``run.log_code``) as a function that raises
    ``NotImplementedError``; as a method or a class's ``__init__`` too (``self`` is one of its
    arguments)."""
    name = call.rsplit(".", 1)[-1]

    def function(*args: Any, **kwargs: Any) -> NoReturn:
        not_offered(call, what)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"W&B's ``{name}``: not offered (raises ``NotImplementedError`` naming the nearest way)."
    return function


def _class(call: str, what: str) -> type:
    """A class of W&B's (``call`` as ``ms.<Name>``) whose construction raises ``NotImplementedError``."""
    name = call.rsplit(".", 1)[-1]
    doc = f"W&B's ``wandb.{name}``: not offered (raises ``NotImplementedError`` naming the nearest way)."
    return type(name, (), {"__init__": stub(call, what), "__doc__": doc, "__module__": "mediastore"})


Artifact = _class("ms.Artifact", "artifacts")
Plotly = _class("ms.Plotly", "figure")
Classes = _class("ms.Classes", "classes")
ArtifactTTL = _class("ms.ArtifactTTL", "artifacts")
Graph = _class("ms.Graph", "figure")


save = stub("ms.save", "save")
restore = stub("ms.restore", "save")
log_artifact = stub("ms.log_artifact", "artifacts")
use_artifact = stub("ms.use_artifact", "artifacts")
log_model = stub("ms.log_model", "model")
use_model = stub("ms.use_model", "model")
link_model = stub("ms.link_model", "model")
alert = stub("ms.alert", "alert")
sweep = stub("ms.sweep", "sweep")
agent = stub("ms.agent", "sweep")
controller = stub("ms.controller", "sweep")
