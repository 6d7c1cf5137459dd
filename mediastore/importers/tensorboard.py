"""Import TensorBoard event files into a store: each run folder (a folder holding
``*tfevents*`` files) becomes one run.

Event files are TFRecord files: records of ``length u64 LE, masked CRC-32C of the length u32,
data, masked CRC-32C of the data u32`` (the mask: rotate right by 15 bits, add 0xa282ead8),
each data a ``tensorboard.Event`` message, read with the protobuf classes tensorboardX ships
(``pip install "mediastore[tensorboard]"``; they are the same messages TensorFlow, PyTorch's
``torch.utils.tensorboard`` and tensorboardX write). Both checksums are checked; a record that
fails one, or a file cut inside a record, is refused with `ImportSourceError`.

What becomes what (each event's ``step`` and ``wall_time`` are the row's step and logged_at):

- ``simple_value`` and scalar tensors (plugin ``scalars``) -> ``scalars``;
- ``image`` (encoded PNG/JPEG/GIF) and ``images`` tensors -> ``images``, byte for byte;
- ``histo`` and ``histograms`` tensors -> ``histograms`` (more than 512 bins are merged down,
  with a warning). A ``histo``'s bucket i holds the values in ``(limit[i-1], limit[i]]``; its
  first bucket's left edge is the ``min`` (tensorboardX and PyTorch write an empty first bucket
  whose limit is the left edge: it is dropped); a last limit of ~1.8e308 (TensorFlow's
  open-ended bucket) is clipped to the ``max``;
- ``audio`` (encoded WAV) and ``audio`` tensors -> ``audio``, byte for byte;
- ``text`` tensors -> ``texts`` (several strings joined by newlines; the ``/text_summary``
  suffix PyTorch and tensorboardX add to the tag is dropped).

Graphs, hparams, embeddings, PR curves, meshes and other plugins are counted in
`ImportedRun.not_imported`.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ImportSourceError, MediaStoreError
from ._common import IMPORT_KEY, HistogramMerges, ImportedRun, Progress, existing_import, name_from_path

__all__ = ["import_tensorboard", "read_tfrecords", "find_run_folders"]

_TEXT_SUFFIX = "/text_summary"
_OPEN_ENDED = 1e300  # TensorFlow's last bucket limit is DBL_MAX


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def _masked_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_tfrecords(path: str | os.PathLike, *, verify: bool = True) -> Iterator[bytes]:
    """The records of a TFRecord file (a TensorBoard event file), in order.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    verify : bool
        Check each record's data checksum (CRC-32C in pure Python: about 4.5 MiB/s here).
        The length checksums are always checked. Default True.

    Raises
    ------
    ImportSourceError
        A checksum that does not match, or a file cut inside a record.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        while True:
            head = fh.read(12)
            if not head:
                return
            if len(head) < 12:
                raise ImportSourceError(f"{path!r} ends inside a record header (the writer may still be writing it)")
            length, length_crc = struct.unpack("<QI", head)
            if _masked_crc32c(head[:8]) != length_crc:
                raise ImportSourceError(f"{path!r} is not a TFRecord/event file, or is damaged: a record length's CRC-32C does not match")
            body = fh.read(length + 4)
            if len(body) < length + 4:
                raise ImportSourceError(f"{path!r} ends inside a record (the writer may still be writing it)")
            data = body[:length]
            if verify and _masked_crc32c(data) != struct.unpack("<I", body[length:])[0]:
                raise ImportSourceError(f"{path!r} has a damaged record: its CRC-32C does not match")
            yield data


def find_run_folders(logdir: str | os.PathLike) -> list[tuple[str, list[Path]]]:
    """``(relative folder, event files)`` of every folder under ``logdir`` (itself included)
    that holds event files, sorted by folder; the files sorted by name (their names start with
    the time the writer opened them).

    Raises
    ------
    ImportSourceError
        ``logdir`` is not a folder, or nothing under it is an event file.
    """
    root = Path(logdir)
    if not root.is_dir():
        raise ImportSourceError(f"{str(logdir)!r} is not a folder; pass the log directory that holds the event files")
    runs: dict[str, list[Path]] = {}
    for folder, _, files in os.walk(root):
        events = sorted(Path(folder) / f for f in files if "tfevents" in f)
        if events:
            runs[Path(folder).relative_to(root).as_posix()] = events
    if not runs:
        raise ImportSourceError(f"{str(logdir)!r} holds no TensorBoard event file (*tfevents*) in it or its subfolders")
    return sorted(runs.items())


def _tensor(proto) -> Any:
    """A TensorProto as a numpy array (numbers) or a list of bytes (strings)."""
    import numpy as np

    shape = [d.size for d in proto.tensor_shape.dim]
    if proto.dtype == 7:  # DT_STRING
        return list(proto.string_val)
    dtypes = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 19: np.float16, 4: np.uint8, 10: np.bool_}
    dtype = dtypes.get(proto.dtype)
    if dtype is None:
        return None
    if proto.tensor_content:
        array = np.frombuffer(proto.tensor_content, dtype=dtype)
    else:
        field = {np.float32: proto.float_val, np.float64: proto.double_val, np.int32: proto.int_val,
                 np.int64: proto.int64_val, np.uint8: proto.int_val, np.bool_: proto.bool_val}.get(dtype)
        if dtype is np.float16:
            array = np.array(list(proto.half_val), dtype=np.uint16).view(np.float16)
        else:
            array = np.array(list(field), dtype=dtype)
    size = int(np.prod(shape)) if shape else 1
    if array.size == 1 and size > 1:  # a tensor filled with one value is stored as that value once
        array = np.full(size, array[0], dtype=dtype)
    return array.reshape(shape) if array.size == size else array


def _histo_edges(histo) -> tuple[Any, Any] | None:
    import numpy as np

    limits = np.array(list(histo.bucket_limit), dtype=np.float64)
    counts = np.array(list(histo.bucket), dtype=np.float64)
    if len(limits) == 0 or len(limits) != len(counts):
        return None
    if len(limits) > 1 and limits[-1] >= _OPEN_ENDED:
        limits[-1] = max(histo.max, limits[-2])
    if counts[0] == 0 and limits[0] <= histo.min and len(limits) > 1:
        edges, counts = limits, counts[1:]  # the empty first bucket only marks the left edge
    else:
        edges = np.concatenate([[min(histo.min, limits[0])], limits])
    return (counts.astype(np.int64) if np.all(counts == np.round(counts)) else counts), edges


class _Converter:
    def __init__(self, result: ImportedRun, merges: HistogramMerges, tmp: str):
        self.result, self.merges, self.tmp = result, merges, tmp

    def _file(self, data: bytes, suffix: str) -> str:
        """Encoded bytes as a file in the scratch folder: media given by path are stored byte for byte."""
        path = os.path.join(self.tmp, "media" + suffix)
        with open(path, "wb") as fh:
            fh.write(data)
        return path

    def image(self, data: bytes):
        from ..media import Image

        suffix = ".png" if data[:8] == b"\x89PNG\r\n\x1a\n" else ".jpg" if data[:2] == b"\xff\xd8" else ".gif" if data[:3] == b"GIF" else ".img"
        return Image(self._file(data, suffix))

    def audio(self, data: bytes, content_type: str = "audio/wav"):
        from ..media import Audio

        suffix = {"audio/wav": ".wav", "audio/x-wav": ".wav", "audio/flac": ".flac", "audio/ogg": ".ogg",
                  "audio/mpeg": ".mp3"}.get(content_type, ".wav")
        return Audio(self._file(data, suffix))

    def value(self, value) -> tuple[str, Any]:
        """``(key, what run.log takes)`` of one Summary.Value, the value None when left out."""
        import numpy as np

        tag = value.tag
        kind = value.WhichOneof("value")
        plugin = value.metadata.plugin_data.plugin_name
        if kind == "simple_value":
            return tag, float(value.simple_value)
        if kind == "image":
            return tag, self.image(value.image.encoded_image_string)
        if kind == "audio":
            return tag, self.audio(value.audio.encoded_audio_string, value.audio.content_type)
        if kind == "histo":
            pair = _histo_edges(value.histo)
            if pair is None:
                self.result.skip("empty histogram")
                return tag, None
            return tag, self.merges.histogram(tag, *pair)
        if kind == "tensor":
            tensor = _tensor(value.tensor)
            if plugin == "text" and isinstance(tensor, list):
                key = tag[: -len(_TEXT_SUFFIX)] if tag.endswith(_TEXT_SUFFIX) else tag
                return key, "\n".join(t.decode("utf-8", "replace") for t in tensor)
            if plugin == "scalars" and tensor is not None and not isinstance(tensor, list) and tensor.size == 1:
                return tag, tensor.reshape(()).item()
            if plugin == "histograms" and tensor is not None and not isinstance(tensor, list):
                if tensor.ndim == 2 and tensor.shape[1] == 3 and len(tensor):
                    edges = np.concatenate([tensor[:, 0], tensor[-1:, 1]])
                    counts = tensor[:, 2]
                    counts = counts.astype(np.int64) if np.all(counts == np.round(counts)) else counts
                    return tag, self.merges.histogram(tag, counts, edges)
            if plugin == "images" and isinstance(tensor, list) and len(tensor) > 2:
                return tag, [self.image(data) for data in tensor[2:]]  # [width, height, image, ...]
            if plugin == "audio" and isinstance(tensor, list) and tensor:
                return tag, [self.audio(data) for data in tensor[0::2]] if len(tensor) > 1 else self.audio(tensor[0])
        self.result.skip(plugin or kind or "empty value")
        return tag, None


def _import_run(logdir: Path, relative: str, files: list[Path], location, store, project: str,
                storage_options, quiet: bool) -> ImportedRun:
    from ..run import init

    event_pb2 = _protos()
    source_name = relative if relative != "." else logdir.resolve().name
    run_id = name_from_path(source_name)
    folder = logdir / relative
    result = ImportedRun(project=project, run_id=run_id, source=str(folder))
    marker = {"from": "tensorboard", "source_run": source_name, "path": str(folder.resolve()), "complete": False}
    if existing_import(location, project, run_id, marker):
        result.skipped = True
        return result
    # Every record is checked before the run is made, so a damaged file leaves nothing behind.
    total = sum(1 for path in files for _ in read_tfrecords(path))
    merges = HistogramMerges(run_id, str(folder))
    progress = Progress(total, f"tensorboard {source_name}", "events", quiet)
    run = init(project=project, store=store, name=source_name, run_id=run_id, config={IMPORT_KEY: marker},
               storage_options=storage_options)
    started: int | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="mediastore-import-") as tmp:
            convert = _Converter(result, merges, tmp)
            for path in files:
                for record in read_tfrecords(path, verify=False):
                    progress.update()
                    event = event_pb2.Event()
                    try:
                        event.ParseFromString(record)
                    except Exception:
                        raise ImportSourceError(f"{str(path)!r} holds a record that is not a TensorBoard Event") from None
                    logged_at = int(event.wall_time * 1e6)
                    started = logged_at if started is None else min(started, logged_at)
                    what = event.WhichOneof("what")
                    if what != "summary":
                        if what in ("graph_def", "meta_graph_def", "tagged_run_metadata"):
                            result.skip("graph")
                        continue
                    if event.step < 0:
                        result.skip("negative step")
                        continue
                    for value in event.summary.value:
                        try:
                            key, converted = convert.value(value)
                        except MediaStoreError as exc:
                            if isinstance(exc, ImportSourceError):
                                raise
                            raise ImportSourceError(
                                f"tag {value.tag!r} at step {event.step} of {str(path)!r} cannot be imported: {exc}"
                            ) from exc
                        if converted is None:
                            continue
                        run._log_at({key: converted}, event.step, logged_at)
                        result.count({key: converted})
        if started is not None:
            run._started_at = started
        run.config[IMPORT_KEY] = {**marker, "complete": True}
    except BaseException:
        progress.close()
        run.finish(crashed=True)
        raise
    progress.close()
    run.finish()
    merges.warn()
    return result


def _protos():
    """The Event protobuf module tensorboardX ships, or `MissingDependencyError` naming the extra."""
    import importlib

    from .._deps import require

    require("tensorboardX", "tensorboard", "Importing TensorBoard event files")
    return importlib.import_module("tensorboardX.proto.event_pb2")


def import_tensorboard(
    logdir: str | os.PathLike,
    store: str | os.PathLike | None = None,
    *,
    project: str | None = None,
    storage_options: dict | None = None,
    quiet: bool = False,
) -> list[ImportedRun]:
    """Import the TensorBoard event files under ``logdir``: each folder holding event files
    is one run.

    Parameters
    ----------
    logdir : str or os.PathLike
        The log directory (``SummaryWriter``'s ``log_dir``, or the folder above several).
    store : str or os.PathLike, optional
        Destination folder or fsspec URI. Default: ``$MEDIASTORE_STORE``, else ``./mediastore-data``.
    project : str, optional
        Project of the runs. Default: the log directory's name (made a valid name as run ids are).
    storage_options : dict, optional
        fsspec options of the store.
    quiet : bool
        No progress bar. Default False: a bar on stderr (tqdm's when installed).

    Returns
    -------
    list of ImportedRun
        One per run folder, sorted by folder; ``skipped`` for runs imported before. The run id
        is the folder's path relative to ``logdir`` with ``/`` as ``.`` (``exp1/train`` ->
        ``exp1.train``), or ``logdir``'s own name for event files directly in it; a path that
        is not a valid name as it is gets ``_`` for its other characters and a hash suffix
        (see `mediastore.importers._common.name_from_path`).

    Raises
    ------
    ImportSourceError
        No event file under ``logdir``, a damaged event file, a media value that cannot be
        read (the run is then left crashed and incomplete).
    RunExistsError
        The store has a run with the same id that is not a complete import of this folder.
    MissingDependencyError
        tensorboardX (for its protobuf classes) is not installed: ``pip install "mediastore[tensorboard]"``.
    """
    from ..storage import DEFAULT_STORE, StoreLocation, validate_name

    root = Path(logdir)
    runs = find_run_folders(root)
    _protos()
    project = project if project is not None else name_from_path(root.resolve().name)
    validate_name(project, "project")
    store = store if store is not None else os.environ.get("MEDIASTORE_STORE", DEFAULT_STORE)
    location = StoreLocation(store, storage_options)
    location.ensure_initialized()
    return [_import_run(root, rel, files, location, store, project, storage_options, quiet) for rel, files in runs]
