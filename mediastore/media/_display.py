"""HTML for Jupyter (``_repr_html_``): the pieces every media type and result frame share.

Everything a user wrote (captions, labels, keys, cells, logged HTML) goes through `escape`
before it reaches the page. Pictures are PNG data URIs, bounded in size so that a notebook
stays small; overlays are separate layers over the picture, never burned into its pixels.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from .._lazy import np, PIL

__all__ = [
    "escape",
    "data_uri",
    "class_colour",
    "browser_pil",
    "png_data_uri",
    "figure",
    "legend",
    "summary_line",
    "embedded_bytes",
    "points_svg",
    "html_table",
    "frame_html",
    "more_rows",
    "cell_html",
    "blob_html",
]

#: Longest side, in pixels, of a picture shown by ``_repr_html_``; larger ones are downscaled.
DISPLAY_SIDE = 512
#: Longest side of a thumbnail in a table cell or a query result.
THUMBNAIL_SIDE = 96
#: Media bytes above this are described instead of embedded (a notebook keeps every output).
MAX_EMBED_BYTES = 8 * 1024 * 1024
#: Longest text shown in a table cell before it is cut with an ellipsis.
MAX_CELL_CHARS = 200
#: Rows a table shows; a note under it counts the rest.
MAX_TABLE_ROWS = 20
#: Points drawn in a static 3-D projection; more are subsampled evenly.
MAX_DRAWN_POINTS = 2000

# Distinct colours for class ids (Tableau's 10, then 10 more), id modulo their number.
_PALETTE = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
)  # fmt: skip
#: PIL modes a browser shows as they are (16-bit PNGs it shows, but cut to their top 8 bits).
BROWSER_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA"})
_STYLE_TEXT = "font:12px sans-serif;color:#444"


def escape(value: Any) -> str:
    """Any value as text safe inside HTML content and quoted attributes."""
    return html.escape(str(value), quote=True)


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def class_colour(class_id: int) -> tuple[int, int, int]:
    """The colour of a class id, the same for its mask pixels, its boxes and the legend."""
    return _PALETTE[int(class_id) % len(_PALETTE)]


def _css(colour: tuple[int, int, int]) -> str:
    return "rgb({},{},{})".format(*colour)


def browser_pil(pil: PIL.Image.Image) -> PIL.Image.Image:
    """A mode every browser shows: 16-bit, 32-bit and float images are stretched from their
    own min..max to 0..255 (their raw values would be white or black); CMYK and the like are
    converted to RGB."""
    if pil.mode in BROWSER_MODES:
        return pil
    if pil.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(pil, dtype=np.float64)
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
        scaled = (values - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(values)
        return PIL.Image.fromarray(np.rint(scaled).astype(np.uint8))
    return pil.convert("RGBA" if "A" in pil.getbands() else "RGB")


def png_data_uri(pil: PIL.Image.Image, max_side: int, *, resample: int | None = None) -> str:
    """A PNG data URI of ``pil`` in a browser mode, downscaled (aspect kept) to fit ``max_side``
    (with ``resample``, LANCZOS by default)."""
    pil = browser_pil(pil)
    if max(pil.size) > max_side:
        scale = max_side / max(pil.size)
        size = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
        if pil.mode in ("1", "P"):
            resample = PIL.Image.Resampling.NEAREST
        elif resample is None:
            resample = PIL.Image.Resampling.LANCZOS
        pil = pil.resize(size, resample)
    buf = io.BytesIO()
    pil.save(buf, format="PNG")
    return data_uri(buf.getvalue(), "image/png")


def display_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """On-screen size: large pictures shrink to ``max_side``; tiny ones grow by a whole factor
    (drawn pixelated) so that a 32x32 image and its boxes can be read."""
    side = max(width, height, 1)
    scale = max_side / side if side > max_side else max(1, (max_side // 2) // side)
    return max(1, round(width * scale)), max(1, round(height * scale))


def figure(body: str, caption: str | None = None, *, css_class: str) -> str:
    """A media item: its body, then its caption (escaped) underneath."""
    under = f'<figcaption style="{_STYLE_TEXT}">{escape(caption)}</figcaption>' if caption else ""
    return f'<figure class="{css_class}" style="margin:4px;display:inline-block;vertical-align:top">{body}{under}</figure>'


def legend(title: str, labels: Mapping[int, str]) -> str:
    """One legend line: a title and a colour swatch per class label."""
    items = "".join(
        f'<span style="margin-right:8px"><span style="display:inline-block;width:10px;height:10px;'
        f'background:{_css(class_colour(class_id))};margin-right:3px"></span>{escape(label)}</span>'
        for class_id, label in sorted(labels.items())
    )
    return f'<div class="ms-legend" style="{_STYLE_TEXT}"><b>{escape(title)}</b>: {items}</div>'


def summary_line(kind: str, fields: Mapping[str, Any]) -> str:
    """``kind · name value · ...`` for the fields that are set, escaped."""
    parts = [f"{escape(k)} {escape(v)}" for k, v in fields.items() if v is not None]
    return f'<div class="ms-summary" style="{_STYLE_TEXT}"><b>{escape(kind)}</b> · {" · ".join(parts)}</div>'


def embedded_bytes(data: bytes, mime: str, tag: str, what: str) -> str:
    """A player (``audio``/``video``) or an ``img`` with the bytes as a data URI; above
    `MAX_EMBED_BYTES` a sentence saying how to get them instead."""
    if len(data) > MAX_EMBED_BYTES:
        return (
            f'<div style="{_STYLE_TEXT}">{escape(what)} of {len(data) / 2**20:.1f} MiB is not embedded '
            f"(more than {MAX_EMBED_BYTES // 2**20} MiB); read it with .file_bytes</div>"
        )
    src = data_uri(data, mime)
    if tag == "img":
        return f'<img src="{src}" alt="{escape(what)}" style="max-width:{DISPLAY_SIDE}px">'
    return f'<{tag} controls src="{src}" style="max-width:{DISPLAY_SIDE}px"></{tag}>'


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Andrew's monotone chain over (n, 2) points: the outline of a projected 3-D box."""
    pts = sorted(set(map(tuple, points.tolist())))
    if len(pts) < 3:
        return np.array(pts)

    def half(seq):
        out: list = []
        for p in seq:
            while len(out) >= 2 and (out[-1][0] - out[-2][0]) * (p[1] - out[-2][1]) - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0]) <= 0:
                out.pop()
            out.append(p)
        return out[:-1]

    return np.array(half(pts) + half(reversed(pts)))


def points_svg(
    xy: np.ndarray,
    colours: Sequence[tuple[int, int, int]] | None,
    radius: float,
    outlines: Sequence[tuple[np.ndarray, tuple[int, int, int], str | None]] = (),
    size: int = 240,
) -> str:
    """A static top view: ``xy`` (n, 2) as dots (one colour each, or a default), and
    ``outlines`` as (points (m, 2), colour, label) polygons around their convex hull. At most
    `MAX_DRAWN_POINTS` dots, evenly subsampled, so the SVG stays small."""
    every = max(1, math.ceil(len(xy) / MAX_DRAWN_POINTS))
    shown = xy[::every]
    colours = None if colours is None else list(colours)[::every]
    extent = np.concatenate([xy, *[o[0] for o in outlines]]) if outlines else xy
    lo, hi = extent.min(axis=0), extent.max(axis=0)
    scale = (size - 20) / max(float((hi - lo).max()), 1e-12)

    def project(p: np.ndarray) -> np.ndarray:
        # SVG's y grows downwards: flip so that +y points up as in the data.
        return np.column_stack([10 + (p[:, 0] - lo[0]) * scale, size - 10 - (p[:, 1] - lo[1]) * scale])

    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{_css(colours[i]) if colours else "#1f77b4"}"/>'
        for i, (x, y) in enumerate(project(shown))
    )
    shapes = []
    for corners, colour, label in outlines:
        hull = project(_convex_hull(np.asarray(corners, dtype=np.float64)))
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in hull)
        shapes.append(f'<polygon points="{path}" fill="none" stroke="{_css(colour)}" stroke-width="1.5"/>')
        if label:
            x, y = hull[:, 0].min(), hull[:, 1].min()
            shapes.append(f'<text x="{x:.1f}" y="{max(y - 2, 9):.1f}" font-size="10" fill="{_css(colour)}">{escape(label)}</text>')
    return (
        f'<svg class="ms-projection" width="{size}" height="{size}" viewBox="0 0 {size} {size}" '
        f'style="background:#fafafa;border:1px solid #ddd">{dots}{"".join(shapes)}</svg>'
    )


# -- tables: ms.Table, store.table(...), store.show(...) ---------------------------------------


def html_table(columns: Sequence[Any], rows: Sequence[Sequence[str]], more: str | None = None) -> str:
    """A table of cells already rendered to HTML; ``columns`` are escaped here. ``more`` is a
    note under the table (rows left out)."""
    head = "".join(f'<th style="text-align:left">{escape(c)}</th>' for c in columns)
    body = "".join("<tr>" + "".join(f'<td style="text-align:left;vertical-align:top">{c}</td>' for c in row) + "</tr>" for row in rows)
    note = f'<div class="ms-more" style="{_STYLE_TEXT}">{escape(more)}</div>' if more else ""
    return f'<table class="ms-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}'


def frame_html(columns: Sequence[Any], rows: Sequence[Sequence[Any]], location=None, *, note: str | None = None) -> str:
    """Rows of cell values rendered with `cell_html` (media from ``location``), and a note."""
    return html_table(columns, [[cell_html(v, location) for v in row] for row in rows], note)


def more_rows(total: int, shown: int) -> str | None:
    """The note under a table cut at `MAX_TABLE_ROWS`: ``… N more rows``."""
    return f"… {total - shown} more rows" if total > shown else None


def _is_blob(value: Any) -> bool:
    return isinstance(value, Mapping) and {"uri", "length", "mime"} <= set(value)


def _size(length: Any) -> str:
    length = int(length)
    return f"{length} B" if length < 1024 else f"{length / 1024:.1f} KiB" if length < 2**20 else f"{length / 2**20:.1f} MiB"


def blob_html(blob: Mapping[str, Any], location) -> str:
    """A ``blob`` struct: a thumbnail read from the store for ``image/*`` bytes of at most
    `MAX_EMBED_BYTES`, else its mime type and size."""
    mime, length = str(blob.get("mime")), blob.get("length")
    if location is not None and mime.startswith("image/") and length is not None and int(length) <= MAX_EMBED_BYTES:
        try:
            with PIL.Image.open(io.BytesIO(location.get_blob(blob))) as pil:
                width, height = display_size(pil.width, pil.height, THUMBNAIL_SIDE)
                sharp = ";image-rendering:pixelated" if width > pil.width else ""
                return f'<img src="{png_data_uri(pil, THUMBNAIL_SIDE)}" alt="{escape(mime)}" style="width:{width}px;height:{height}px{sharp}">'
        except (OSError, PIL.UnidentifiedImageError):
            pass  # a blob Pillow cannot read (a missing one too) is described, not shown
    return f'<code>{escape(mime)} · {escape(_size(length)) if length is not None else "?"}</code>'


def _text(value: Any) -> str:
    text = str(value)
    if len(text) > MAX_CELL_CHARS:
        text = text[: MAX_CELL_CHARS - 1] + "…"
    return escape(text)


def _structs_summary(items: list) -> str:
    """A list of structs (masks, boxes, 3-D boxes): the count and the labels or names in it."""
    counts: dict[str, int] = {}
    for item in items:
        name = item.get("label") if item.get("label") is not None else item.get("name")
        if name is not None:
            counts[str(name)] = counts.get(str(name), 0) + 1
    names = ", ".join(name if n == 1 else f"{name} ×{n}" for name, n in counts.items())
    return f"<i>{len(items)} item{'s' if len(items) != 1 else ''}</i>" + (f": {_text(names)}" if names else "")


def cell_html(value: Any, location=None) -> str:
    """One cell: a media object shows its thumbnail; a media cell of a stored table (a dict
    with ``kind``) or a ``blob`` struct is shown from the store; a list of structs (masks,
    boxes) is summarised; anything else is its text, escaped and cut at `MAX_CELL_CHARS`."""
    from .base import Media, media_type, registered_kinds

    if isinstance(value, Media):
        return value._thumbnail_html()
    if _is_blob(value):
        return blob_html(value, location)
    if isinstance(value, Mapping) and value.get("kind") in registered_kinds() and location is not None:
        return media_type(value["kind"])._row_html(value, location)
    if isinstance(value, np.ndarray) and value.dtype == object:
        value = value.tolist()
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        return _structs_summary(value)
    if value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NAType":
        return '<span style="color:#999">None</span>'
    return _text(value)
