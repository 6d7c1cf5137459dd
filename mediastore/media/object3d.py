"""``ms.Object3D``: 3-D point clouds (with boxes and vectors) and 3-D model files.

Rules (one set, documented in the README):

- Points are an ``(n, 3)`` xyz, ``(n, 4)`` xyz + category or ``(n, 6)`` xyz + rgb array of
  ints or floats, one row per point, at least one point, all values finite. A category is an
  integer 1..14. r, g, b lie in 0..255; non-integer values are allowed (the reference page's
  own example has ``76.5``) and kept as given.
- Every point is stored, in its own dtype (little-endian), as a ``.npy`` file: lossless, and
  readable with ``numpy.load`` without mediastore. The reference viewer's 300,000-point
  cut-off is a display limit; ``num_points`` records how many there are.
- Boxes (8 corners, ``color``, optional ``label`` and ``score``) and vectors (``start``,
  ``end``, optional ``color``) go to the ``boxes`` and ``vectors`` columns, so SQL can filter
  on them (``unnest(boxes)``). Box and vector colours are integers 0..255.
- Files (``.pts.json``, ``.obj``, ``.gltf``, ``.glb``, ``.babylon``, ``.stl``) are stored byte
  for byte. A ``.pts.json`` file is also read: its points, boxes and vectors fill the columns
  and come back from ``to_numpy()`` / ``boxes`` / ``vectors``. It is either a scene object
  ``{"points", "boxes", "vectors", "type"}`` or a plain JSON list of points, the layout W&B
  writes for a numpy point cloud. A file object's format comes from its ``name`` when it has
  one (``open("wolf.obj")``), else from ``file_type=``.
- Scene dicts take ``boxes`` and ``vectors`` as lists or numpy arrays (W&B's
  ``from_point_cloud`` turns them into object arrays). `box3d` builds a box from its centre,
  size and orientation quaternion, as W&B's ``wandb.box3d``.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Mapping
from typing import Any, Literal

from .._lazy import np
from ..errors import InvalidMediaError, InvalidMediaTypeError
from . import _display
from .base import (
    Media,
    as_array,
    check_caption,
    is_null,
    is_number,
    is_pathlike,
    read_source,
    register,
)

__all__ = ["Object3D", "box3d"]

FileType = Literal["pts.json", "obj", "gltf", "glb", "babylon", "stl"]
PointCloudType = Literal["lidar/beta"]

#: File types stored byte for byte, and the MIME type of their blob.
_FILE_MIME = {
    "pts.json": "application/x-pts+json",
    "obj": "model/obj",
    "gltf": "model/gltf+json",
    "glb": "model/gltf-binary",
    "babylon": "model/vnd.babylon+json",
    "stl": "model/stl",
}
_NPY_MIME = "application/x-npy"
_POINT_FORMATS = {3: "xyz", 4: "xyzc", 6: "xyzrgb"}
_SCENE_TYPES = ("lidar/beta",)
_SCENE_FIELDS = ("points", "boxes", "vectors", "type")
_BOX_FIELDS = ("corners", "label", "color", "score")
_VECTOR_FIELDS = ("start", "end", "color")
_NUM_CATEGORIES = 14


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value.tolist() if isinstance(value, np.ndarray) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- points ----------------------------------------------------------------------------------


def _check_points(value: Any, where: str = "Object3D points") -> np.ndarray:
    """A private, C-ordered, little-endian copy of valid points, or a typed error."""
    if is_pathlike(value) or isinstance(value, (bytes, Mapping)) or hasattr(value, "read"):
        raise InvalidMediaTypeError(
            f"{where} must be an (n, 3), (n, 4) or (n, 6) array or list of rows, got {type(value).__name__} — "
            "for a file use ms.Object3D.from_file, for boxes use ms.Object3D.from_point_cloud"
        )
    try:
        array = as_array(value)
    except ValueError:
        raise InvalidMediaError(
            f"{where} rows have different lengths; every row is [x, y, z], [x, y, z, c] or [x, y, z, r, g, b], "
            "and all rows have the same length"
        ) from None
    if array is None:
        raise InvalidMediaTypeError(
            f"{where} must be an (n, 3), (n, 4) or (n, 6) numpy array or list of rows, got {type(value).__name__}"
        )
    if array.dtype.kind not in "iuf" or array.dtype.itemsize > 8:
        raise InvalidMediaTypeError(
            f"{where} have dtype {array.dtype}; points are ints or floats (at most 64-bit) — "
            "convert them with .astype(np.float64)"
        )
    if array.ndim != 2 or array.shape[1] not in _POINT_FORMATS:
        raise InvalidMediaError(
            f"{where} have shape {array.shape}; expected (n, 3) xyz, (n, 4) xyz + category or (n, 6) xyz + rgb, "
            "one row per point — for a (3, n) array pass array.T"
        )
    if array.shape[0] == 0:
        raise InvalidMediaError(f"{where} have shape {array.shape}; a point cloud needs at least one point")
    if array.dtype.kind == "f":
        finite = np.isfinite(array).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise InvalidMediaError(
                f"{where} have {bad.size} row(s) with NaN or infinite values (first: row {bad[0]}, "
                f"{_short(array[bad[0]])}); points must be finite — drop them with points[np.isfinite(points).all(axis=1)]"
            )
    if array.shape[1] == 4:
        category = array[:, 3]
        bad = (category < 1) | (category > _NUM_CATEGORIES)
        if array.dtype.kind == "f":
            bad |= category != np.floor(category)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InvalidMediaError(
                f"{where} column 3 is a category; row {row} has {category[row].item()!r}, but categories are integers "
                f"1..{_NUM_CATEGORIES} — map your classes to 1..{_NUM_CATEGORIES}, or pass (n, 6) xyz + rgb for colours"
            )
    elif array.shape[1] == 6:
        rgb = array[:, 3:]
        bad = ((rgb < 0) | (rgb > 255)).any(axis=1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InvalidMediaError(
                f"{where} columns 3..5 are r, g, b; row {row} has {_short(rgb[row])}, but colour components lie in "
                "0..255 — scale colours given in [0, 1] by 255"
            )
    # A private copy: encoding runs later on a worker and the caller may reuse the array.
    return np.array(array, dtype=array.dtype.newbyteorder("<"), order="C", copy=True)


def _npy_bytes(points: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, points, version=(1, 0), allow_pickle=False)
    return buf.getvalue()


# -- boxes and vectors -----------------------------------------------------------------------


def _xyz(value: Any, where: str) -> list[float]:
    items = value.tolist() if isinstance(value, np.ndarray) else value
    if not isinstance(items, (list, tuple)) or len(items) != 3 or not all(is_number(v) for v in items):
        raise InvalidMediaError(f"{where} is {_short(value)}; it must be [x, y, z], three numbers")
    out = [float(v) for v in items]
    if not all(math.isfinite(v) for v in out):
        raise InvalidMediaError(f"{where} is {out}; coordinates must be finite")
    return out


def _color(value: Any, where: str) -> list[int]:
    items = value.tolist() if isinstance(value, np.ndarray) else value
    if not isinstance(items, (list, tuple)) or len(items) != 3 or not all(is_number(v) for v in items):
        raise InvalidMediaError(f"{where} is {_short(value)}; a colour is [r, g, b], three integers 0..255")
    if not all(math.isfinite(float(v)) and float(v).is_integer() and 0 <= v <= 255 for v in items):
        raise InvalidMediaError(
            f"{where} is {_short(value)}; colour components are integers 0..255, e.g. [255, 0, 0] for red — "
            "round them, or scale colours given in [0, 1] by 255"
        )
    return [int(v) for v in items]


def _fields(item: Any, where: str, known: tuple[str, ...], what: str) -> Mapping:
    if not isinstance(item, Mapping):
        raise InvalidMediaTypeError(f"{where} is a {type(item).__name__}; {what}")
    unknown = sorted((str(k) for k in item if k not in known))
    if unknown:
        raise InvalidMediaError(f"{where} has unknown field(s) {unknown}; the fields are {list(known)} — check the spelling")
    return item


def _check_box(index: int, box: Any) -> dict[str, Any]:
    where = f"Object3D box {index}"
    box = _fields(
        box, where, _BOX_FIELDS, "a box is a dict with 'corners' (8 [x, y, z] points), 'color' ([r, g, b]), and optional 'label' and 'score'"
    )
    if "corners" not in box:
        raise InvalidMediaError(f"{where} has no 'corners'; give the box's 8 corners as [[x, y, z], ...]")
    corners = box["corners"]
    items = corners.tolist() if isinstance(corners, np.ndarray) else corners
    if not isinstance(items, (list, tuple)):
        raise InvalidMediaTypeError(f"{where} 'corners' is a {type(corners).__name__}; give 8 corners as [[x, y, z], ...]")
    if len(items) != 8:
        raise InvalidMediaError(f"{where} 'corners' has {len(items)} corners; a box has 8 corners [x, y, z] (shape (8, 3))")
    corners = [_xyz(c, f"{where} corner {i}") for i, c in enumerate(items)]
    if "color" not in box:
        raise InvalidMediaError(f"{where} has no 'color'; give the box colour as [r, g, b] integers 0..255, e.g. [0, 255, 0]")
    color = _color(box["color"], f"{where} 'color'")
    label = box.get("label")
    if label is not None and not isinstance(label, str):
        raise InvalidMediaTypeError(f"{where} 'label' is {_short(label)}; it must be a str, or left out")
    score = box.get("score")
    if score is not None:
        if not is_number(score):
            raise InvalidMediaTypeError(f"{where} 'score' is {_short(score)}; it must be a number, or left out")
        score = float(score)
        if not math.isfinite(score):
            raise InvalidMediaError(f"{where} 'score' is {score}; it must be finite")
    return {"corners": corners, "label": label, "color": color, "score": score}


def _check_vector(index: int, vector: Any) -> dict[str, Any]:
    where = f"Object3D vector {index}"
    vector = _fields(vector, where, _VECTOR_FIELDS, "a vector is a dict with 'start' and 'end' ([x, y, z]) and optional 'color'")
    for field in ("start", "end"):
        if field not in vector:
            raise InvalidMediaError(f"{where} has no {field!r}; a vector needs 'start' and 'end' as [x, y, z]")
    color = vector.get("color")
    return {
        "start": _xyz(vector["start"], f"{where} 'start'"),
        "end": _xyz(vector["end"], f"{where} 'end'"),
        "color": None if color is None else _color(color, f"{where} 'color'"),
    }


def _check_items(value: Any, what: str, check) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, np.ndarray) and value.ndim == 1:  # W&B's object array of dicts, or an empty array
        value = list(value)
    if not isinstance(value, (list, tuple)):
        raise InvalidMediaTypeError(f"Object3D {what} must be a list of dicts, got {type(value).__name__}")
    return [check(i, item) for i, item in enumerate(value)]


def _check_scene_type(value: Any) -> str:
    if value not in _SCENE_TYPES:
        raise InvalidMediaError(
            f"point cloud type {_short(value)} is not supported; the only supported type is 'lidar/beta' — "
            "pass point_cloud_type='lidar/beta' (or \"type\": \"lidar/beta\" in a .pts.json file)"
        )
    return value


def _check_scene(scene: Mapping, where: str) -> tuple[np.ndarray, list[dict], list[dict], str]:
    unknown = sorted(str(k) for k in scene if k not in _SCENE_FIELDS)
    if unknown:
        raise InvalidMediaError(f"{where} has unknown field(s) {unknown}; the fields are {list(_SCENE_FIELDS)} — check the spelling")
    if "points" not in scene:
        raise InvalidMediaError(f"{where} has no 'points'; give the points as [[x, y, z], ...] (or with a category or r, g, b)")
    scene_type = _check_scene_type(scene.get("type", "lidar/beta"))
    points = _check_points(scene["points"])
    boxes = _check_items(scene.get("boxes"), "boxes", _check_box)
    vectors = _check_items(scene.get("vectors"), "vectors", _check_vector)
    return points, boxes, vectors, scene_type


def box3d(
    *,
    center: Any,
    size: Any,
    orientation: Any,
    color: Any,
    label: str | None = None,
    score: float | None = None,
) -> dict[str, Any]:
    """A 3-D box for `Object3D.from_point_cloud`, from its centre, size and orientation (W&B's
    ``wandb.box3d``, same keywords).

    Parameters
    ----------
    center : array-like of 3 numbers
        The box's centre, in the point cloud's coordinates.
    size : array-like of 3 numbers
        Its extent along its own x, y and z axes (>= 0).
    orientation : array-like of 4 numbers
        The rotation from the point cloud's axes to the box's, as a non-zero quaternion
        ``[r, x, y, z]`` (scalar first, W&B's order; scipy's ``Rotation.as_quat()`` puts the
        scalar last: reorder with ``np.roll(q, 1)``). It is normalized here.
    color : (r, g, b)
        Components in 0..1, as W&B's ``box3d`` takes them; stored as integers 0..255
        (``round(c * 255)``), the box colour of every other box dict.
    label : str, optional
    score : float, optional
        E.g. a detection's confidence.

    Returns
    -------
    dict
        ``{"corners": 8 [x, y, z], "color": [r, g, b], "label", "score"}``; the corners are the
        unit cube's ``(±1, ±1, ±1)`` in that order (x slowest), scaled by ``size / 2``, rotated
        and moved to ``center``.

    Raises
    ------
    InvalidMediaError
        A wrong shape, a non-finite or negative size, a zero quaternion, a colour outside 0..1.

    Examples
    --------
    >>> box = ms.box3d(center=(0, 0, 1), size=(4, 2, 1.5), orientation=(1, 0, 0, 0),
    ...                color=(1.0, 0.0, 0.0), label="car", score=0.9)
    >>> ms.Object3D.from_point_cloud(points, [box], [], "lidar/beta")
    """

    def vector(value: Any, n: int, name: str) -> np.ndarray:
        array = as_array(value)
        if array is None or array.shape != (n,) or array.dtype.kind not in "iuf" or not np.isfinite(array).all():
            raise InvalidMediaError(f"box3d {name} is {_short(value)}; it must be {n} finite numbers")
        return array.astype(np.float64)

    center_v, size_v = vector(center, 3, "center"), vector(size, 3, "size")
    if (size_v < 0).any():
        raise InvalidMediaError(f"box3d size is {size_v.tolist()}; a box's extents must be >= 0")
    quaternion = vector(orientation, 4, "orientation")
    norm = float(np.linalg.norm(quaternion))
    if norm == 0.0:
        raise InvalidMediaError("box3d orientation is the zero quaternion; give [r, x, y, z] with r = 1, x = y = z = 0 for no rotation")
    r, x, y, z = quaternion / norm
    # The rotation matrix of a unit quaternion, acting on column vectors.
    rotation = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * r), 2 * (x * z + y * r)],
        [2 * (x * y + z * r), 1 - 2 * (x * x + z * z), 2 * (y * z - x * r)],
        [2 * (x * z - y * r), 2 * (y * z + x * r), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip
    unit = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=np.float64)
    corners = center_v + (unit * (size_v / 2)) @ rotation.T
    rgb = as_array(color) if not isinstance(color, (str, bytes)) else None
    if rgb is None or rgb.shape != (3,) or rgb.dtype.kind not in "iuf" or not ((rgb >= 0) & (rgb <= 1)).all():
        raise InvalidMediaError(
            f"box3d color is {_short(color)}; W&B's box3d takes (r, g, b) with components in 0..1 — e.g. (1.0, 0.0, 0.0) "
            "for red (for 0..255 colours build the box dict yourself: {'corners', 'color', 'label', 'score'})"
        )
    box = {
        "corners": corners.tolist(),
        "color": [int(round(float(c) * 255)) for c in rgb],
        "label": label,
        "score": score,
    }
    _check_box(0, box)  # label and score follow every box's rules, checked here at the call
    return box


# -- files -----------------------------------------------------------------------------------


def _format_of_path(path: str) -> str:
    lower = path.lower()
    kind = "pts.json" if lower.endswith(".pts.json") else os.path.splitext(lower)[1].lstrip(".")
    if kind not in _FILE_MIME:
        raise InvalidMediaError(
            f"Object3D file {path!r} has an unsupported extension; supported: "
            f"{', '.join('.' + t for t in _FILE_MIME)} — rename it, or pass file_type="
        )
    return kind


def _parse_json(data: bytes, name: str, kind: str, layout: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidMediaError(f"Object3D file {name} is not valid JSON ({exc}); a .{kind} file is {layout}") from None


def _check_file(data: bytes, kind: str, name: str) -> dict[str, Any] | None:
    """Check that the bytes look like their type; for .pts.json return the parsed scene."""
    if not data:
        raise InvalidMediaError(f"Object3D file {name} is empty; a .{kind} file needs content")
    if kind == "pts.json":
        doc = _parse_json(data, name, kind, 'JSON {"points": [...], "boxes": [...], "type": "lidar/beta"}')
        if not isinstance(doc, (Mapping, list)):
            raise InvalidMediaError(
                f"Object3D file {name} holds a JSON {type(doc).__name__}; a .pts.json file is an object "
                '{"points": [...], "boxes": [...], "type": "lidar/beta"} or a list of points [[x, y, z], ...]'
            )
        return doc
    if kind in ("gltf", "babylon"):
        _parse_json(data, name, kind, "JSON text")
    elif kind == "glb" and data[:4] != b"glTF":
        raise InvalidMediaError(
            f"Object3D file {name} does not start with b'glTF'; a .glb file is binary glTF — for JSON glTF use .gltf / file_type='gltf'"
        )
    elif kind == "stl":
        binary = len(data) >= 84 and 84 + 50 * int.from_bytes(data[80:84], "little") == len(data)
        if not binary and not data.lstrip()[:5].lower() == b"solid":
            raise InvalidMediaError(
                f"Object3D file {name} is neither binary STL (84-byte header, then 50 bytes per triangle) nor ASCII STL "
                "(starting with 'solid'); check that it is an STL file"
            )
    return None


@register
class Object3D(Media):
    """A 3-D point cloud (optionally a lidar scene with boxes and vectors) or a 3-D model file.

    Parameters
    ----------
    data_or_path : numpy.ndarray, list, dict, str, os.PathLike or file object
        - An ``(n, 3)`` xyz, ``(n, 4)`` xyz + category (integers 1..14) or ``(n, 6)`` xyz + rgb
          (0..255) array, tensor or list of rows: stored losslessly as ``.npy`` in its dtype.
        - A scene dict ``{"points", "boxes", "vectors", "type": "lidar/beta"}``, as
          `from_point_cloud` builds it.
        - The path of a ``.pts.json``, ``.obj``, ``.gltf``, ``.glb``, ``.babylon`` or ``.stl``
          file, or a file object (its format from its ``name``, as ``open(path)`` gives, or
          from ``file_type=``): stored byte for byte.
    caption : str, optional
        Shown with the object; stored in the ``caption`` column.
    file_type : {"pts.json", "obj", "gltf", "glb", "babylon", "stl"}, optional
        The format of a file object without a name (a ``BytesIO``), or of a path or named
        file whose extension does not tell it.

    Attributes
    ----------
    format : str
        ``"npy"`` for points given as arrays or dicts, else the file type.
    num_points : int or None
        Number of points (all are stored); None for model files.
    point_format : {"xyz", "xyzc", "xyzrgb"} or None
    type : str or None
        ``"lidar/beta"`` for scenes (`from_point_cloud`, ``.pts.json``), else None.

    Raises
    ------
    InvalidMediaError
        Wrong shape, a category outside 1..14, a colour outside 0..255, NaN or infinite values,
        a malformed box or vector, an unsupported point cloud type or file type, a file
        object without ``file_type``, or a file whose content does not match its type.
    InvalidMediaTypeError
        A value of the wrong Python type (e.g. a bool array, a str label that is a number).
    MediaFileNotFoundError
        The path does not exist.

    Examples
    --------
    >>> run.log({"point_cloud": ms.Object3D(np.array([[0, 0, 0, 3]]))})
    >>> run.log({"mesh": ms.Object3D.from_file("bunny.obj")})
    """

    kind = "objects3d"
    #: File types stored byte for byte (W&B's ``Object3D.SUPPORTED_TYPES``).
    SUPPORTED_TYPES = tuple(_FILE_MIME)
    #: Scene types `from_point_cloud` accepts.
    SUPPORTED_POINT_CLOUD_TYPES = _SCENE_TYPES

    def __init__(self, data_or_path: Any, caption: str | None = None, *, file_type: FileType | None = None):
        self.caption = check_caption(caption)
        self._points: np.ndarray | None = None
        self._file: bytes | None = None
        self._boxes: list[dict[str, Any]] = []
        self._vectors: list[dict[str, Any]] = []
        self.type: str | None = None
        self.num_points: int | None = None
        self.point_format: str | None = None
        if is_pathlike(data_or_path) or hasattr(data_or_path, "read"):
            self._file, self.format, name = read_source(data_or_path, file_type, "Object3D", _FILE_MIME, _format_of_path)
            scene = _check_file(self._file, self.format, name)
            if isinstance(scene, list):  # a plain list of points: no scene type, no boxes
                self._set_points_header(_check_points(scene, f"Object3D file {name} points"))
            elif scene is not None:
                points, self._boxes, self._vectors, self.type = _check_scene(scene, f"Object3D file {name}")
                self._set_points_header(points)
            return
        if file_type is not None:
            raise InvalidMediaError(
                f"Object3D got file_type={file_type!r} with a {type(data_or_path).__name__}; file_type is for paths and "
                "file objects only — leave it out for arrays and dicts"
            )
        self.format = "npy"
        if isinstance(data_or_path, Mapping):
            self._points, self._boxes, self._vectors, self.type = _check_scene(data_or_path, "Object3D scene dict")
        else:
            self._points = _check_points(data_or_path)
        self._set_points_header(self._points)

    def _set_points_header(self, points: np.ndarray) -> None:
        self.num_points = int(points.shape[0])
        self.point_format = _POINT_FORMATS[points.shape[1]]

    # -- the reference page's constructors ----------------------------------------------------
    @classmethod
    def from_numpy(cls, data: Any, caption: str | None = None) -> "Object3D":
        """A point cloud from an ``(n, 3)``, ``(n, 4)`` or ``(n, 6)`` array.

        Parameters
        ----------
        data : numpy.ndarray or list of rows
            xyz; xyz + category (integers 1..14); or xyz + r, g, b (0..255).
        caption : str, optional

        Returns
        -------
        Object3D

        Examples
        --------
        >>> ms.Object3D.from_numpy(np.array([[0.4, 1, 1.3], [1, 1, 1]]))
        """
        if is_pathlike(data) or isinstance(data, Mapping) or hasattr(data, "read"):
            raise InvalidMediaTypeError(
                f"Object3D.from_numpy takes an (n, 3), (n, 4) or (n, 6) array, got {type(data).__name__} — "
                "for a file use ms.Object3D.from_file, for a scene dict use ms.Object3D.from_point_cloud"
            )
        return cls(data, caption)

    @classmethod
    def from_file(cls, data_or_path: Any, file_type: FileType | None = None, caption: str | None = None) -> "Object3D":
        """A ``.pts.json`` point cloud or a 3-D model file, stored byte for byte.

        Parameters
        ----------
        data_or_path : str, os.PathLike or file object
            A path whose extension is one of ``.pts.json``, ``.obj``, ``.gltf``, ``.glb``,
            ``.babylon``, ``.stl``, or a file object (text or binary; read from its start).
        file_type : {"pts.json", "obj", "gltf", "glb", "babylon", "stl"}, optional
            Required for a file object without a name; overrides a path's extension.
        caption : str, optional

        Returns
        -------
        Object3D

        Examples
        --------
        >>> ms.Object3D.from_file("./my_point_cloud.pts.json")
        >>> ms.Object3D.from_file(io.BytesIO(glb_bytes), file_type="glb")
        """
        if not (is_pathlike(data_or_path) or hasattr(data_or_path, "read")):
            raise InvalidMediaTypeError(
                f"Object3D.from_file takes a path or a file object, got {type(data_or_path).__name__} — "
                "for arrays use ms.Object3D.from_numpy"
            )
        return cls(data_or_path, caption, file_type=file_type)

    @classmethod
    def from_point_cloud(
        cls,
        points: Any,
        boxes: list[Mapping[str, Any]] | None = None,
        vectors: list[Mapping[str, Any]] | None = None,
        point_cloud_type: PointCloudType = "lidar/beta",
        *,
        caption: str | None = None,
    ) -> "Object3D":
        """A lidar scene: points with 3-D boxes and vectors.

        Parameters
        ----------
        points : numpy.ndarray or list of rows
            As for `from_numpy`.
        boxes : list of dict, optional
            ``{"corners": 8 [x, y, z], "color": [r, g, b] (integers 0..255), "label": str
            (optional), "score": number (optional)}``; queryable as ``objects3d.boxes``.
        vectors : list of dict, optional
            ``{"start": [x, y, z], "end": [x, y, z], "color": [r, g, b] (optional)}``.
        point_cloud_type : {"lidar/beta"}
            The scene type; ``"lidar/beta"`` is the only one (as on the reference page).
        caption : str, optional

        Returns
        -------
        Object3D

        Examples
        --------
        >>> ms.Object3D.from_point_cloud(points=pts, boxes=[{"corners": c, "color": [0, 0, 255],
        ...     "label": "car", "score": 0.6}], point_cloud_type="lidar/beta")
        """
        _check_scene_type(point_cloud_type)
        return cls({"points": points, "boxes": boxes, "vectors": vectors, "type": point_cloud_type}, caption)

    # -- engine contract ----------------------------------------------------------------------
    def _encode(self, location) -> dict[str, Any]:
        if self._file is not None:
            blob = location.put_blob(self._file, _FILE_MIME[self.format])
        else:
            blob = location.put_blob(_npy_bytes(self._points), _NPY_MIME)
        # Fresh row dicts: an Object3D may be logged twice.
        return {
            "blob": blob,
            "format": self.format,
            "num_points": self.num_points,
            "point_format": self.point_format,
            "boxes": self.boxes,
            "vectors": self.vectors,
            "type": self.type,
            "caption": self.caption,
        }

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], location) -> "Object3D":
        self = cls.__new__(cls)
        data = location.get_blob(row["blob"])
        self.format = row["format"]
        if self.format == "npy":
            self._points, self._file = np.load(io.BytesIO(data), allow_pickle=False), None
        else:
            self._points, self._file = None, data
        caption, scene_type = row.get("caption"), row.get("type")
        self.caption = None if is_null(caption) else caption
        self.type = None if is_null(scene_type) else scene_type
        num_points, point_format = row.get("num_points"), row.get("point_format")
        self.num_points = None if is_null(num_points) else int(num_points)
        self.point_format = None if is_null(point_format) else point_format
        self._boxes = [
            {
                "corners": [[float(v) for v in corner] for corner in box["corners"]],
                "label": None if is_null(box.get("label")) else box["label"],
                "color": [int(v) for v in box["color"]],
                "score": None if is_null(box.get("score")) else float(box["score"]),
            }
            for box in _rows(row.get("boxes"))
        ]
        self._vectors = [
            {
                "start": [float(v) for v in vector["start"]],
                "end": [float(v) for v in vector["end"]],
                "color": None if _nullish_list(vector.get("color")) else [int(v) for v in vector["color"]],
            }
            for vector in _rows(row.get("vectors"))
        ]
        return self

    def _summary(self) -> dict[str, Any]:
        return {"_kind": self.kind, "format": self.format, "num_points": self.num_points, "point_format": self.point_format}

    # -- the original data back ---------------------------------------------------------------
    def to_numpy(self) -> np.ndarray:
        """The points as given, in their dtype: ``(n, 3)``, ``(n, 4)`` or ``(n, 6)`` (a copy).

        Raises
        ------
        InvalidMediaError
            For model files (``.obj``, ``.gltf``, ...), which have no point array: use
            `file_bytes`.
        """
        if self._points is None:
            if self.format != "pts.json":
                raise InvalidMediaError(
                    f"this Object3D is a .{self.format} model file and has no point array; read its bytes with .file_bytes"
                )
            doc = json.loads(self._file)
            self._points = _check_points(doc if isinstance(doc, list) else doc["points"])
        return self._points.copy()

    @property
    def boxes(self) -> list[dict[str, Any]]:
        """``[{"corners": 8 [x, y, z], "label", "color": [r, g, b], "score"}, ...]`` (copies)."""
        return [{**b, "corners": [list(c) for c in b["corners"]], "color": list(b["color"])} for b in self._boxes]

    @property
    def vectors(self) -> list[dict[str, Any]]:
        """``[{"start": [x, y, z], "end": [x, y, z], "color": [r, g, b] or None}, ...]`` (copies)."""
        return [
            {"start": list(v["start"]), "end": list(v["end"]), "color": None if v["color"] is None else list(v["color"])}
            for v in self._vectors
        ]

    @property
    def file_bytes(self) -> bytes | None:
        """The stored file's bytes for objects from files; None for points given as arrays."""
        return self._file

    # -- Jupyter display ---------------------------------------------------------------------
    def _repr_html_(self) -> str:
        """A summary and, for points, a static top view (x right, y up): dots in their own
        colour (xyzrgb), their category's colour (xyzc) or blue, and each box's outline."""
        fields = {
            "format": self.format, "points": self.num_points, "point format": self.point_format,
            "boxes": len(self._boxes), "vectors": len(self._vectors), "type": self.type,
        }  # fmt: skip
        body = _display.summary_line("Object3D", fields)
        if self._points is not None or self.format == "pts.json":
            points = self.to_numpy().astype(np.float64)
            colours = None
            if points.shape[1] == 6:
                colours = [tuple(int(v) for v in rgb) for rgb in points[:, 3:6]]
            elif points.shape[1] == 4:
                colours = [_display.class_colour(int(c)) for c in points[:, 3]]
            outlines = [
                (np.asarray(b["corners"])[:, :2], tuple(b["color"]), " ".join(
                    t for t in (b["label"], None if b["score"] is None else f"{b['score']:.2f}") if t
                ))
                for b in self._boxes
            ]
            body = _display.points_svg(points[:, :2], colours, 1.5, outlines) + body
        return _display.figure(body, self.caption, css_class="ms-object3d")

    def __repr__(self) -> str:
        what = f"{self.num_points} points {self.point_format}" if self.num_points is not None else "model"
        extra = f", caption={self.caption!r}" if self.caption else ""
        return f"ms.Object3D({self.format}, {what}, {len(self._boxes)} boxes{extra})"


def _rows(value: Any) -> list:
    """A LIST column as DuckDB (list), pandas (numpy array) or Arrow gives it back."""
    if value is None or (isinstance(value, float) and value != value):
        return []
    return list(value)


def _nullish_list(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
