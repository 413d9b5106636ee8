"""Placing a CSV of positions, a block of bytes at a time, with numpy doing the per-row work.

A ``CsvPlacer`` is fed blocks of a CSV file's bytes (any size; a row may straddle two blocks) and
returns the output's bytes: every input row unchanged, followed by the easting, northing, grid
reference, each layer's code and name, and an error column. Rows are split, the coordinates
parsed, placed, converted and formatted as whole columns; Python touches each row once, to join
its pieces. Blocks that hold a double quote (a quoted field, perhaps with a comma or a line break
in it) go through the ``csv`` module instead, so any valid CSV is read correctly.

No file is opened here: the caller reads and writes (see ``scenelink geocode --csv``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from gis.columns import LATITUDE, LONGITUDE, ColumnError, find_column
from gis.grid import five_figures, grid_references
from gis.placer import Placer

_COMMA, _NEWLINE = ord(","), ord("\n")


class CsvPlacer:
    """Turns a CSV's bytes into the placed CSV's bytes, block by block.

    ``feed(block)`` returns the output for every complete row so far (the header's line first);
    ``finish()`` the output for what is left. ``rows`` and ``failed`` count data rows and the rows
    that could not be placed (their ``error`` column says why).
    """

    def __init__(self, placer: Placer, lat_column: str | None = None, lon_column: str | None = None) -> None:
        self.placer = placer
        self.lat_column = lat_column
        self.lon_column = lon_column
        self.rows = 0
        self.failed = 0
        self._carry = b""
        self._header: list[str] | None = None
        self._width = 0
        self._la = self._lo = 0
        self._lookups: list[NDArray[np.bytes_]] = []

    # ----------------------------------------------------------------------------- feeding

    def feed(self, block: bytes) -> bytes:
        data = self._carry + block
        cut = _last_row_end(data)
        if cut < 0:
            self._carry = data
            return b""
        self._carry = data[cut + 1 :]
        return self._rows(data[: cut + 1])

    def finish(self) -> bytes:
        data, self._carry = self._carry, b""
        if self._header is None and not data.strip():
            raise ColumnError("the file is empty")
        if not data:
            return b""
        if data.count(b'"') % 2:
            raise ColumnError("a quoted field is not closed at the end of the file")
        return self._rows(data + b"\n")

    # ----------------------------------------------------------------------------- rows

    def _rows(self, data: bytes) -> bytes:
        head = b""
        if self._header is None:
            data = data.removeprefix(b"\xef\xbb\xbf")
            first, data = _first_row(data)
            head = self._start(first)
        if b"\r" in data:
            data = data.replace(b"\r\n", b"\n")
        if b'"' in data:
            lines, lat_text, lon_text, short = self._quoted(data)
        else:
            lines, lat_text, lon_text, short = self._plain(data)
        if not lines:
            return head
        return head + self._place(lines, lat_text, lon_text, short)

    def _start(self, first: bytes) -> bytes:
        header = next(csv.reader(io.StringIO(first.decode("utf-8").rstrip("\r\n"))), None)
        if not header:
            raise ColumnError("the file is empty")
        self._header = header
        self._width = len(header)
        self._la = find_column(header, LATITUDE, "latitude", self.lat_column)
        self._lo = find_column(header, LONGITUDE, "longitude", self.lon_column)
        added = ["easting", "northing", "grid_ref"]
        for layer in self.placer.layers:
            added += [f"{layer.level}_code", f"{layer.level}_name"]
            codes = [_quote(c) for c in layer.codes] + [b""]
            names = [_quote(n) for n in layer.names] + [b""]
            self._lookups += [np.array(codes, dtype=np.bytes_), np.array(names, dtype=np.bytes_)]
        return _join_row(header + added + ["error"])

    def _plain(self, data: bytes) -> tuple[list[bytes], NDArray[np.bytes_], NDArray[np.bytes_], NDArray[np.bool_]]:
        """Rows without quotes: fields found from the positions of commas and line breaks."""
        while b"\n\n" in data:  # blank lines carry nothing: dropped
            data = data.replace(b"\n\n", b"\n")
        data = data.removeprefix(b"\n")
        lines = data.split(b"\n")
        lines.pop()  # data ends with a line break
        if not lines:
            return lines, *self._columns([])
        buffer = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(buffer == _NEWLINE)
        rows, width = len(ends), self._width
        separators = np.flatnonzero((buffer == _COMMA) | (buffer == _NEWLINE))
        if len(separators) == rows * width:
            table = separators.reshape(rows, width)
            if (buffer[table[:, -1]] == _NEWLINE).all():
                # Every row has as many fields as the header (the usual case): cut two columns out.
                starts = np.concatenate([[0], ends[:-1] + 1]).astype(np.int64)
                lat = _field(buffer, starts, table, self._la)
                lon = _field(buffer, starts, table, self._lo)
                return lines, lat, lon, np.zeros(rows, dtype=bool)
        split = [line.split(b",") for line in lines]
        # Short rows are padded to the header's width, so the added columns line up under theirs.
        lines = [
            line + b"," * (width - len(f)) if len(f) < width else line for line, f in zip(lines, split, strict=True)
        ]
        return lines, *self._columns(split)

    def _quoted(self, data: bytes) -> tuple[list[bytes], NDArray[np.bytes_], NDArray[np.bytes_], NDArray[np.bool_]]:
        """Rows with quoted fields: read by the csv module, written back quoted only where needed."""
        rows = [row for row in csv.reader(io.StringIO(data.decode("utf-8"), newline="")) if row]
        width = self._width
        lines = [_join_row(row + [""] * (width - len(row)))[:-1] for row in rows]
        encoded = [[cell.encode("utf-8") for cell in row] for row in rows]
        return lines, *self._columns(encoded)

    def _columns(
        self, rows: Sequence[Sequence[bytes]]
    ) -> tuple[NDArray[np.bytes_], NDArray[np.bytes_], NDArray[np.bool_]]:
        la, lo = self._la, self._lo
        short = np.array([len(row) <= max(la, lo) for row in rows], dtype=bool)
        lat = np.array([b"" if s else row[la] for row, s in zip(rows, short, strict=True)], dtype=np.bytes_)
        lon = np.array([b"" if s else row[lo] for row, s in zip(rows, short, strict=True)], dtype=np.bytes_)
        return lat, lon, short

    # ----------------------------------------------------------------------------- placing

    def _place(
        self,
        lines: list[bytes],
        lat_text: NDArray[np.bytes_],
        lon_text: NDArray[np.bytes_],
        short: NDArray[np.bool_],
    ) -> bytes:
        """The rows (without their line breaks) with the placement columns added, as CSV bytes."""
        lat, lon, errors = parse_coordinates(lat_text, lon_text, short)
        bulk = self.placer.locate(lat, lon)
        bad = errors != b""
        columns = [
            format_fixed(bulk.eastings, 2),
            format_fixed(bulk.northings, 2),
            grid_references(bulk.eastings, bulk.northings),
        ]
        for column in columns:
            column[bad] = b""
        lookups = iter(self._lookups)
        for layer in self.placer.layers:
            index = bulk.indices[layer.level]
            columns += [next(lookups)[index], next(lookups)[index]]
        columns.append(errors.astype(np.bytes_))
        self.rows += len(lat)
        self.failed += int(bad.sum())
        return append_columns(lines, columns)


def append_columns(lines: list[bytes], columns: Sequence[NDArray[np.bytes_]]) -> bytes:
    """Each line followed by ``,cell`` for each column and a line break.

    The added text of every row is built column by column with numpy's string functions; Python
    only interleaves the rows with it (in C, through list slicing and one ``join``).
    """
    suffix: NDArray[np.bytes_] = np.full(len(lines), b"", dtype="S1")
    for column in columns:
        suffix = np.strings.add(np.strings.add(suffix, b","), np.asarray(column, dtype=np.bytes_))
    suffix = np.strings.add(suffix, b"\n")
    parts: list[bytes] = [b""] * (2 * len(lines))
    parts[::2] = lines
    parts[1::2] = suffix.tolist()
    return b"".join(parts)


def _field(
    buffer: NDArray[np.uint8], starts: NDArray[np.int64], separators: NDArray[np.int64], k: int
) -> NDArray[np.bytes_]:
    """Field ``k`` of every row as fixed-width bytes, from the rows' separator positions."""
    begin = starts if k == 0 else separators[:, k - 1] + 1
    end = separators[:, k]
    length = end - begin
    width = max(int(length.max(initial=0)), 1)
    index = begin[:, None] + np.arange(width)
    mask = np.arange(width) < length[:, None]
    matrix = np.where(mask, buffer[np.minimum(index, len(buffer) - 1)], 0).astype(np.uint8)
    return matrix.view(f"S{width}").ravel()


# ----------------------------------------------------------------------------- columns


def parse_coordinates(
    lat_text: NDArray[np.bytes_], lon_text: NDArray[np.bytes_], short: NDArray[np.bool_] | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.object_]]:
    """Latitudes and longitudes parsed from text, NaN where a row is unusable, and its error.

    Errors are CSV-ready bytes (``b""`` for good rows): ``row is too short``, ``not a number: ...``,
    ``out of range: ...``.
    """
    n = len(lat_text)
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    errors = np.full(n, b"", dtype=object)
    too_short = np.zeros(n, dtype=bool) if short is None else short
    lat_text = np.strings.strip(lat_text)
    lon_text = np.strings.strip(lon_text)
    usable = ~too_short & (lat_text != b"") & (lon_text != b"")
    try:
        lat[usable] = lat_text[usable].astype(np.float64)
        lon[usable] = lon_text[usable].astype(np.float64)
    except ValueError:  # some cell is not a number: find which, one by one
        for i in np.flatnonzero(usable):
            try:
                lat[i], lon[i] = float(lat_text[i]), float(lon_text[i])
            except ValueError:
                lat[i] = lon[i] = np.nan
                usable[i] = False
                errors[i] = _quote(f"not a number: {_text(lat_text[i])!r}, {_text(lon_text[i])!r}")
    for i in np.flatnonzero(~too_short & ~usable & (errors == b"")):
        errors[i] = _quote(f"not a number: {_text(lat_text[i])!r}, {_text(lon_text[i])!r}")
    errors[too_short] = b"row is too short"
    wrong = usable & ~(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    for i in np.flatnonzero(wrong):
        errors[i] = _quote(f"out of range: {_text(lat_text[i])}, {_text(lon_text[i])}")
    lat[wrong] = lon[wrong] = np.nan
    return lat, lon, errors


def format_fixed(values: NDArray[np.float64], decimals: int = 2) -> NDArray[np.bytes_]:
    """Numbers as text with ``decimals`` places, ``b""`` for NaN; vectorised.

    The same text as ``f"{v:.2f}"``. The figures are cut from the integers by arithmetic into a
    byte matrix, right-aligned, and the leading blanks stripped.
    """
    if not 0 <= decimals <= 6:
        raise ValueError("decimals must be from 0 to 6")
    v = np.asarray(values, dtype=np.float64).ravel()
    finite = np.isfinite(v)
    scale = 10**decimals
    scaled = np.rint(np.where(finite, np.abs(v), 0.0) * scale).astype(np.int64)
    places = max(len(str(int(scaled.max(initial=0)))), decimals + 1)
    whole = places - decimals
    width = 1 + places + (1 if decimals else 0)  # sign, figures, point
    digits = figures_matrix(scaled, places)
    out = np.empty((len(v), width), dtype=np.uint8)
    out[:, 1 : 1 + whole] = digits[:, :whole]
    if decimals:
        out[:, 1 + whole] = ord(".")
        out[:, 2 + whole :] = digits[:, whole:]
    # Blank the whole part's leading zeros (keeping one), then put a minus sign before the first figure.
    figures = np.floor(np.log10(np.maximum(scaled // scale, 1))).astype(np.int64) + 1
    first = 1 + whole - figures
    out[:, : 1 + whole] = np.where(np.arange(1 + whole) < first[:, None], ord(" "), out[:, : 1 + whole])
    negative = np.flatnonzero(finite & (v < 0) & (scaled > 0))
    out[negative, first[negative] - 1] = ord("-")
    text = np.strings.lstrip(out.view(f"S{width}").ravel())
    # Where v lies within a rounding error of a half (common: OSTN15 gives millimetres), only the
    # exact binary value can say which way Python rounds; and "-0.00" keeps its sign. Ask Python.
    frac = np.abs(np.where(finite, v, 0.0)) * scale % 1.0
    unsure = np.flatnonzero(finite & ((np.abs(frac - 0.5) < 1e-6) | (np.signbit(v) & (scaled == 0))))
    if unsure.size:
        text = text.astype(f"S{width + 1}")
        text[unsure] = [b"%.*f" % (decimals, x) for x in v[unsure].tolist()]
    text[~finite] = b""
    return text


def figures_matrix(values: NDArray[np.int64], places: int) -> NDArray[np.uint8]:
    """Non-negative integers as ``places`` zero-padded ASCII figures, one row each.

    Five figures at a time come from a table of all 100,000 five-figure strings: one division and
    one gather per five figures instead of a division per figure.
    """
    groups = -(-places // 5)
    out = np.empty((len(values), groups * 5), dtype=np.uint8)
    rest = np.asarray(values, dtype=np.int64)
    table = five_figures()
    for g in range(groups - 1, -1, -1):
        out[:, g * 5 : g * 5 + 5] = table[rest % 100_000]
        rest = rest // 100_000
    return out[:, groups * 5 - places :]


# ----------------------------------------------------------------------------- CSV text


def _last_row_end(data: bytes) -> int:
    """Index of the last line break that ends a row (not one inside a quoted field), or -1."""
    cut = data.rfind(b"\n")
    while cut >= 0 and data.count(b'"', 0, cut) % 2:
        cut = data.rfind(b"\n", 0, cut)
    return cut


def _first_row(data: bytes) -> tuple[bytes, bytes]:
    at = 0
    while True:
        end = data.find(b"\n", at)
        if end < 0:
            return data, b""
        if data.count(b'"', 0, end) % 2 == 0:
            return data[: end + 1], data[end + 1 :]
        at = end + 1


def _quote(text: str) -> bytes:
    if any(c in text for c in ',"\n\r'):
        text = '"' + text.replace('"', '""') + '"'
    return text.encode("utf-8")


def _join_row(cells: Sequence[str]) -> bytes:
    return b",".join(_quote(cell) for cell in cells) + b"\n"


def _text(value: bytes) -> str:
    return bytes(value).decode("utf-8", "replace")
