"""gis.bulk: a CSV placed a block at a time, with the same text a row-by-row placement would write."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gis import Fix, Placer
from gis.bulk import CsvPlacer, format_fixed, parse_coordinates
from gis.columns import ColumnError
from gis.grid import grid_reference, grid_references, to_bng
from tests.shared_data import require_shared_data


def place_text(placer: Placer, text: str | bytes, block: int = 1 << 20) -> list[dict[str, str]]:
    data = text.encode() if isinstance(text, str) else text
    placing = CsvPlacer(placer)
    out = b"".join(placing.feed(data[i : i + block]) for i in range(0, len(data), block)) + placing.finish()
    return list(csv.DictReader(io.StringIO(out.decode())))


def test_every_row_keeps_its_columns_and_gains_the_placement(placer: Placer) -> None:
    rows = place_text(placer, "id,lat,long\n1,53.7997,-1.5492\n2,53.959,-1.082\n")
    assert list(rows[0]) == [
        "id", "lat", "long", "easting", "northing", "grid_ref", "force_code", "force_name",
        "district_code", "district_name", "neighbourhood_code", "neighbourhood_name", "error",
    ]
    e, n, _ = to_bng(53.7997, -1.5492)
    assert rows[0]["easting"] == f"{e:.2f}" and rows[0]["northing"] == f"{n:.2f}"
    assert rows[0]["grid_ref"] == "SE 29790 33803"
    assert (rows[0]["force_code"], rows[0]["district_name"], rows[0]["neighbourhood_code"]) == ("WYP", "Leeds", "LCC")
    assert (rows[1]["force_code"], rows[1]["district_code"], rows[1]["error"]) == ("NYP", "", "")


@pytest.mark.parametrize("block", [1, 2, 7, 64, 1 << 20])
def test_rows_split_across_blocks_come_out_whole(placer: Placer, block: int) -> None:
    text = "id,lat,long\n" + "".join(f"{i},53.{7997 + i},-1.5492\n" for i in range(40))
    rows = place_text(placer, text, block)
    assert [r["id"] for r in rows] == [str(i) for i in range(40)]
    assert all(r["force_code"] == "WYP" for r in rows)


def test_quoted_fields_crlf_bom_and_blank_lines(placer: Placer) -> None:
    text = (
        '\ufeffname,lat,long\r\n"Smith, J",53.7997,-1.5492\r\n\r\n'
        '"line\nbreak ""quoted""",53.7997,-1.5492\r\nplain,53.959,-1.082'
    )
    for block in (3, 1 << 20):
        rows = place_text(placer, text.encode("utf-8"), block)
        assert [r["name"] for r in rows] == ["Smith, J", 'line\nbreak "quoted"', "plain"]
        assert [r["force_code"] for r in rows] == ["WYP", "WYP", "NYP"]


def test_bad_rows_are_kept_with_the_reason(placer: Placer) -> None:
    rows = place_text(
        placer, "id,lat,long,note\n1,north,-1.5,a\n2,95,-1.5,b\n3,,,c\n4\n5,53.7997,-1.5492,e\n6,nan,1,f\n"
    )
    assert [r["error"] for r in rows] == [
        "not a number: 'north', '-1.5'",
        "out of range: 95, -1.5",
        "not a number: '', ''",
        "row is too short",
        "",
        "out of range: nan, 1",
    ]
    assert rows[0]["easting"] == rows[0]["grid_ref"] == rows[0]["force_code"] == ""
    assert rows[4]["force_code"] == "WYP"


def test_counts_rows_and_failures(placer: Placer) -> None:
    placing = CsvPlacer(placer)
    placing.feed(b"lat,lon\n53.8,-1.55\nx,y\n")
    placing.finish()
    assert (placing.rows, placing.failed) == (2, 1)


def test_names_with_commas_are_quoted_in_the_output(placer: Placer) -> None:
    out = CsvPlacer(placer).feed(b"lat,lon\n53.7997,-1.5492\n")
    assert out.splitlines()[0].endswith(b"neighbourhood_name,error")


def test_header_problems_are_column_errors(placer: Placer) -> None:
    with pytest.raises(ColumnError, match="cannot find the latitude column"):
        CsvPlacer(placer).feed(b"a,b\n1,2\n")
    placing = CsvPlacer(placer)
    with pytest.raises(ColumnError, match="empty"):
        placing.finish()
    placing = CsvPlacer(placer)
    placing.feed(b'lat,lon\n"53.8')
    with pytest.raises(ColumnError, match="not closed"):
        placing.finish()


def test_parse_coordinates_marks_each_bad_cell() -> None:
    lat, lon, errors = parse_coordinates(np.array([b"53.5", b" 54 ", b"x"]), np.array([b"-1", b"-2", b"1"]))
    assert lat[:2].tolist() == [53.5, 54.0] and np.isnan(lat[2])
    assert errors.tolist() == [b"", b"", b"\"not a number: 'x', '1'\""]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-2e6, max_value=2e6, allow_nan=False), min_size=1, max_size=50))
def test_format_fixed_writes_what_python_writes(values: list[float]) -> None:
    # Millimetre values (as OSTN15 gives) are the hard case: every one ending in 5 is a tie.
    for v in (np.array(values), np.round(np.array(values), 3)):
        assert format_fixed(v).tolist() == [b"%.2f" % x for x in v.tolist()]
    assert format_fixed(np.array([np.nan, np.inf])).tolist() == [b"", b""]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(-5e4, 7.5e5), st.floats(-5e4, 1.35e6)), min_size=1, max_size=50))
def test_grid_references_match_the_scalar_function(points: list[tuple[float, float]]) -> None:
    e, n = np.array(points).T
    expected = [(grid_reference(a, b) or "").encode() for a, b in points]
    assert grid_references(e, n).tolist() == expected


def test_the_ons_postcodes_match_placing_one_by_one() -> None:
    """On the real NSPL postcodes and ONS force areas: every 97th row as Placer.place says."""
    data = require_shared_data("uk-police-geography")
    placer = Placer.from_specs(
        [_spec("force", data / "pfa_2023_bsc" / "PFA_DEC_2023_EW_BSC.shp")], check=False
    )
    source = (data / "postcodes_nspl_may2025_wy" / "HX.csv").read_bytes()
    rows = place_text(placer, source, 1 << 16)
    assert len(rows) == source.count(b"\n") - 1
    for row in rows[::97]:
        if not row["lat"]:
            assert row["error"] and row["force_code"] == ""
            continue
        placement = placer.place(Fix(float(row["lat"]), float(row["long"])))
        assert placement.bng is not None
        assert row["grid_ref"] == placement.bng.grid_ref
        assert row["easting"] == f"{placement.bng.easting:.2f}"
        assert row["force_code"] == (placement.layers["force"].code or "")


def _spec(level: str, path: object) -> object:
    from gis import LayerSpec

    return LayerSpec(level, path, None, None)  # type: ignore[arg-type]
