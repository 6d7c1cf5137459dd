"""Import W&B run folders (``wandb/run-*``, ``wandb/offline-run-*``) into a store.

A run folder holds ``run-<id>.wandb``, the run's record log, and ``files/`` with the media
files its history points at. The log is read here with W&B's own protobuf definitions (the
``wandb`` package, ``pip install "mediastore[wandb]"``): W&B 0.31 no longer ships a reader.

Framing of a ``.wandb`` file (read in W&B's SDK, ``core/pkg/leveldb``): a 7-byte header
(``":W&B"``, the magic 0xBEE1 little-endian, version 0), then LevelDB's log format: 32 KiB
blocks (the first one counts the header), each a run of chunks ``checksum u32 LE, length u16
LE, type u8, payload``; type 1 is a whole record, 2/3/4 the first, middle and last piece of one
cut across blocks; a block's tail shorter than a chunk header is zero padding. The checksum is
CRC-32 (zlib's, what W&B writes) of the type byte and the payload; a chunk that fails it is
refused with `ImportSourceError`, as is a file cut inside a record (a run still being written:
import it once it finished). Each record is a ``wandb.proto.wandb_internal_pb2.Record``.

What becomes what: the run record's id, project, display name, start time and config; config
records (W&B's internal ``_wandb`` key left out, but its mask class labels used); history
records, one ``run.log`` each at their ``_step`` with their ``_timestamp``; summary records
(the final summary; media entries come from the history); the exit record (a non-zero exit
code, or none, marks the run crashed). Media ``_type``\\s: ``image-file`` and
``images/separated`` (with masks, boxes, captions), ``histogram``, ``table-file``,
``audio-file``/``audio``, ``video-file``/``videos``, ``html-file``/``html``,
``object3D-file``/``object3D``, ``molecule-file``/``molecule``. Anything else (plotly, bokeh,
graphs, incremental or joined tables, ...) is counted in `ImportedRun.not_imported`.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ImportSourceError, MediaStoreError
from ..plot import _SPLIT_SECTION, CustomChart
from ._common import IMPORT_KEY, HistogramMerges, ImportedRun, Progress, existing_import, name_from_path

__all__ = ["import_wandb", "read_records", "find_run_folders"]

_HEADER = b":W&B" + struct.pack("<H", 0xBEE1)
_HEADER_LEN = 7
_BLOCK = 32 * 1024
_CHUNK_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
#: Keys W&B adds to every history row; the step and the time become the row's step and logged_at.
_HISTORY_INTERNAL = frozenset({"_step", "_runtime", "_timestamp"})


def read_records(path: str | os.PathLike) -> Iterator[bytes]:
    """The records of a ``.wandb`` file, in order, as serialized protobuf bytes.

    Raises
    ------
    ImportSourceError
        Not a ``.wandb`` file (bad header or version), a chunk whose checksum does not match,
        or a record cut short at the end of the file.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < _HEADER_LEN or data[:6] != _HEADER:
        raise ImportSourceError(f"{path!r} is not a W&B run log: it does not start with the ':W&B' header")
    if data[6] != 0:
        raise ImportSourceError(f"{path!r} is a W&B run log of format version {data[6]}; this reader knows version 0")
    pos, pieces = _HEADER_LEN, None
    end = len(data)
    while pos + _CHUNK_HEADER <= end:
        block_end = (pos // _BLOCK + 1) * _BLOCK
        if pos + _CHUNK_HEADER > block_end:  # a block's tail too short for a chunk header is padding
            pos = block_end
            continue
        checksum, length, kind = struct.unpack_from("<IHB", data, pos)
        if checksum == 0 and length == 0 and kind == 0:  # a zeroed (preallocated) rest of a block
            pos = block_end
            continue
        start, stop = pos + _CHUNK_HEADER, pos + _CHUNK_HEADER + length
        if stop > min(block_end, end):
            raise ImportSourceError(
                f"{path!r} ends inside a record at byte {pos} (the run may still be running, or the file was cut); "
                "import it once W&B has finished writing it"
            )
        payload = data[start:stop]
        if zlib.crc32(payload, zlib.crc32(bytes([kind]))) != checksum:
            raise ImportSourceError(f"{path!r} has a damaged record at byte {pos}: its CRC-32 does not match")
        pos = stop
        if kind == _FULL:
            yield payload
        elif kind == _FIRST:
            pieces = [payload]
        elif kind in (_MIDDLE, _LAST) and pieces is not None:
            pieces.append(payload)
            if kind == _LAST:
                yield b"".join(pieces)
                pieces = None
        else:
            raise ImportSourceError(f"{path!r} has a chunk of unknown type {kind} (or a piece without its first) at byte {pos}")
    if pieces is not None:
        raise ImportSourceError(f"{path!r} ends inside a record that spans blocks; import it once W&B has finished writing it")


def find_run_folders(path: str | os.PathLike) -> list[Path]:
    """The W&B run folders at ``path``: the folder itself when it holds a ``run-*.wandb`` file,
    else its ``run-*`` and ``offline-run-*`` subfolders (a ``wandb/`` folder), sorted by name.

    Raises
    ------
    ImportSourceError
        ``path`` is not a folder, or neither it nor its subfolders hold a ``.wandb`` file.
    """
    root = Path(path)
    if not root.is_dir():
        raise ImportSourceError(f"{str(path)!r} is not a folder; pass a W&B run folder (wandb/run-...) or the wandb/ folder")
    if _log_file(root) is not None:
        return [root]
    runs = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(("run-", "offline-run-")) and _log_file(p))
    if not runs and (root / "wandb").is_dir():
        return find_run_folders(root / "wandb")
    if not runs:
        raise ImportSourceError(
            f"{str(path)!r} holds no W&B run: no run-<id>.wandb file in it or in its run-*/offline-run-* folders; "
            "pass a run folder (wandb/offline-run-...) or the wandb/ folder that holds them"
        )
    return runs


def _log_file(folder: Path) -> Path | None:
    logs = sorted(folder.glob("run-*.wandb"))
    return logs[0] if logs else None


def _items(items) -> list[tuple[list[str], str]]:
    return [(list(item.nested_key) or [item.key], item.value_json) for item in items]


def _set_nested(target: dict, path: list[str], value: Any) -> None:
    for part in path[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
        target = child
    target[path[-1]] = value


def _remove_nested(target: dict, path: list[str]) -> None:
    for part in path[:-1]:
        target = target.get(part)
        if not isinstance(target, dict):
            return
    target.pop(path[-1], None)


def _loads(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise ImportSourceError(f"{where} holds a value that is not JSON: {text[:80]!r}") from None


class _WandbRun:
    """Everything read from one run log (plain JSON values; media are still file references)."""

    def __init__(self, folder: Path):
        pb = _protos()
        self.folder = folder
        self.log = _log_file(folder)
        self.run_id = self.project = self.name = None
        self.started_at: int | None = None
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.history: list[tuple[int, float | None, dict]] = []
        self.labels: dict[str, Any] = {}  # tags, notes, group, job_type of the run record
        self.exit_code: int | None = None
        where = str(self.log)
        for raw in read_records(self.log):
            record = pb.Record()
            try:
                record.ParseFromString(raw)
            except Exception:
                raise ImportSourceError(f"{where} holds a record that is not a W&B Record message") from None
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run = record.run
                self.run_id = run.run_id or self.run_id
                self.project = run.project or self.project
                self.name = run.display_name or self.name
                self.labels = {"tags": list(run.tags) or None, "notes": run.notes or None, "group": run.run_group or None,
                               "job_type": run.job_type or None}
                if run.HasField("start_time"):
                    self.started_at = run.start_time.seconds * 1_000_000 + run.start_time.nanos // 1000
                self._apply(self.config, run.config.update, run.config.remove, where)
            elif kind == "config":
                self._apply(self.config, record.config.update, record.config.remove, where)
            elif kind == "summary":
                self._apply(self.summary, record.summary.update, record.summary.remove, where)
            elif kind == "history":
                row: dict[str, Any] = {}
                for path, text in _items(record.history.item):
                    _set_nested(row, path, _loads(text, where))
                step = row.get("_step", record.history.step.num)
                self.history.append((int(step), row.get("_timestamp"), row))
            elif kind == "exit":
                self.exit_code = record.exit.exit_code
        if self.run_id is None:
            raise ImportSourceError(f"{where} has no run record (no run id): it is not a complete W&B run log")

    @staticmethod
    def _apply(target: dict, updates, removes, where: str) -> None:
        for path, text in _items(updates):
            _set_nested(target, path, _loads(text, where))
        for path, _ in _items(removes):
            _remove_nested(target, path)

    def mask_labels(self, key: str, mask: str) -> dict[int, str] | None:
        labels = (self.config.get("_wandb") or {}).get("mask/class_labels", {})
        found = labels.get(f"{key}_wandb_delimeter_{mask}")  # sic: W&B's spelling
        if not isinstance(found, dict) or not isinstance(found.get("value"), dict):
            return None
        return {int(k): str(v) for k, v in found["value"].items()}


class _Converter:
    """W&B's JSON values of one history row -> what ``run.log`` takes."""

    def __init__(self, source: _WandbRun, result: ImportedRun, merges: HistogramMerges):
        self.source, self.result, self.merges = source, result, merges
        self.files = (source.folder / "files").resolve()

    def row(self, row: dict) -> dict:
        out = {}
        for key, value in row.items():
            if key in _HISTORY_INTERNAL:
                continue
            converted = self.value(key, value)
            if converted is not None:
                out[key] = converted
        return out

    def value(self, key: str, value: Any) -> Any:
        if isinstance(value, (bool, int, float, str)):
            return value
        if value is None:
            return None
        if isinstance(value, dict) and "_type" in value:
            return self.media(key, value)
        if isinstance(value, dict):  # a nested dict: run.log flattens it to "outer.inner" keys
            inner = {k: v for k, v in ((k, self.value(f"{key}.{k}", v)) for k, v in value.items()) if v is not None}
            return inner or None
        self.result.skip(type(value).__name__)  # a JSON list of numbers: no view holds it
        return None

    def path(self, relative: str) -> str | None:
        full = (self.files / relative).resolve()
        if not full.is_relative_to(self.files):
            raise ImportSourceError(
                f"{self.source.log} names the media file {relative!r}, which is outside the run's files/ folder; refused"
            )
        if not full.is_file():
            self.result.skip("missing file")
            return None
        return str(full)

    def media(self, key: str, value: dict) -> Any:
        from ..media import Audio, Html, Molecule, Object3D, Video

        kind = value["_type"]
        caption = value.get("caption")
        if kind == "image-file":
            return self.image(key, value)
        if kind == "images/separated":
            return self.images(key, value)
        if kind == "histogram":
            return self.histogram(key, value)
        if kind in ("table-file", "table"):
            return self.table(value)
        single = {"audio-file": Audio, "video-file": Video, "html-file": Html, "object3D-file": Object3D,
                  "molecule-file": Molecule}
        if kind in single:
            path = self.path(value.get("path", ""))
            if path is None:
                return None
            if single[kind] is Html:
                return Html(path, inject=False)  # W&B's file holds what it injected already
            return single[kind](path, caption=caption) if caption else single[kind](path)
        lists = {"audio": "audio", "videos": "videos", "html": "html", "object3D": "objects"}
        if kind in lists:
            items = [self.media(key, item) for item in value.get(lists[kind], [])]
            captions = value.get("captions") or []
            for i, item in enumerate(items):
                if item is not None and i < len(captions) and captions[i] and hasattr(item, "caption"):
                    item.caption = str(captions[i])
            items = [item for item in items if item is not None]
            return items or None
        if kind == "molecule":
            captions = value.get("captions") or []
            items = []
            for i, name in enumerate(value.get("filenames", [])):
                item = self.media(key, {"_type": "molecule-file", "path": name,
                                        "caption": captions[i] if i < len(captions) else None})
                if item is not None:
                    items.append(item)
            return items or None
        self.result.skip(kind)
        return None

    def image(self, key: str, value: dict, caption: Any = None):
        from ..media import Image

        path = self.path(value.get("path", ""))
        if path is None:
            return None
        masks = {}
        for name, mask in (value.get("masks") or {}).items():
            mask_path = self.path(mask.get("path", ""))
            if mask_path is not None:
                labels = self.source.mask_labels(key, name)
                masks[name] = {"path": mask_path, **({"class_labels": labels} if labels else {})}
        boxes = {}
        for name, box_set in (value.get("boxes") or {}).items():
            box_path = self.path(box_set.get("path", ""))
            if box_path is None:
                continue
            with open(box_path, encoding="utf-8") as fh:
                data = _loads(fh.read(), box_path)
            labels = {int(k): str(v) for k, v in (data.get("class_labels") or {}).items()}
            boxes[name] = {"box_data": data.get("box_data", []), **({"class_labels": labels} if labels else {})}
        caption = value.get("caption", caption)
        return Image(path, caption=str(caption) if caption is not None else None, masks=masks or None, boxes=boxes or None)

    def images(self, key: str, value: dict):
        names = value.get("filenames") or []
        if not names:
            self.result.skip("images/separated without filenames", value.get("count", 1))
            return None
        captions = value.get("captions") or []
        all_masks = value.get("all_masks") or []
        all_boxes = value.get("all_boxes") or []
        items = []
        for i, name in enumerate(names):
            one = {"path": name, "masks": all_masks[i] if i < len(all_masks) else None,
                   "boxes": all_boxes[i] if i < len(all_boxes) else None}
            if i < len(captions) and captions[i] not in (None, False, ""):
                one["caption"] = captions[i]
            item = self.image(key, one)
            if item is not None:
                items.append(item)
        return items or None

    def histogram(self, key: str, value: dict):
        import numpy as np

        counts = value.get("values") or []
        if "bins" in value:
            edges = value["bins"]
        elif "packedBins" in value:
            packed = value["packedBins"]
            edges = packed["min"] + packed["size"] * np.arange(packed["count"] + 1)
        else:
            self.result.skip("histogram without bins")
            return None
        return self.merges.histogram(key, np.asarray(counts), edges)

    def table(self, value: dict):
        from ..media import Table

        path = self.path(value.get("path", ""))
        if path is None:
            return None
        with open(path, encoding="utf-8") as fh:
            data = _loads(fh.read(), path)
        rows = []
        for row in data.get("data", []):
            cells = []
            for cell in row:
                if isinstance(cell, dict) and "_type" in cell:
                    cell = self.media("table cell", cell)
                elif isinstance(cell, (list, dict)):
                    self.result.skip("table cell")
                    cell = None
                cells.append(cell)
            rows.append(cells)
        return Table(columns=[str(c) for c in data.get("columns", [])], data=rows, allow_mixed_types=True)


def _protos():
    """W&B's protobuf module of the records, or `MissingDependencyError` naming the extra."""
    import importlib

    from .._deps import require

    require("wandb", "wandb", "Importing W&B runs")
    return importlib.import_module("wandb.proto.wandb_internal_pb2")


def _name(text: str | None, fallback: str) -> str:
    return name_from_path(text) if text else fallback


def _import_run(folder: Path, location, store, project: str | None, storage_options, quiet: bool) -> ImportedRun:
    from ..run import init

    source = _WandbRun(folder)
    run_id = name_from_path(source.run_id)
    project = project if project is not None else _name(source.project, "uncategorized")
    result = ImportedRun(project=project, run_id=run_id, source=str(folder))
    marker = {"from": "wandb", "source_run": source.run_id, "path": str(folder.resolve()), "complete": False}
    if existing_import(location, project, run_id, marker):
        result.skipped = True
        return result
    config = {k: v for k, v in source.config.items() if k != "_wandb"}
    charts = _charts(source.config)
    merges = HistogramMerges(run_id, str(folder))
    convert = _Converter(source, result, merges)
    progress = Progress(len(source.history), f"wandb {source.run_id}", "steps", quiet)
    run = init(project=project, store=store, name=source.name, run_id=run_id, config={**config, IMPORT_KEY: marker},
               storage_options=storage_options, **source.labels)
    if source.started_at is not None:
        run._started_at = source.started_at
    try:
        for step, timestamp, row in source.history:
            try:
                values = convert.row(row)
            except MediaStoreError as exc:
                if isinstance(exc, ImportSourceError):
                    raise
                raise ImportSourceError(f"step {step} of W&B run {source.run_id!r} ({folder}) cannot be imported: {exc}") from exc
            logged_at = int(timestamp * 1e6) if isinstance(timestamp, (int, float)) else run._started_at
            for table_key in charts.keys() & values.keys():
                key, panel = charts[table_key]
                try:
                    chart = CustomChart(values[table_key], panel["panelDefId"], panel.get("fieldSettings") or {},
                                        panel.get("stringSettings") or {}, split_table=table_key != f"{key}_table")
                except MediaStoreError:  # not a table, or a spec that is not JSON: the table alone
                    continue
                del values[table_key]  # logged under the chart's key, its table lands at table_key again
                values[key] = chart
            if values:
                run._log_at(values, step, logged_at)
                result.count(values)
            progress.update()
        for key, value in source.summary.items():
            if key.startswith("_") or (isinstance(value, dict) and "_type" in value) or value is None:
                continue  # W&B's own keys; media come from the history rows
            run.summary[key] = value
        run.config[IMPORT_KEY] = {**marker, "complete": True, "exit_code": source.exit_code}
    except BaseException:
        progress.close()
        run.finish(crashed=True)
        raise
    progress.close()
    run.finish(crashed=source.exit_code != 0)
    merges.warn()
    return result


def _charts(config: dict) -> dict[str, tuple[str, dict]]:
    """W&B's custom charts (``wandb.plot``), which its config keeps under ``_wandb.visualize``:
    for the key of each chart's table, the chart's key and its panel config. The run logs an
    ``ms.plot`` chart under that key in the table's place: the table lands under the same key,
    and the chart's spec goes into the summary."""
    found = {}
    visualize = (config.get("_wandb") or {}).get("visualize") or {}
    for key, chart in visualize.items() if isinstance(visualize, dict) else ():
        panel = chart.get("panel_config") if isinstance(chart, dict) else None
        if not isinstance(panel, dict) or not isinstance(panel.get("panelDefId"), str):
            continue
        table_key = _table_key(panel.get("userQuery")) or f"{key}_table"
        if table_key in (f"{key}_table", f"{_SPLIT_SECTION}/{key}_table"):
            found[table_key] = (key, panel)
    return found


def _table_key(query: Any) -> str | None:
    """The ``tableKey`` argument somewhere in a chart's ``userQuery``."""
    if isinstance(query, dict):
        if query.get("name") == "tableKey" and isinstance(query.get("value"), str):
            return query["value"]
        query = list(query.values())
    if isinstance(query, list):
        for item in query:
            if (found := _table_key(item)) is not None:
                return found
    return None


def import_wandb(
    path: str | os.PathLike,
    store: str | os.PathLike | None = None,
    *,
    project: str | None = None,
    storage_options: dict | None = None,
    quiet: bool = False,
) -> list[ImportedRun]:
    """Import W&B run folders into a store, each as one run.

    Parameters
    ----------
    path : str or os.PathLike
        A run folder (``wandb/run-<time>-<id>`` or ``wandb/offline-run-...``, holding
        ``run-<id>.wandb``) or a folder holding many (``wandb/``, or the folder above it).
    store : str or os.PathLike, optional
        Destination folder or fsspec URI. Default: ``$MEDIASTORE_STORE``, else ``./mediastore-data``.
    project : str, optional
        Project of every imported run. Default: each W&B run's own project (``uncategorized``
        when it has none).
    storage_options : dict, optional
        fsspec options of the store.
    quiet : bool
        No progress bar. Default False: a bar on stderr (tqdm's when installed).

    Returns
    -------
    list of ImportedRun
        One per run folder, in folder-name order; ``skipped`` for runs imported before.

    Raises
    ------
    ImportSourceError
        No run folder at ``path``, a damaged or truncated ``.wandb`` file, a media file that
        cannot be read (the run is then left crashed and incomplete).
    RunExistsError
        The store has a run with the same id that is not a complete import of this W&B run.
    MissingDependencyError
        The ``wandb`` package (its protobuf definitions) is not installed: ``pip install "mediastore[wandb]"``.

    Examples
    --------
    >>> from mediastore.importers import import_wandb
    >>> [r.run_id for r in import_wandb("wandb/", store="./mediastore-data")]
    ['qi5zqe2r']
    """
    from ..storage import DEFAULT_STORE, StoreLocation, validate_name

    if project is not None:
        validate_name(project, "project")
    folders = find_run_folders(path)
    _protos()
    store = store if store is not None else os.environ.get("MEDIASTORE_STORE", DEFAULT_STORE)
    location = StoreLocation(store, storage_options)
    location.ensure_initialized()
    return [_import_run(folder, location, store, project, storage_options, quiet) for folder in folders]
