"""W&B API that mediastore does not offer, present so that ported code fails with a
``NotImplementedError`` naming the nearest mediastore way (README, "Porting from W&B") instead
of an ``AttributeError``."""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = ["not_offered", "Artifact", "Api", "Plotly", "Graph", "plot", "sweep", "agent", "restore", "log_model",
           "use_model", "link_model", "NOT_OFFERED"]

#: The nearest mediastore way for each W&B call that is not offered.
NOT_OFFERED = {
    "save": "files are not uploaded to a run; log them as media (ms.Html, ms.Object3D.from_file, ms.Video, ...) or "
            "keep them in your own bucket and name them in run.config",
    "artifacts": "artifacts are not offered; logged media are stored content-addressed, and datasets and models go to "
                 "your own bucket, referenced in run.config",
    "alert": "alerts (Slack, e-mail) are not sent; log a text (run.log({'alert': '...'})) and query the texts view",
    "plot": "wandb.plot charts are not offered; log the numbers (run.log, an ms.Table) and plot from store.history or "
            "store.sql(...).df()",
    "api": "the W&B public API is not offered; read a store with ms.open(store): runs(), history(run_id), sql(...)",
    "figure": "interactive Plotly and Bokeh figures and wandb.Graph are not stored as such; log ms.Html(fig.to_html()) "
              "for an interactive figure, or ms.Image(fig) for a picture of it",
    "model": "model registry calls are not offered; keep checkpoints in your own bucket and name them in run.config",
    "sweep": "hosted sweeps are not run; loop over your configs (or let Optuna or Ray Tune choose them), start a run for "
             "each with ms.init(config=..., group='<sweep name>'), and compare them in SQL",
}


class NotOfferedAttributeError(NotImplementedError, AttributeError):
    """A W&B attribute that is not offered: a ``NotImplementedError`` with the nearest way, and an
    ``AttributeError`` too, so that ``hasattr`` and introspection see no such attribute."""


def not_offered(call: str, what: str, *, attribute: bool = False) -> NoReturn:
    error = NotOfferedAttributeError if attribute else NotImplementedError
    raise error(f"{call}: {NOT_OFFERED[what]} (README: Porting from W&B)")


class Artifact:
    """W&B's ``wandb.Artifact``: not offered (raises ``NotImplementedError``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        not_offered("ms.Artifact", "artifacts")


class Api:
    """W&B's ``wandb.Api``: not offered (raises ``NotImplementedError``); use ``ms.open``."""

    def __init__(self, *args: Any, **kwargs: Any):
        not_offered("ms.Api", "api")


class Plotly:
    """W&B's ``wandb.Plotly``: not offered (raises ``NotImplementedError``); use ``ms.Html(fig.to_html())``."""

    def __init__(self, *args: Any, **kwargs: Any):
        not_offered("ms.Plotly", "figure")


class Graph:
    """W&B's ``wandb.Graph``: not offered (raises ``NotImplementedError``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        not_offered("ms.Graph", "figure")


class _Plot:
    """W&B's ``wandb.plot``: every chart raises ``NotImplementedError``."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def chart(*args: Any, **kwargs: Any) -> NoReturn:
            not_offered(f"ms.plot.{name}", "plot")

        return chart

    def __repr__(self) -> str:
        return "<ms.plot: W&B's charts are not offered; plot from store.history or store.sql(...).df()>"


plot = _Plot()


def sweep(*args: Any, **kwargs: Any) -> NoReturn:
    """W&B's ``wandb.sweep``: not offered (raises ``NotImplementedError``)."""
    not_offered("ms.sweep", "sweep")


def agent(*args: Any, **kwargs: Any) -> NoReturn:
    """W&B's ``wandb.agent``: not offered (raises ``NotImplementedError``)."""
    not_offered("ms.agent", "sweep")


def restore(*args: Any, **kwargs: Any) -> NoReturn:
    """W&B's ``wandb.restore`` (a file saved with a run): not offered."""
    not_offered("ms.restore", "save")


def log_model(*args: Any, **kwargs: Any) -> NoReturn:
    """W&B's ``wandb.log_model``: not offered."""
    not_offered("ms.log_model", "model")


def use_model(*args: Any, **kwargs: Any) -> NoReturn:
    """W&B's ``wandb.use_model``: not offered."""
    not_offered("ms.use_model", "model")


def link_model(*args: Any, **kwargs: Any) -> NoReturn:
    """W&B's ``wandb.link_model``: not offered."""
    not_offered("ms.link_model", "model")
