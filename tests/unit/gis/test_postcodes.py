"""gis.postcodes: nearest postcode centroid from an NSPL-shaped CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gis import PostcodeError, PostcodeIndex, normalise_postcode
from gis.grid import to_bng


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "postcodes.csv"
    path.write_text(text)
    return path


def test_reads_the_sample_nspl_file(samples: Path) -> None:
    index = PostcodeIndex.from_csv(samples / "postcodes.csv")
    assert len(index) > 250
    assert index.skipped == 2  # NSPL's "no location" rows (latitude 99.999999)
    e, n, _ = to_bng(53.7997, -1.5492)
    postcode, distance = index.nearest(e, n)
    assert postcode == "LS1 1UR" and distance == pytest.approx(35.2, abs=0.1)


def test_detects_the_short_column_names(tmp_path: Path) -> None:
    path = _csv(
        tmp_path, "Postcode,lat,long\nLS1 1AA,53.79617,-1.55254\nLS109ZZ,,0.00000\nLS256HL,53.80,-1.35\n"
    )
    index = PostcodeIndex.from_csv(path)
    assert len(index) == 2 and index.skipped == 1  # the blank-latitude row
    e, n, _ = to_bng(53.80, -1.35)
    assert index.nearest(e, n) == ("LS25 6HL", pytest.approx(0.0, abs=0.01))


def test_columns_may_be_named(tmp_path: Path) -> None:
    path = _csv(tmp_path, "where,y,x\nLS1 1AA,53.79617,-1.55254\n")
    index = PostcodeIndex.from_csv(path, postcode_column="where", latitude_column="y", longitude_column="x")
    assert len(index) == 1


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = _csv(tmp_path, "Postcode,lat\nLS1 1AA,53.79617\n")
    with pytest.raises(PostcodeError, match=r"cannot find the longitude column \(columns: Postcode, lat\)"):
        PostcodeIndex.from_csv(path)


def test_missing_file_and_useless_file(tmp_path: Path) -> None:
    with pytest.raises(PostcodeError, match="cannot open"):
        PostcodeIndex.from_csv(tmp_path / "nope.csv")
    with pytest.raises(PostcodeError, match="the file is empty"):
        PostcodeIndex.from_csv(_csv(tmp_path, ""))
    with pytest.raises(PostcodeError, match=r"no rows with a usable location \(2 skipped\)"):
        PostcodeIndex.from_csv(_csv(tmp_path, "pcds,lat,long\nA,x,y\nB,99.999999,0\n"))


def test_max_distance(samples: Path) -> None:
    index = PostcodeIndex.from_csv(samples / "postcodes.csv")
    e, n, _ = to_bng(54.5, -1.5)  # far north of every sample postcode
    assert index.nearest(e, n, max_distance=2000) is None
    assert index.nearest(e, n) is not None
    assert index.nearest(float("nan"), n) is None


def test_nearest_agrees_with_brute_force() -> None:
    rng = np.random.default_rng(11)
    x = rng.uniform(400_000, 450_000, 5000)
    y = rng.uniform(400_000, 450_000, 5000)
    x[:2000] = rng.normal(425_000, 300, 2000)  # a dense town centre
    y[:2000] = rng.normal(425_000, 300, 2000)
    codes = np.array([f"P{i}" for i in range(x.size)])
    index = PostcodeIndex(codes, x, y)
    for qx, qy in zip(rng.uniform(380_000, 470_000, 300), rng.uniform(380_000, 470_000, 300), strict=True):
        d = np.hypot(x - qx, y - qy)
        code, distance = index.nearest(float(qx), float(qy))
        assert distance == pytest.approx(d.min())
        assert d[int(code[1:])] == pytest.approx(d.min())


def test_empty_index() -> None:
    assert PostcodeIndex(np.array([], dtype=str), [], []).nearest(0.0, 0.0) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("LS11UR", "LS1 1UR"),
        ("ls1 1ur", "LS1 1UR"),
        ("LS1  1UR", "LS1 1UR"),
        ("LS256HL", "LS25 6HL"),
        ("SW1A1AA", "SW1A 1AA"),
    ],
)
def test_normalise_postcode(text: str, expected: str) -> None:
    assert normalise_postcode(text) == expected


def test_centroid_of_a_postcode_however_typed() -> None:
    from gis.grid import to_bng

    index = PostcodeIndex.from_lonlat(
        ["LS1 1UR", "LS1  1AA", "BD1 1AA"], [-1.5492, -1.55254, -1.7506], [53.7997, 53.79617, 53.79603]
    )
    code, e, n = index.centroid("ls11ur") or ("", 0.0, 0.0)
    assert code == "LS1 1UR" and (e, n) == pytest.approx(to_bng(53.7997, -1.5492)[:2])
    assert index.centroid("LS1 1AA") is not None and index.centroid("LS11AA")[0] == "LS1  1AA"  # type: ignore[index]
    assert index.centroid("LS9 9ZZ") is None and index.centroid("") is None
