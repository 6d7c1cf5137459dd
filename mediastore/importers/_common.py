"""What the W&B and the TensorBoard importers share: run ids from source names, the import
marker that makes a second import add nothing, the progress bar, and histograms merged down to
mediastore's 512 bins.

Idempotence rule (documented in the README): an imported run keeps a marker in its config,
``config["_import"] = {"from": "wandb" | "tensorboard", "source_run": ..., "path": ...,
"complete": bool}``. Its run id is derived from the source run alone (the W&B run id, the
TensorBoard run folder's path relative to the log directory), so importing the same source
again finds it: a run with that id whose marker names the same source and says
``complete: true`` is skipped; a run with that id and no such marker (a run logged with
`ms.init`, or an import that was interrupted) is refused with `RunExistsError`, and nothing is
written.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import LossyConversionWarning, RunExistsError
from ..media.histogram import MAX_BINS
from ..records import read_run_record
from ..storage import StoreLocation

__all__ = ["IMPORT_KEY", "ImportedRun", "name_from_path", "merge_bins", "Progress", "existing_import", "HistogramMerges"]

#: Config key of the import marker.
IMPORT_KEY = "_import"
_NAME_OK = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_BAD_CHAR = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class ImportedRun:
    """What one source run became.

    Attributes
    ----------
    project, run_id : str
        Where it is in the store.
    source : str
        The W&B run folder or the TensorBoard run folder it came from.
    skipped : bool
        True when the store held a complete import of it already (nothing was written).
    rows : dict of str to int
        Rows written, by view (``scalars``, ``texts``, ``images``, ...).
    not_imported : dict of str to int
        Values left out, by the source's type name (a W&B ``_type``, a TensorBoard plugin).
    """

    project: str
    run_id: str
    source: str
    skipped: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    not_imported: dict[str, int] = field(default_factory=dict)

    def count(self, values: dict[str, Any]) -> None:
        """Add the rows a ``run.log`` of ``values`` (already converted) writes."""
        for value in values.values():
            if isinstance(value, dict):
                self.count(value)
                continue
            for item in value if isinstance(value, list) else (value,):
                view = "texts" if isinstance(item, str) else "scalars" if isinstance(item, (bool, int, float)) else _view_of(item)
                self.rows[view] = self.rows.get(view, 0) + 1

    def skip(self, what: str, n: int = 1) -> None:
        self.not_imported[what] = self.not_imported.get(what, 0) + n


def _view_of(item: Any) -> str:
    from ..media import Audio, Histogram, Html, Image, Molecule, Object3D, Table, Video
    from ..plot import CustomChart

    views = {Image: "images", Histogram: "histograms", Audio: "audio", Video: "videos", Html: "html",
             Object3D: "objects3d", Molecule: "molecules", Table: "tables", CustomChart: "tables"}
    return next((view for cls, view in views.items() if isinstance(item, cls)), type(item).__name__)


def name_from_path(text: str) -> str:
    """A project or run id from a source's name or relative folder path, by mediastore's name
    rules (1 to 128 of ``A-Z a-z 0-9 _ . -``, not starting with ``.`` or ``-``, no ``..``).

    Folder separators become ``.`` (``exp1/train`` -> ``exp1.train``). A name that needed any
    other change, or whose folders hold a ``.`` themselves (``a.b/c`` and ``a/b.c`` would
    meet), gets the first 8 hex digits of the SHA-256 of the original appended after a ``-``
    (other characters become ``_``), so two different sources never share a run id.
    """
    parts = [p for p in re.split(r"[\\/]+", text) if p not in ("", ".")]
    joined = ".".join(parts)
    if _NAME_OK.fullmatch(joined) and ".." not in joined and (len(parts) == 1 or not any("." in p for p in parts)):
        return joined
    digest = hashlib.sha256("/".join(parts).encode("utf-8")).hexdigest()[:8]
    clean = _BAD_CHAR.sub("_", joined).replace("..", "_.")
    clean = re.sub(r"^[.-]+", "_", clean)[: 128 - 9] or "_"
    return f"{clean}-{digest}"


def existing_import(location: StoreLocation, project: str, run_id: str, marker: dict) -> bool:
    """True when the store holds a complete import of the same source at ``project``/``run_id``
    (skip it); False when no such run exists (import it).

    Raises
    ------
    RunExistsError
        A run with this id exists and is not a complete import of this source.
    """
    record = read_run_record(location, project, run_id)
    if record is None:
        return False
    config = json.loads(record["config"] or "{}")
    found = config.get(IMPORT_KEY) if isinstance(config, dict) else None
    same = isinstance(found, dict) and found.get("from") == marker["from"] and found.get("source_run") == marker["source_run"]
    if same and found.get("complete") is True:
        return True
    what = (f"an import of {marker['from']} run {marker['source_run']!r} that did not complete (state {record['state']})"
            if same else f"not an import of {marker['from']} run {marker['source_run']!r} (state {record['state']})")
    raise RunExistsError(
        f"run {run_id!r} exists already in project {project!r} and is {what}; nothing was imported — "
        f"import into another project (--project / project=), or delete the folders of run={run_id} "
        f"under project={project} first"
    )


def merge_bins(counts: np.ndarray, edges: np.ndarray, max_bins: int = MAX_BINS) -> tuple[np.ndarray, np.ndarray]:
    """``(counts, edges)`` with at most ``max_bins`` bins: adjacent bins merged in runs of
    nearly equal length (counts summed, the edges between runs kept as they were). Nothing is
    dropped: the total count and the outer edges stay the same."""
    n = len(counts)
    if n <= max_bins:
        return counts, edges
    starts = np.unique(np.linspace(0, n, max_bins + 1).round().astype(np.int64))
    return np.add.reduceat(counts, starts[:-1]), edges[starts]


class HistogramMerges:
    """Histograms of one run that had more than 512 bins: one warning per key at the end."""

    def __init__(self, run_id: str, source: str):
        self.run_id, self.source = run_id, source
        self.by_key: dict[str, list[int]] = {}

    def histogram(self, key: str, counts: Any, edges: Any):
        from ..media import Histogram

        counts, edges = np.asarray(counts), np.asarray(edges, dtype=np.float64)
        if len(counts) > MAX_BINS:
            seen = self.by_key.setdefault(key, [0, 0])
            seen[0] += 1
            seen[1] = max(seen[1], len(counts))
            counts, edges = merge_bins(counts, edges)
        return Histogram(np_histogram=(counts, edges))

    def warn(self) -> None:
        for key, (n, most) in self.by_key.items():
            warnings.warn(
                f"{n} histogram(s) under {key!r} of run {self.run_id!r} (from {self.source}) had more than {MAX_BINS} bins "
                f"(up to {most}), mediastore's limit: adjacent bins were merged down to {MAX_BINS} "
                "(counts summed, edges kept); no value was dropped",
                LossyConversionWarning,
                stacklevel=3,
            )


class Progress:
    """A progress bar on stderr: tqdm's when it is installed, else one plain line redrawn in
    place on a terminal (a new line every 2 s in a log). ``quiet`` draws nothing."""

    def __init__(self, total: int, desc: str, unit: str, quiet: bool):
        self.total, self.desc, self.unit, self.quiet = total, desc, unit, quiet
        self.done = 0
        self._bar = None
        self._last = 0.0
        if quiet:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            self._tty = sys.stderr.isatty()
        else:
            self._bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= (0.1 if self._tty else 2.0):
            self._last = now
            self._draw("")

    def _draw(self, end: str) -> None:
        line = f"{self.desc}: {self.done}/{self.total} {self.unit}"
        sys.stderr.write(("\r" + line if self._tty else line + "\n") + end)
        sys.stderr.flush()

    def close(self) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            self._draw("\n" if self._tty else "")
