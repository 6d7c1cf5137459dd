"""``ms.Image``: arrays, tensors, PIL images, matplotlib figures and image files, with
segmentation masks and boxes.

Inputs: a numpy array; a torch tensor on any device (``.detach().cpu()``, recognised by class
name: torch is never imported here); anything else with ``__array__`` (TensorFlow, JAX); a PIL
image; a matplotlib ``Figure``, ``Axes`` or the ``matplotlib.pyplot`` module itself (its current
figure), rendered to PNG with ``savefig`` (Agg, no display); another ``ms.Image`` (copied);
or the path of an image file (stored byte for byte in its own format).

Channel rule (W&B's, one rule, documented in the README):

- A 4-D array with a leading axis of 1 loses it. A batch (N > 1) is refused: W&B's current
  release has no grid for it either; ``torchvision.utils.make_grid`` makes one.
- A torch tensor of 3 axes whose first is 1, 3 or 4 is ``(C, H, W)`` (W&B's rule for tensors)
  and is transposed; any other array of 3 axes whose last is 1, 3 or 4 is ``(H, W, C)``
  (W&B's rule for arrays), else one whose first is 1, 3 or 4 is ``(C, H, W)``. Anything else
  is refused.

Dtype rule:

- ``uint8`` is stored as given; ``bool`` becomes mode ``"1"``.
- Other integer dtypes are **not rescaled**: their values must lie in 0..255 (or 0..65535
  with ``mode="I;16"``).
- Floats must be finite. Values all in [0, 1] are scaled by 255; else values all in
  [-1, 1] map linearly to [0, 255]; else values are clipped to [0, 255]. Then rounded.
  With ``normalize=False`` (W&B's switch) floats are pixel values already: they must lie in
  0..255 and are truncated to integers, as W&B's ``astype(np.uint8)`` does.

Arrays, tensors, PIL images and figures are stored as PNG (lossless) unless ``file_type`` asks
for jpeg (lossy), bmp, gif (at most 256 colours), webp (lossless) or tiff; PIL modes PNG cannot
hold (CMYK, F, I, ...) go to TIFF by default.
"""

from __future__ import annotations

import io
import types
import warnings
from collections.abc import Mapping
from typing import Any

from .._lazy import np, PIL
from ..errors import IgnoredArgumentWarning, InvalidMediaError, InvalidMediaTypeError, LossyConversionWarning
from . import _display, _png
from .base import (
    Media,
    as_array,
    check_caption,
    float_pixels_to_uint8,
    is_null,
    is_number,
    is_pathlike,
    is_torch_tensor,
    labels_from_row,
    list_from_row,
    read_path,
    register,
    require_finite,
    text_from_row,
)

__all__ = ["Image", "is_matplotlib", "FILE_TYPES"]

#: Modes PNG stores losslessly; anything else from a PIL image goes to TIFF.
PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I;16"})
_NATURAL_MODE = {1: "L", 3: "RGB", 4: "RGBA"}
_BOX_CORNERS = ("minX", "maxX", "minY", "maxY")
_BOX_CENTER = ("middle", "width", "height")
#: Stored formats a browser shows as they are; others are re-encoded to PNG for display.
_BROWSER_FORMATS = {"png": "image/png", "jpeg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}
#: Opacity of a mask layer over its image: the picture stays visible under the classes.
MASK_OPACITY = 0.5
#: ``file_type=`` for arrays, tensors, PIL images and figures -> the stored format.
FILE_TYPES = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "bmp": "bmp", "gif": "gif", "webp": "webp", "tif": "tiff", "tiff": "tiff"}
#: Modes each non-PNG format stores as they are, and the modes it converts (losing nothing
#: except where `_LOSES_ALPHA` says); any other mode is refused with the formats that hold it.
_FORMAT_MODES = {
    "jpeg": ({"L", "RGB", "CMYK"}, {"1": "L", "P": "RGB", "LA": "L", "RGBA": "RGB"}),
    "bmp": ({"1", "L", "P", "RGB", "RGBA"}, {"LA": "RGBA"}),
    "gif": ({"1", "L", "P"}, {"RGB": "P"}),
    "webp": ({"RGB", "RGBA"}, {"1": "RGB", "L": "RGB", "P": "RGBA", "LA": "RGBA"}),
}
_LOSES_ALPHA = {("jpeg", "LA"), ("jpeg", "RGBA")}
_SAVE_OPTIONS = {
    "jpeg": {},  # Pillow's default quality 75, as W&B's file_type="jpg" gives
    "bmp": {},
    "gif": {},
    "webp": {"lossless": True, "exact": True},  # exact: keep the colour under transparent pixels
    "tiff": {"compression": "tiff_deflate"},
}


def is_matplotlib(value: Any) -> bool:
    """True for a matplotlib object or the ``matplotlib.pyplot`` module (which W&B logs as its
    current figure); by module name, so matplotlib is never imported here."""
    if isinstance(value, types.ModuleType):
        return value.__name__ == "matplotlib.pyplot"
    return (type(value).__module__ or "").startswith("matplotlib.")


def _render_figure(value: Any) -> PIL.Image.Image:
    """A matplotlib figure (or pyplot's current one, or an Axes' figure) rendered to PNG by
    ``savefig``, which draws with Agg for PNG whatever the backend: no display is needed."""
    figure = value.gcf() if isinstance(value, types.ModuleType) else value
    if not hasattr(figure, "savefig"):
        figure = getattr(figure, "figure", None)
    if not hasattr(figure, "savefig"):
        raise InvalidMediaTypeError(
            f"Image got a matplotlib {type(value).__name__}, which belongs to no figure; pass a Figure, an Axes "
            "or matplotlib.pyplot itself (its current figure)"
        )
    buf = io.BytesIO()
    figure.savefig(buf, format="png")
    pil = PIL.Image.open(io.BytesIO(buf.getvalue()))
    pil.load()
    return pil


def _check_file_type(file_type: Any) -> str | None:
    if file_type is None:
        return None
    fmt = FILE_TYPES.get(file_type.lower().lstrip(".")) if isinstance(file_type, str) else None
    if fmt is None:
        raise InvalidMediaError(f"Image file_type {file_type!r} is not supported; use one of {sorted(FILE_TYPES)}")
    return fmt


def _fit_to_format(pil: PIL.Image.Image, fmt: str) -> PIL.Image.Image:
    """``pil`` in a mode ``fmt`` stores, converting where the table above allows."""
    if fmt == "tiff" or (fmt == "png" and pil.mode in PNG_MODES):
        return pil
    keeps, converts = _FORMAT_MODES.get(fmt, (set(), {}))
    if pil.mode in keeps:
        return pil
    if pil.mode not in converts:
        holds = sorted(f for f, (k, c) in {**_FORMAT_MODES, "png": (PNG_MODES, {})}.items() if pil.mode in k or pil.mode in c)
        raise InvalidMediaError(
            f"Image in mode {pil.mode} cannot be stored as {fmt}; use file_type= one of {holds + ['tiff']} "
            "(or leave file_type out)"
        )
    target = converts[pil.mode]
    if (fmt, pil.mode) in _LOSES_ALPHA or (fmt == "jpeg" and "transparency" in pil.info):
        warnings.warn(
            f"Image in mode {pil.mode} stored as jpeg loses its alpha channel (JPEG has none); "
            "use file_type='png' or 'webp' to keep it",
            LossyConversionWarning,
            stacklevel=3,
        )
    if fmt == "webp" and pil.mode == "P" and "transparency" not in pil.info:
        target = "RGB"
    if target == "P":  # gif from RGB: an exact palette when there are at most 256 colours
        if pil.getcolors(256) is None:
            warnings.warn(
                f"Image of {pil.size[0]}x{pil.size[1]} RGB pixels has more than 256 colours; gif stores at most 256, "
                "so its colours are quantized — use file_type='png' or 'webp' to keep them",
                LossyConversionWarning,
                stacklevel=3,
            )
        return pil.convert("P", palette=PIL.Image.Palette.ADAPTIVE, colors=256)
    return pil.convert(target)


def _channels_last(array: np.ndarray, tensor: bool) -> np.ndarray:
    """The channel rule of the module doc: an (H, W) or (H, W, C) view of ``array``."""
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise InvalidMediaError(
                f"Image got a batch of shape {array.shape}; an Image is one picture — tile the batch into one with "
                "torchvision.utils.make_grid(batch), or log a list [ms.Image(x) for x in batch]"
            )
        array = array[0]
    if array.ndim == 3:
        first, last = array.shape[0] in (1, 3, 4), array.shape[2] in (1, 3, 4)
        if first and (tensor or not last):
            array = array.transpose(1, 2, 0)
    return array


def _to_storable_array(array: np.ndarray, mode: str | None, normalize: bool = True) -> np.ndarray:
    """Apply the documented dtype rule; returns uint8 (or bool, or uint16 for I;16)."""
    kind = array.dtype.kind
    if kind == "b":
        return array.copy()
    if kind in "iu":
        if array.dtype == np.uint8:
            return array.copy()  # PIL may share the buffer; the caller may reuse it before encoding
        lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
        top = 65535 if mode == "I;16" else 255
        if lo < 0 or hi > top:
            raise InvalidMediaError(
                f"Image array of dtype {array.dtype} has values from {lo} to {hi}; integer arrays are not "
                f"rescaled and must lie in 0..{top} — convert to uint8 yourself, pass floats in [0, 1], "
                "or pass mode='I;16' for 16-bit grayscale"
            )
        return array.astype(np.uint16 if mode == "I;16" else np.uint8)
    if kind == "f":
        if normalize:
            return float_pixels_to_uint8(array, "Image", "images")
        require_finite(array, "Image", "value(s)", "images")
        lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if lo < 0.0 or hi > 255.0:
            raise InvalidMediaError(
                f"Image array with normalize=False has values from {lo:g} to {hi:g}; unnormalized floats are pixel "
                "values and must lie in 0..255 — clip them (np.clip(array, 0, 255)), or leave normalize=True to "
                "rescale [0, 1] or [-1, 1]"
            )
        return array.astype(np.uint8)  # truncates, as W&B's astype(np.uint8) does
    raise InvalidMediaTypeError(
        f"Image array has dtype {array.dtype}; expected an integer, bool or float dtype — convert it with .astype(np.uint8)"
    )


def _pil_from_array(data: np.ndarray, mode: str | None, normalize: bool = True, tensor: bool = False) -> PIL.Image.Image:
    shape = data.shape
    data = _channels_last(data, tensor)
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[2] not in (3, 4)):
        raise InvalidMediaError(
            f"Image array has shape {shape}; expected (H, W), (H, W, C) or (C, H, W) with C in 1, 3, 4 — "
            "reshape it to one of these"
        )
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise InvalidMediaError(f"Image array has shape {data.shape}; an image needs at least one pixel")
    if mode is not None and mode not in PNG_MODES:
        raise InvalidMediaError(
            f"Image mode {mode!r} cannot be stored losslessly from an array; use one of {sorted(PNG_MODES)}, "
            "or pass a PIL image in that mode"
        )
    data = np.ascontiguousarray(_to_storable_array(data, mode, normalize))
    if data.dtype == np.bool_:
        pil = PIL.Image.fromarray(data)  # mode "1"
    elif data.ndim == 2 and mode in ("P", "I;16"):
        # Keep the values: as palette indices, or as 16-bit samples.
        pil = PIL.Image.frombytes(mode, (data.shape[1], data.shape[0]), data.tobytes())
        if mode == "P":  # a full grayscale palette, so PNG keeps every index as it is
            pil.putpalette([v for i in range(256) for v in (i, i, i)])
    else:
        pil = PIL.Image.fromarray(data)
    if mode is not None and pil.mode != mode:
        pil = pil.convert(mode)
    return pil


def _png_bytes(pil: PIL.Image.Image, compress_level: int = 6) -> bytes:
    """PNG bytes of ``pil``: through `_png` (both cores, see there) for the modes it writes,
    unless the image carries what only Pillow's writer keeps (a transparent colour, an ICC
    profile); through Pillow otherwise (modes 1 and P)."""
    if pil.mode in _png.SUPPORTED and "transparency" not in pil.info and "icc_profile" not in pil.info:
        return _png.encode(np.asarray(pil), compress_level)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def _check_mask(name: str, spec: Any, size: tuple[int, int]) -> tuple[np.ndarray, dict[int, str]]:
    if not isinstance(spec, Mapping):
        raise InvalidMediaTypeError(
            f"mask {name!r} must be a dict with 'mask_data' (2-D class-id array) or 'path', got {type(spec).__name__}"
        )
    if ("mask_data" in spec) == ("path" in spec):
        raise InvalidMediaError(f"mask {name!r} needs exactly one of 'mask_data' (2-D class-id array) or 'path' (mask image file)")
    if "path" in spec:
        raw = read_path(spec["path"], f"mask {name!r} path")
        try:
            with PIL.Image.open(io.BytesIO(raw)) as pil:
                if pil.mode not in ("1", "L", "P", "I", "I;16"):
                    raise InvalidMediaError(
                        f"mask {name!r} file {str(spec['path'])!r} has mode {pil.mode}; a mask is one class id per pixel "
                        "(mode L or P, 0..255) — save it as an 8-bit grayscale or palette PNG"
                    )
                data = np.asarray(pil)
        except PIL.UnidentifiedImageError:
            raise InvalidMediaError(f"mask {name!r} file {str(spec['path'])!r} is not an image Pillow can read") from None
    else:
        data = None if isinstance(spec["mask_data"], str) else as_array(spec["mask_data"])
        if data is None:
            raise InvalidMediaTypeError(
                f"mask {name!r} mask_data must be a 2-D array of class ids, got {type(spec['mask_data']).__name__}"
            )
    if data.ndim != 2:
        raise InvalidMediaError(f"mask {name!r} has shape {data.shape}; a mask is a 2-D (height, width) array of class ids")
    if data.dtype.kind not in "iub":
        raise InvalidMediaError(
            f"mask {name!r} has dtype {data.dtype}; class ids are integers 0..255 — convert with .astype(np.uint8)"
        )
    height, width = size[1], size[0]
    if data.shape != (height, width):
        raise InvalidMediaError(
            f"mask {name!r} has shape {data.shape}; the image is {height}x{width} (height x width) — "
            "a mask must have the image's (height, width)"
        )
    if data.dtype != np.uint8 and data.size:
        lo, hi = int(data.min()), int(data.max())
        if lo < 0 or hi > 255:
            raise InvalidMediaError(f"mask {name!r} has class ids from {lo} to {hi}; class ids must lie in 0..255")
    data = np.array(data, dtype=np.uint8)  # always a private copy: encoding runs later
    labels = _check_labels(spec.get("class_labels"), f"mask {name!r}")
    for class_id in np.unique(data).tolist():
        labels.setdefault(class_id, f"class_{class_id}")
    return data, labels


def _check_labels(labels: Any, where: str) -> dict[int, str]:
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise InvalidMediaTypeError(f"{where} class_labels must be a dict of int class id to str label, got {type(labels).__name__}")
    out = {}
    for class_id, label in labels.items():
        if isinstance(class_id, (bool, np.bool_)) or not isinstance(class_id, (int, np.integer)):
            raise InvalidMediaTypeError(f"{where} class_labels key {class_id!r} is not an int class id")
        if not isinstance(label, str):
            raise InvalidMediaTypeError(f"{where} class_labels[{class_id}] is {label!r}; labels must be str")
        out[int(class_id)] = label
    return out


def _number(box: Mapping, field: str, where: str, value: Any) -> float:
    if not is_number(value):
        raise InvalidMediaError(f"{where} field {field!r} is {value!r}; it must be a number")
    value = float(value)
    if not np.isfinite(value):
        raise InvalidMediaError(f"{where} field {field!r} is {value}; it must be finite")
    return value


def _check_box(index: int, box: Any, set_name: str, labels: dict[int, str]) -> dict[str, Any]:
    where = f"box {index} of {set_name!r}"
    if not isinstance(box, Mapping):
        raise InvalidMediaTypeError(f"{where} must be a dict with 'position' and 'class_id', got {type(box).__name__}")
    position = box.get("position")
    if not isinstance(position, Mapping):
        raise InvalidMediaError(
            f"{where} has no 'position' dict; give {{'minX', 'maxX', 'minY', 'maxY'}} or {{'middle': [x, y], 'width', 'height'}}"
        )
    if all(k in position for k in _BOX_CORNERS):
        min_x, max_x, min_y, max_y = (_number(position, k, where, position[k]) for k in _BOX_CORNERS)
    elif all(k in position for k in _BOX_CENTER):
        middle = position["middle"]
        if not isinstance(middle, (list, tuple, np.ndarray)) or len(middle) != 2:
            raise InvalidMediaError(f"{where} field 'middle' is {middle!r}; it must be [x, y]")
        mx, my = (_number(position, "middle", where, v) for v in middle)
        width = _number(position, "width", where, position["width"])
        height = _number(position, "height", where, position["height"])
        if width < 0 or height < 0:
            raise InvalidMediaError(f"{where} has width {width} and height {height}; both must be >= 0")
        min_x, max_x, min_y, max_y = mx - width / 2, mx + width / 2, my - height / 2, my + height / 2
    else:
        have = sorted(position)
        missing = [k for k in _BOX_CORNERS if k not in position] if any(k in position for k in _BOX_CORNERS) else [
            k for k in _BOX_CENTER if k not in position
        ]
        raise InvalidMediaError(
            f"{where} position has {have}, missing {missing}; give all of minX, maxX, minY, maxY or all of middle, width, height"
        )
    if min_x > max_x or min_y > max_y:
        raise InvalidMediaError(f"{where} has minX {min_x} > maxX {max_x} or minY {min_y} > maxY {max_y}; swap them")
    domain = box.get("domain")
    if domain not in (None, "pixel"):
        raise InvalidMediaError(f"{where} field 'domain' is {domain!r}; use 'pixel' or leave it out for fractions of the image")
    if "class_id" not in box:
        raise InvalidMediaError(f"{where} has no 'class_id'; every box needs an int class id")
    class_id = box["class_id"]
    if isinstance(class_id, (float, np.floating)) and float(class_id).is_integer():
        class_id = int(class_id)
    if isinstance(class_id, (bool, np.bool_)) or not isinstance(class_id, (int, np.integer)):
        raise InvalidMediaError(f"{where} field 'class_id' is {class_id!r}; it must be an integer")
    class_id = int(class_id)
    scores = box.get("scores")
    if scores is not None:
        if not isinstance(scores, Mapping):
            raise InvalidMediaTypeError(f"{where} field 'scores' is {scores!r}; it must be a dict of score name to number")
        scores = {str(k): _number(scores, f"scores[{k!r}]", where, v) for k, v in scores.items()}
    caption = box.get("box_caption")
    if caption is not None and not isinstance(caption, str):
        raise InvalidMediaTypeError(f"{where} field 'box_caption' is {caption!r}; it must be a str")
    return {
        "name": set_name,
        "min_x": min_x,
        "max_x": max_x,
        "min_y": min_y,
        "max_y": max_y,
        "domain": "pixel" if domain == "pixel" else "fraction",
        "class_id": class_id,
        "label": labels.get(class_id, f"class_{class_id}"),
        "caption": caption,
        "scores": scores,
    }


def _check_boxes(name: str, spec: Any) -> tuple[list[dict], dict[int, str]]:
    if not isinstance(spec, Mapping) or "box_data" not in spec:
        raise InvalidMediaError(f"boxes {name!r} must be a dict with 'box_data' (a list of boxes) and optional 'class_labels'")
    box_data = spec["box_data"]
    if not isinstance(box_data, (list, tuple)):
        raise InvalidMediaTypeError(f"boxes {name!r} box_data must be a list of dicts, got {type(box_data).__name__}")
    labels = _check_labels(spec.get("class_labels"), f"boxes {name!r}")
    return [_check_box(i, box, name, labels) for i, box in enumerate(box_data)], labels


@register
class Image(Media):
    """An image to log, with optional segmentation masks and bounding boxes.

    Parameters
    ----------
    data_or_path : numpy.ndarray, torch.Tensor, PIL.Image.Image, matplotlib Figure, ms.Image, str or os.PathLike
        Pixels as an (H, W), (H, W, C) or (C, H, W) array or tensor with C in 1, 3, 4 (see the
        module doc for the channel and dtype rules); a PIL image (kept in its mode); a
        matplotlib figure or axes, or ``matplotlib.pyplot`` (its current figure), rendered to
        PNG; another ``ms.Image``, whose pixels (not masks or boxes, as in W&B) are copied;
        or the path of an image file (stored byte for byte in its own format).
    mode : str, optional
        PIL mode to store an array in (default: L, RGB or RGBA from the channel count). For a
        one-channel array, ``"P"`` keeps values as palette indices and ``"I;16"`` keeps 16-bit
        values; other modes convert with ``PIL.Image.convert``. A PIL image (or a copied
        ``ms.Image``) given with ``mode`` is converted to it.
    caption : str, optional
        Shown with the image; stored in the ``caption`` column.
    masks : dict, optional
        ``{name: {"mask_data": 2-D class-id array} | {"path": mask file}, "class_labels": {id: label}}``.
        Stored as PNG. Class ids 0..255; labels default to ``class_<id>``.
    boxes : dict, optional
        ``{name: {"box_data": [box, ...], "class_labels": {id: label}}}``; each box has
        ``position`` (``minX/maxX/minY/maxY`` or ``middle/width/height``), ``class_id``, and
        optionally ``scores``, ``box_caption``, ``domain="pixel"`` (default: fractions).
    file_type : {"png", "jpg", "jpeg", "bmp", "gif", "webp", "tiff"}, optional
        Format to store pixels (arrays, tensors, PIL images, figures) in. Default PNG: lossless,
        and what W&B writes. ``"jpg"`` is **lossy** (Pillow's quality 75, as W&B gives):
        ``store.decode(row).to_numpy()`` is then close to, not equal to, the pixels logged, and
        an alpha channel is dropped with a `LossyConversionWarning`. ``"gif"`` keeps at most 256
        colours (more are quantized, with that warning); ``"webp"`` is stored lossless. A file
        given by path keeps its own format: ``file_type`` then warns
        (`IgnoredArgumentWarning`) and is ignored, as W&B ignores it.
    normalize : bool
        W&B's switch, default True: floats are rescaled by the dtype rule. False takes float
        values as pixel values already: they must lie in 0..255 (else an error, where W&B
        wraps them around) and are truncated to integers. Integers are never rescaled.

    Raises
    ------
    InvalidMediaError, InvalidMediaTypeError, MediaFileNotFoundError
        On bad input; the message names the value and the fix.

    Examples
    --------
    >>> img = ms.Image(np.zeros((32, 32, 3), np.uint8), caption="black")
    >>> run.log({"examples": img})
    """

    kind = "images"
    WARN_PER_STEP = 50
    per_step_reason = "the reference page recommends fewer than 50 images per step so that logging and viewing stay fast"

    def __init__(
        self,
        data_or_path: Any,
        mode: str | None = None,
        caption: str | None = None,
        *,
        masks: Mapping[str, Mapping] | None = None,
        boxes: Mapping[str, Mapping] | None = None,
        file_type: str | None = None,
        normalize: bool = True,
    ):
        if not isinstance(normalize, (bool, np.bool_)):
            raise InvalidMediaTypeError(f"Image normalize is {normalize!r}; it must be True or False")
        fmt = _check_file_type(file_type)
        self._pil: PIL.Image.Image | None = None
        self._file: bytes | None = None
        if isinstance(data_or_path, Image):
            source = data_or_path
            caption = source.caption if caption is None else caption
            if source._pil is not None or fmt is not None or mode is not None:
                data_or_path = source.to_pil()  # then handled as a PIL image: mode and file_type apply
            else:  # a file, or an image read back from a store: its bytes as they are
                self._file = source._file
                self.width, self.height, self.mode = source.width, source.height, source.mode
                self.channels, self.format = source.channels, source.format
        elif is_matplotlib(data_or_path):
            data_or_path = _render_figure(data_or_path)
        self.caption = check_caption(caption)
        if self._file is not None:
            pass
        elif isinstance(data_or_path, PIL.Image.Image):
            self._pil = data_or_path.copy()
            if mode is not None and self._pil.mode != mode:
                self._pil = self._pil.convert(mode)
        elif is_pathlike(data_or_path):
            self._file = read_path(data_or_path, "Image file")
            try:
                with PIL.Image.open(io.BytesIO(self._file)) as probe:
                    self._pil_header(probe)
            except PIL.UnidentifiedImageError:
                raise InvalidMediaError(f"Image file {str(data_or_path)!r} is not an image format Pillow can read") from None
            if fmt is not None and fmt != self.format:
                warnings.warn(
                    f"Image file_type={file_type!r} is ignored for the file {str(data_or_path)!r}: a file is stored byte for "
                    f"byte in its own format ({self.format}); convert it yourself, or pass its pixels "
                    "(ms.Image(PIL.Image.open(path), file_type=...))",
                    IgnoredArgumentWarning,
                    stacklevel=2,
                )
        else:
            array = as_array(data_or_path)
            if array is None:
                raise InvalidMediaTypeError(
                    "Image takes a numpy array, a tensor, a PIL image, a matplotlib figure, an ms.Image or a file path, "
                    f"got {type(data_or_path).__name__}"
                )
            self._pil = _pil_from_array(array, mode, bool(normalize), is_torch_tensor(data_or_path))
        if self._pil is not None:
            default = "png" if self._pil.mode in PNG_MODES else "tiff"
            self._pil = _fit_to_format(self._pil, fmt or default)
            self._pil_header(self._pil)
            self.format = fmt or default
        for arg, value in (("masks", masks), ("boxes", boxes)):
            if value is not None and not isinstance(value, Mapping):
                raise InvalidMediaTypeError(f"{arg} must be a dict of name to spec, got {type(value).__name__}")
        size = (self.width, self.height)
        self._masks = {self._name(n, "mask"): _check_mask(n, s, size) for n, s in (masks or {}).items()}
        self._boxes = {self._name(n, "boxes"): _check_boxes(n, s) for n, s in (boxes or {}).items()}

    @staticmethod
    def _name(name: Any, what: str) -> str:
        if not isinstance(name, str) or not name:
            raise InvalidMediaTypeError(f"{what} names must be non-empty str, got {name!r}")
        return name

    # -- equality by value, as W&B's Image has it -------------------------------------------
    def __eq__(self, other: object) -> bool:
        """Equal when size, mode, caption, pixels, masks and boxes are equal (the stored format
        and the way the image was given do not count: a PNG file equals its pixels)."""
        if not isinstance(other, Image):
            return NotImplemented
        if (self.width, self.height, self.mode, self.caption) != (other.width, other.height, other.mode, other.caption):
            return False
        if self.boxes != other.boxes or self._masks.keys() != other._masks.keys():
            return False
        for name, (mask, labels) in self._masks.items():
            other_mask, other_labels = other._masks[name]
            if labels != other_labels or not np.array_equal(mask, other_mask):
                return False
        return np.array_equal(self.to_numpy(), other.to_numpy())

    def __hash__(self) -> int:
        # Only what __eq__ compares first: equal images hash alike without decoding pixels.
        return hash((self.width, self.height, self.mode, self.caption))

    def _pil_header(self, pil: PIL.Image.Image) -> None:
        self.width, self.height = pil.size
        self.mode = pil.mode
        self.channels = len(pil.getbands())
        self.format = (pil.format or "png").lower()

    # -- engine contract -------------------------------------------------------------------
    def _encode(self, location) -> dict[str, Any]:
        if self._file is not None:
            data = self._file
            mime = PIL.Image.MIME.get(self.format.upper(), "application/octet-stream")
        elif self.format == "png":
            data, mime = _png_bytes(self._pil, location.png_compress_level), "image/png"
        else:
            buf = io.BytesIO()
            self._pil.save(buf, format=self.format.upper(), **_SAVE_OPTIONS[self.format])
            data, mime = buf.getvalue(), PIL.Image.MIME[self.format.upper()]
        mode, channels = self.mode, self.channels
        if self._file is None and self.format == "gif":  # Pillow may read a grey palette back as L
            with PIL.Image.open(io.BytesIO(data)) as probe:
                mode, channels = probe.mode, len(probe.getbands())
        masks = [
            {
                "name": name,
                "blob": location.put_blob(_png.encode(mask, location.png_compress_level), "image/png"),
                "class_labels": sorted(labels.items()),
            }
            for name, (mask, labels) in self._masks.items()
        ]
        # An Image may be logged twice: build new row dicts, never change the validated ones.
        boxes = [
            {**box, "scores": None if box["scores"] is None else list(box["scores"].items())}
            for box_list, _ in self._boxes.values()
            for box in box_list
        ]
        return {
            "blob": location.put_blob(data, mime),
            "width": self.width,
            "height": self.height,
            "channels": channels,
            "mode": mode,
            "format": self.format,
            "caption": self.caption,
            "masks": masks,
            "boxes": boxes,
            "box_sets": [{"name": n, "class_labels": sorted(labels.items())} for n, (_, labels) in self._boxes.items()],
        }

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], location) -> "Image":
        self = cls.__new__(cls)
        self._file = location.get_blob(row["blob"])
        self._pil = None
        self.caption = text_from_row(row.get("caption"))
        with PIL.Image.open(io.BytesIO(self._file)) as probe:
            self._pil_header(probe)
        self._masks = {}
        for mask in list_from_row(row.get("masks")):
            with PIL.Image.open(io.BytesIO(location.get_blob(mask["blob"]))) as pil:
                data = np.asarray(pil)
            labels = {int(k): v for k, v in labels_from_row(mask["class_labels"]).items()}
            self._masks[mask["name"]] = (data, labels)
        self._boxes = {}
        for box_set in list_from_row(row.get("box_sets")):
            labels = {int(k): v for k, v in labels_from_row(box_set["class_labels"]).items()}
            self._boxes[box_set["name"]] = ([], labels)
        for box in list_from_row(row.get("boxes")):
            box = dict(box)
            box["scores"] = None if is_null(box.get("scores")) else labels_from_row(box["scores"])
            box["caption"] = text_from_row(box.get("caption"))
            self._boxes.setdefault(box["name"], ([], {}))[0].append(box)
        return self

    def _summary(self) -> dict[str, Any]:
        return {"_kind": self.kind, "width": self.width, "height": self.height, "format": self.format}

    # -- the original data back -------------------------------------------------------------
    def to_pil(self) -> PIL.Image.Image:
        """The image as a PIL image (a copy)."""
        if self._pil is not None:
            return self._pil.copy()
        pil = PIL.Image.open(io.BytesIO(self._file))
        pil.load()
        return pil

    def to_numpy(self) -> np.ndarray:
        """The pixels as a numpy array: (H, W) for one band, (H, W, C) otherwise."""
        return np.asarray(self.to_pil())

    @property
    def file_bytes(self) -> bytes | None:
        """The stored file's bytes, for images logged from a path or read back from a store."""
        return self._file

    @property
    def masks(self) -> dict[str, dict[str, Any]]:
        """``{name: {"mask_data": uint8 array, "class_labels": {id: label}}}``."""
        return {n: {"mask_data": m.copy(), "class_labels": dict(l)} for n, (m, l) in self._masks.items()}

    @property
    def boxes(self) -> dict[str, dict[str, Any]]:
        """``{name: {"box_data": [...], "class_labels": {...}}}`` in the minX/maxX/minY/maxY form."""
        out = {}
        for name, (boxes, labels) in self._boxes.items():
            data = []
            for b in boxes:
                item: dict[str, Any] = {
                    "position": {"minX": b["min_x"], "maxX": b["max_x"], "minY": b["min_y"], "maxY": b["max_y"]},
                    "class_id": b["class_id"],
                }
                if b["domain"] == "pixel":
                    item["domain"] = "pixel"
                if b.get("caption") is not None:
                    item["box_caption"] = b["caption"]
                if b.get("scores") is not None:
                    item["scores"] = dict(b["scores"])
                data.append(item)
            out[name] = {"box_data": data, "class_labels": dict(labels)}
        return out

    # -- Jupyter display ---------------------------------------------------------------------
    def _repr_html_(self) -> str:
        """The picture with each mask as a coloured, semi-transparent layer and each box set as
        SVG rectangles over it (not burned into the pixels), the caption and a legend."""
        return self._html(_display.DISPLAY_SIDE, font_size=11, with_legend=True)

    def _thumbnail_html(self) -> str:
        return self._html(_display.THUMBNAIL_SIDE, font_size=8, with_legend=False)

    @classmethod
    def _row_html(cls, row: Mapping[str, Any], location) -> str:
        return cls._from_row(row, location)._thumbnail_html()

    def _picture_uri(self, max_side: int) -> str:
        mime = _BROWSER_FORMATS.get(self.format)
        small = max(self.width, self.height) <= max_side and len(self._file or b"") <= _display.MAX_EMBED_BYTES
        shown_as_is = self._file is not None and mime is not None and self.mode in _display.BROWSER_MODES
        if shown_as_is and small:
            return _display.data_uri(self._file, mime)  # the stored bytes as they are
        return _display.png_data_uri(self.to_pil(), max_side)

    def _html(self, max_side: int, *, font_size: int, with_legend: bool) -> str:
        width, height = _display.display_size(self.width, self.height, max_side)
        fill = "position:absolute;left:0;top:0;width:100%;height:100%"
        # Upscaled small images keep sharp pixels, so a mask edge sits on a pixel edge.
        rendering = ";image-rendering:pixelated" if width > self.width else ""
        layers = [
            f'<img class="ms-picture" src="{self._picture_uri(max(width, height))}" '
            f'alt="{_display.escape(self.caption or "image")}" style="{fill}{rendering}">'
        ]
        legends = []
        for name, (mask, labels) in self._masks.items():
            layers.append(
                f'<img class="ms-mask" data-name="{_display.escape(name)}" src="{_mask_uri(mask, max(width, height))}" '
                f'alt="mask {_display.escape(name)}" style="{fill};opacity:{MASK_OPACITY}{rendering}">'
            )
            legends.append(_display.legend(f"{name} (mask)", {i: l for i, l in labels.items() if i != 0}))
        for name, (boxes, labels) in self._boxes.items():
            layers.append(self._boxes_svg(name, boxes, width, height, font_size))
            legends.append(_display.legend(f"{name} (boxes)", {**labels, **{b["class_id"]: b["label"] for b in boxes}}))
        body = f'<div class="ms-layers" style="position:relative;width:{width}px;height:{height}px">{"".join(layers)}</div>'
        return _display.figure(body + ("".join(legends) if with_legend else ""), self.caption, css_class="ms-image")

    def _boxes_svg(self, name: str, boxes: list[dict], width: int, height: int, font_size: int) -> str:
        """One box set as an SVG layer in display pixels: fractions scale by the display size,
        pixel coordinates by display size over image size."""
        shapes = []
        for box in boxes:
            sx, sy = (width / self.width, height / self.height) if box["domain"] == "pixel" else (width, height)
            x, y = box["min_x"] * sx, box["min_y"] * sy
            w, h = (box["max_x"] - box["min_x"]) * sx, (box["max_y"] - box["min_y"]) * sy
            colour = "rgb({},{},{})".format(*_display.class_colour(box["class_id"]))
            scores = box.get("scores") or {}
            score = " ".join(f"{v:.2f}" if len(scores) == 1 else f"{k}={v:.2f}" for k, v in scores.items())
            text = " ".join(t for t in (box.get("caption") or box["label"], score) if t)
            shapes.append(
                f'<g class="ms-box"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="none" '
                f'stroke="{colour}" stroke-width="2"/><text x="{x + 2:.1f}" y="{y + font_size:.1f}" font-size="{font_size}" '
                f'font-family="sans-serif" fill="{colour}" stroke="white" stroke-width="2" paint-order="stroke">'
                f"{_display.escape(text)}</text></g>"
            )
        return (
            f'<svg class="ms-boxes" data-name="{_display.escape(name)}" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" style="position:absolute;left:0;top:0;overflow:hidden">{"".join(shapes)}</svg>'
        )

    def __repr__(self) -> str:
        extra = f", caption={self.caption!r}" if self.caption else ""
        return f"ms.Image({self.width}x{self.height} {self.mode} {self.format}{extra})"


def _mask_uri(mask: np.ndarray, max_side: int) -> str:
    """A mask as an RGBA PNG data URI: each class id in its colour, class 0 transparent."""
    lut = np.zeros((256, 4), np.uint8)
    for class_id in range(1, 256):
        lut[class_id] = (*_display.class_colour(class_id), 255)
    return _display.png_data_uri(PIL.Image.fromarray(lut[mask]), max_side, resample=PIL.Image.Resampling.NEAREST)
