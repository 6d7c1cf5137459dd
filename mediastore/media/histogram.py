"""``ms.Histogram``: a distribution of numbers as bin edges and counts, one row per item.

Rules (documented in the README):

- A sequence (list, tuple, numpy array, torch tensor, anything ``np.asarray`` takes) is
  flattened and binned as ``np.histogram(values, bins=num_bins)`` bins it: ``num_bins`` equal
  bins over [min, max], the last one closed, the same edges and the same counts. The binning
  runs in the constructor, so bad input fails at the call. See `_equal_bins` for how it gets
  numpy's counts without numpy's per-value edge corrections.
- NaN and infinite values are refused with an error that counts them: ``np.histogram`` cannot
  place them, and dropping them silently would hide the diverging run the histogram is
  usually there to show.
- ``np_histogram=(counts, edges)`` (what ``np.histogram`` returns) is stored as given.
  Integer counts go to the ``counts`` column; float heights (``density=True`` or float
  ``weights=``) go to ``heights``, so nothing is rounded, and ``counts`` is NULL.
- That tuple may also come first, as on the reference page (``ms.Histogram(np_hist)``): a
  **tuple** of two 1-D sequences whose second is one longer than the first is read as
  ``(counts, edges)``. As values to bin it could not be used anyway: it is ragged.
- At most 512 bins (the reference page's limit).

There is no blob: the row holds everything, so ``_encode`` runs inline on the caller's thread.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

from .._lazy import np
from ..errors import InvalidMediaError, InvalidMediaTypeError
from . import _display
from .base import Media, as_array, is_null, register

__all__ = ["Histogram", "MAX_BINS", "DEFAULT_BINS"]

#: Most bins one histogram may have: the reference page's limit.
MAX_BINS = 512
#: Bins used for a sequence when ``num_bins`` is not given: the reference page's default.
DEFAULT_BINS = 64


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)  # half the time of ``array.flags.writeable = False``
    return array


def _check_num_bins(num_bins: Any) -> int:
    if type(num_bins) is int and 1 <= num_bins <= MAX_BINS:  # the usual case, checked first
        return num_bins
    if isinstance(num_bins, (bool, np.bool_)) or not isinstance(num_bins, (int, np.integer)):
        raise InvalidMediaTypeError(f"Histogram num_bins is {num_bins!r}; it must be an int from 1 to {MAX_BINS}")
    if not 1 <= num_bins <= MAX_BINS:
        raise InvalidMediaError(
            f"Histogram num_bins is {num_bins}; it must be from 1 to {MAX_BINS} (at most {MAX_BINS} bins) — "
            f"pass a smaller num_bins"
        )
    return int(num_bins)


def _numbers(value: Any, what: str) -> np.ndarray:
    """``value`` as an array of ints or floats, or a typed error naming ``what``."""
    try:
        array = as_array(value)
    except ValueError:
        raise InvalidMediaError(
            f"{what} is ragged (its rows have different lengths); pass a flat list or an array of numbers — "
            "for np.histogram output pass the tuple (counts, edges)"
        ) from None
    if array is None:
        raise InvalidMediaTypeError(f"{what} must be a list, array or tensor of numbers, got {type(value).__name__}")
    if array.dtype.kind not in "iuf":
        raise InvalidMediaTypeError(
            f"{what} has dtype {array.dtype}; expected integers or floats — convert with .astype(float)"
        )
    return array


def _count_not_finite(array: np.ndarray) -> int:
    return int(array.size - np.count_nonzero(np.isfinite(array)))


def _is_np_histogram(value: Any) -> bool:
    """True for a tuple ``(counts, edges)`` of 1-D sequences with ``len(edges) == len(counts) + 1``."""
    if not isinstance(value, tuple) or len(value) != 2:
        return False
    lengths = []
    for part in value:
        if isinstance(part, (str, bytes)) or not hasattr(part, "__len__"):
            return False
        shape = getattr(part, "shape", None)
        if shape is not None and len(shape) != 1:
            return False
        lengths.append(len(part))
    return lengths[1] == lengths[0] + 1


#: Values binned per pass: np.histogram's own block, which bounds the temporaries of a huge array.
_BLOCK = 65536
#: How far (in bins) a computed bin index may be from where the edges put its value, as a
#: multiple of the dtype's epsilon times (bins + largest magnitude / bin width). The true
#: error is a few epsilons of that; 64 leaves room for every rounding of the index and of
#: ``np.linspace``'s edges.
_SLACK = 64
#: The largest such bound for which the shortcut is used; above it (a range tiny beside its
#: values' magnitude) np.histogram itself runs.
_MAX_TOLERANCE = 1e-3
#: By dtype character code (numpy is imported when first used, not with mediastore; ``.char``
#: is read in C, ``.name`` is built in Python: 4 us a call, 11 % of a histogram's time):
#: np.finfo's eps and max of float32 and float64, and the unsigned type of each signed one.
_EPS = {"f": 2.0**-23, "d": 2.0**-52}
_LARGEST = {"f": 3.4028234663852886e38, "d": sys.float_info.max}
_UNSIGNED = {"b": "B", "h": "H", "i": "I", "l": "L", "q": "Q"}


def _equal_bins(values: np.ndarray, num_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.histogram(values, bins=num_bins)`` of a flat array of ints or floats: the same
    edges and counts, about twice as fast at 10,000 values.

    numpy turns every value into a bin index by arithmetic, ``(v - lo) / (hi - lo) * n``, then
    compares every value with the edges of its bin (two gathers and two masked updates per
    value) to move the few that rounding put one bin off. A value can be off only if its
    computed index lies within rounding error of a whole number (an edge). So this computes
    numpy's indices with numpy's operations in numpy's dtype, and runs numpy's correction on
    those few values alone: the counts are numpy's. The rounding bound, in bins, is
    ``_SLACK * eps * (num_bins + max(|lo|, |hi|) / width)``; where it is not small (a range
    tiny beside the magnitude of its values), for float16 and longdouble, for non-finite
    values and for ranges numpy cannot split, ``np.histogram`` runs itself (and raises its
    own errors, which `_bin` words).
    """
    dtype = values.dtype
    if dtype.kind == "f":
        if dtype.char not in _EPS:
            return np.histogram(values, bins=num_bins)
        bin_type = dtype
    else:
        bin_type = np.dtype(np.float64)  # np.histogram's edges of integers are float64
    lo, hi = values.min(), values.max()
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return np.histogram(values, bins=num_bins)  # raises: NaN or infinite values
    if lo == hi:  # np.histogram's range for one distinct value
        lo, hi = lo - 0.5, hi + 0.5
        bin_type = np.result_type(lo, hi, values)
        if bin_type.char not in _EPS:
            return np.histogram(values, bins=num_bins)
    span = float(hi) - float(lo)
    if not 0.0 < span <= _LARGEST[bin_type.char]:  # numpy's arithmetic would overflow
        return np.histogram(values, bins=num_bins)
    tolerance = _SLACK * _EPS[bin_type.char] * (num_bins + max(abs(float(lo)), abs(float(hi))) * num_bins / span)
    if not tolerance <= _MAX_TOLERANCE:
        return np.histogram(values, bins=num_bins)
    unsigned = _UNSIGNED.get(lo.dtype.char)  # lo and hi share the dtype of `values` (or are float)
    if unsigned is None:
        denom = hi - lo
    else:  # numpy's _unsigned_subtract: the width of a signed int range, exactly
        denom = np.subtract(hi, lo, casting="unsafe", dtype=unsigned)
    edges = _linspace(lo, hi, num_bins, bin_type)
    if edges is None:
        return np.histogram(values, bins=num_bins)
    # The edges increase strictly: neighbours are a bin apart, up to `tolerance` bins each.
    scale = num_bins / float(denom)
    counts = None
    for start in range(0, values.size, _BLOCK):
        x = values[start:start + _BLOCK].astype(bin_type, copy=False)
        # (x - lo) * (n / width): numpy's index up to a few epsilons (its division costs as
        # much as the rest), so it decides only the values farther than `tolerance` from an edge.
        position = np.subtract(x, lo)
        position *= scale
        index = position.astype(np.int32)  # in [0, n]: truncation is floor
        off = np.rint(position)
        off -= position
        np.abs(off, out=off)
        near = (off <= tolerance).nonzero()[0]  # always lo's and hi's, seldom others
        if near.size:
            # numpy's own index, operation by operation, and its correction: for these alone.
            near_x = x[near]
            if near.size > 16:
                i = (((near_x - lo) / denom) * num_bins).astype(np.intp)
                i[i == num_bins] -= 1  # the last bin is closed: hi goes in it
                i[near_x < edges[i]] -= 1
                i[(near_x >= edges[i + 1]) & (i != num_bins - 1)] += 1
                index[near] = i
            else:  # the same, value by value (exact: widening float32 to float is exact)
                near_v = near_x.tolist()
                if bin_type.itemsize == 8:
                    # float64: Python's float operations are numpy's, without an array's set-up
                    # (these are nearly always just the minimum and the maximum).
                    lo_f, denom_f = float(lo), float(denom)
                    near_i = [int(((v - lo_f) / denom_f) * num_bins) for v in near_v]
                else:
                    near_i = (((near_x - lo) / denom) * num_bins).astype(np.intp).tolist()
                for j, k, v in zip(near.tolist(), near_i, near_v):
                    if k == num_bins:
                        k -= 1
                    if v < edges.item(k):
                        k -= 1
                    if k != num_bins - 1 and v >= edges.item(k + 1):
                        k += 1
                    index[j] = k
        block = np.bincount(index, minlength=num_bins)
        counts = block if counts is None else counts + block
    return counts, edges


_ARANGES: dict[tuple[np.dtype, int], np.ndarray] = {}


def _linspace(lo: Any, hi: Any, num_bins: int, dtype: np.dtype) -> np.ndarray | None:
    """``np.linspace(lo, hi, num_bins + 1, dtype=dtype)`` as np.histogram calls it, without its
    generic set-up (a third of the binning's time at 10,000 values): numpy's own steps,
    ``arange(n + 1) * ((hi - lo) / n) + lo`` with the last edge set to ``hi``, in ``dtype``.
    None where numpy takes another path (a step that underflows to zero)."""
    start, stop = dtype.type(lo), dtype.type(hi)
    step = (stop - start) / num_bins
    if step == 0:
        return None
    ramp = _ARANGES.get((dtype, num_bins))
    if ramp is None:
        ramp = _ARANGES[(dtype, num_bins)] = np.arange(0, num_bins + 1, dtype=dtype)
    edges = ramp * step
    edges += start
    edges[-1] = stop
    return edges


def _bin(sequence: Any, num_bins: int) -> tuple[np.ndarray, np.ndarray]:
    values = _numbers(sequence, "Histogram sequence")
    if values.ndim == 0:
        raise InvalidMediaTypeError(
            f"Histogram got a single number {values.item()!r}; pass a list, array or tensor of numbers to bin"
        )
    if values.size == 0:
        raise InvalidMediaError(
            f"Histogram sequence is empty (shape {values.shape}); there is nothing to bin — "
            "skip this log call, or pass np_histogram=(counts, edges)"
        )
    values = values.ravel()
    try:
        counts, edges = _equal_bins(values, num_bins)
    except (ValueError, IndexError) as exc:  # numpy's words; ours name the count and the fix
        # (IndexError: np.histogram's one bin over a range wider than the largest float)
        if values.dtype.kind == "f" and _count_not_finite(values):
            raise InvalidMediaError(
                f"Histogram sequence has {_count_not_finite(values)} NaN or infinite value(s) out of {values.size}; "
                "they cannot be binned — drop them first (values[np.isfinite(values)]) or replace them (np.nan_to_num)"
            ) from None
        raise InvalidMediaError(
            f"Histogram cannot split the range of its values [{values.min()!r}, {values.max()!r}] into {num_bins} "
            f"equal bins ({exc}) — pass a smaller num_bins, or bin it yourself and pass np_histogram=(counts, edges)"
        ) from None
    return counts.astype(np.int64, copy=False), edges.astype(np.float64, copy=False)


def _check_np_histogram(np_histogram: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(np_histogram, (tuple, list)) or len(np_histogram) != 2:
        raise InvalidMediaTypeError(
            f"Histogram np_histogram must be a pair (counts, edges) as np.histogram returns it, "
            f"got {type(np_histogram).__name__}"
        )
    counts = _numbers(np_histogram[0], "Histogram np_histogram counts")
    edges = _numbers(np_histogram[1], "Histogram np_histogram edges")
    if counts.ndim != 1 or edges.ndim != 1:
        raise InvalidMediaError(
            f"Histogram np_histogram has counts of shape {counts.shape} and edges of shape {edges.shape}; "
            "both must be 1-D, as np.histogram returns them"
        )
    if len(edges) != len(counts) + 1:
        raise InvalidMediaError(
            f"Histogram np_histogram has {len(counts)} counts and {len(edges)} edges; there must be one edge more "
            "than counts (len(edges) == len(counts) + 1) — pass np.histogram's (counts, edges) in that order"
        )
    if not 1 <= len(counts) <= MAX_BINS:
        raise InvalidMediaError(
            f"Histogram np_histogram has {len(counts)} bins; it must have from 1 to {MAX_BINS} (at most {MAX_BINS} bins) — "
            "bin it again with fewer bins"
        )
    if edges.dtype.kind == "f" and _count_not_finite(edges):
        raise InvalidMediaError(
            f"Histogram np_histogram edges have {_count_not_finite(edges)} NaN or infinite value(s); edges must be finite"
        )
    if np.any(edges[1:] < edges[:-1]):
        raise InvalidMediaError(
            f"Histogram np_histogram edges {edges.tolist()[:8]}{'...' if len(edges) > 8 else ''} decrease; "
            "edges must increase monotonically, as np.histogram returns them"
        )
    if counts.dtype.kind == "f":
        if _count_not_finite(counts):
            raise InvalidMediaError(
                f"Histogram np_histogram counts have {_count_not_finite(counts)} NaN or infinite value(s); "
                "they must be finite"
            )
        counts = np.array(counts, dtype=np.float64)  # a private copy: the caller may reuse its buffer
    else:
        counts = np.array(counts, dtype=np.int64)
    return counts, np.array(edges, dtype=np.float64)


@register
class Histogram(Media):
    """A histogram to log: numbers binned here, or the output of ``np.histogram``.

    Logged under one key at many steps, the rows of the ``histograms`` view make a heat map of
    the distribution over training (x: step, y: bin, colour: count); logged to ``run.summary``
    it is kept as JSON with its edges and counts.

    Parameters
    ----------
    sequence : list, tuple, numpy.ndarray or torch.Tensor, optional
        Numbers of any shape; flattened and binned with ``np.histogram``. NaN and infinite
        values are refused (an error says how many) rather than dropped. A tuple
        ``(counts, edges)`` with ``len(edges) == len(counts) + 1`` is read as ``np_histogram``.
    np_histogram : tuple of (array-like, array-like), optional
        ``(counts, edges)`` as ``np.histogram`` returns them, stored as given: integer counts
        in the ``counts`` column, float heights (``density=True``) in ``heights``. At most
        512 bins; edges finite and increasing.
    num_bins : int, keyword-only
        Equal-width bins over [min, max] of ``sequence``. Default 64, the reference page's
        default, so histograms compare with ones logged there. At most 512. With ``np_histogram`` the tuple has its own bins: ``num_bins`` may be
        left at its default or equal their number; anything else is an error.

    Raises
    ------
    InvalidMediaError
        Empty sequence, NaN or infinite values, a range too narrow for ``num_bins`` bins,
        more than 512 bins, edges that are not one longer than counts or that decrease.
    InvalidMediaTypeError
        Not numbers, a single number, ``num_bins`` not an int, both or neither input given.

    Examples
    --------
    >>> run.log({"gradients": ms.Histogram(grads)})
    >>> run.log({"gradients": ms.Histogram(np.histogram(grads, density=True, range=(0.0, 1.0)))})
    >>> run.summary["final_weights"] = ms.Histogram(weights, num_bins=128)
    """

    kind = "histograms"
    ENCODE_INLINE = True

    def __init__(self, sequence: Any = None, np_histogram: Any = None, *, num_bins: int = DEFAULT_BINS):
        num_bins = _check_num_bins(num_bins)
        if np_histogram is None and isinstance(sequence, tuple) and _is_np_histogram(sequence):
            sequence, np_histogram = None, sequence
        if (sequence is None) == (np_histogram is None):
            raise InvalidMediaTypeError(
                "Histogram needs exactly one of sequence (numbers to bin) or np_histogram=(counts, edges); "
                f"got {'both' if sequence is not None else 'neither'}"
            )
        if sequence is not None:
            counts, edges = _bin(sequence, num_bins)
        else:
            counts, edges = _check_np_histogram(np_histogram)
            if num_bins not in (DEFAULT_BINS, len(counts)):
                raise InvalidMediaError(
                    f"Histogram got num_bins={num_bins} with an np_histogram of {len(counts)} bins; the tuple is stored "
                    "as given — leave num_bins out, or bin the data again with np.histogram(values, bins=num_bins)"
                )
        self._counts = _frozen(counts)
        self._bins = _frozen(edges)
        self._lists: tuple[list, list] | None = None

    # -- engine contract -------------------------------------------------------------------
    def _as_lists(self) -> tuple[list[float], list]:
        """Edges and heights as Python lists for the summary's JSON, made once (the summary of a
        key is written again at every heartbeat)."""
        if self._lists is None:
            self._lists = (self._bins.tolist(), self._counts.tolist())
        return self._lists

    def _encode(self, location) -> dict[str, Any]:
        # The arrays themselves (read-only, never changed): Arrow reads a list cell from an
        # array at C speed, where Python lists cost a float object per edge and count.
        heights = self._counts.dtype.kind == "f"
        return {
            "bins": self._bins,
            "counts": None if heights else self._counts,
            "heights": self._counts if heights else None,
            "num_bins": len(self._counts),
        }

    @classmethod
    def _from_row(cls, row: Mapping[str, Any], location) -> "Histogram":
        if "bins" not in row or ("counts" not in row and "heights" not in row):
            raise InvalidMediaError(
                f"decode needs a histograms row with bins and counts/heights, got columns {sorted(row)}; "
                "select them all: SELECT * FROM histograms"
            )
        self = cls.__new__(cls)
        self._bins = _frozen(np.asarray(row["bins"], dtype=np.float64))
        counts = row.get("counts")
        if is_null(counts):
            self._counts = _frozen(np.asarray(row["heights"], dtype=np.float64))
        else:
            self._counts = _frozen(np.asarray(counts, dtype=np.int64))
        self._lists = None
        return self

    def _summary(self) -> dict[str, Any]:
        bins, values = self._as_lists()
        return {
            "_kind": self.kind,
            "num_bins": len(values),
            "bins": bins,
            "heights" if self._counts.dtype.kind == "f" else "counts": values,
        }

    # -- the data back ---------------------------------------------------------------------
    @property
    def bins(self) -> np.ndarray:
        """Bin edges, float64, ``num_bins + 1`` of them (read-only)."""
        return self._bins

    @property
    def counts(self) -> np.ndarray:
        """Bar heights, ``num_bins`` of them (read-only): int64 counts, or float64 when the
        ``np_histogram`` given had float heights (``density=True``)."""
        return self._counts

    @property
    def num_bins(self) -> int:
        return len(self._counts)

    @property
    def histogram(self) -> np.ndarray:
        """The bar heights, as W&B's ``Histogram.histogram`` (the same array as `counts`);
        the edges are `bins`. ``(h.histogram, h.bins)`` is ``np.histogram``'s pair."""
        return self._counts

    # -- Jupyter display ---------------------------------------------------------------------
    def _repr_html_(self) -> str:
        """A bar chart in inline SVG, bars placed by their edges (bins may differ in width)."""
        return self._svg(320, 120, labels=True)

    def _thumbnail_html(self) -> str:
        return self._svg(120, 40, labels=False)

    @classmethod
    def _row_html(cls, row: Mapping[str, Any], location) -> str:
        return cls._from_row(row, location)._thumbnail_html()

    def _svg(self, width: int, height: int, *, labels: bool) -> str:
        edges, heights = self._bins, self._counts.astype(np.float64)
        top = float(heights.max()) if heights.size and heights.max() > 0 else 1.0
        span = float(edges[-1] - edges[0]) or 1.0
        x = (edges - edges[0]) * (width / span)
        bars = "".join(
            f'<rect x="{x[i]:.2f}" y="{height - h * height / top:.2f}" width="{max(x[i + 1] - x[i], 0.5):.2f}" '
            f'height="{h * height / top:.2f}" fill="#1f77b4"><title>[{edges[i]:g}, {edges[i + 1]:g}): {h:g}</title></rect>'
            for i, h in enumerate(heights)
        )
        chart = (
            f'<svg class="ms-histogram" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'style="background:#fafafa;border-bottom:1px solid #888">{bars}</svg>'
        )
        if not labels:
            return chart
        kind = "heights" if self._counts.dtype.kind == "f" else "counts"
        under = _display.summary_line("histogram", {"bins": self.num_bins, "range": f"[{edges[0]:g}, {edges[-1]:g}]", f"max {kind}": f"{top:g}"})
        return _display.figure(chart + under, None, css_class="ms-histogram")

    def __repr__(self) -> str:
        return f"ms.Histogram({self.num_bins} bins over [{self._bins[0]:g}, {self._bins[-1]:g}])"
