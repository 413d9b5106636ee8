"""``scenelink geocode``: one position for a person or a program, or a whole CSV."""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.commands import geocode
from gateway.commands.geocode import Progress, main

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def test_human_output_for_leeds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geocode", "53.7997", "-1.5492", "--accuracy", "20"]) == 0
    out = capsys.readouterr().out
    assert "SE 29790 33803" in out and "OSTN15" in out
    assert "force          West Yorkshire (WYP)" in out
    assert "district       Leeds (LDS)" in out
    assert "neighbourhood  Leeds City Centre (LCC)" in out
    assert "postcode       LS1 1UR, 35 m" in out


def test_json_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geocode", "53.959", "-1.082", "--accuracy", "30", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layers"]["force"]["code"] == "NYP"
    assert data["referral"]["code"] == "NYP"
    assert data["layers"]["district"]["nearest"]["code"] == "LDS"


def test_uncertain_and_outside_positions_read_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geocode", "53.7997", "-1.5492", "--accuracy", "2000"]) == 0
    out = capsys.readouterr().out
    assert "Leeds City Centre (LCC) 48%; also Armley (ARM) 19%" in out and "[ambiguous]" in out
    assert "flags          coarse_accuracy" in out
    assert main(["geocode", "53.959", "-1.082"]) == 0
    out = capsys.readouterr().out
    assert "district       none (nearest: Leeds (LDS), 15.1 km)" in out
    assert "referral       North Yorkshire (NYP): the position is in North Yorkshire" in out


def test_config_option_and_global_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["geocode", "53.7997", "-1.5492", "--config", str(SAMPLES / "boundaries.toml"), "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["layers"]["force"]["code"] == "WYP"
    assert (
        main(["--config", str(SAMPLES / "boundaries.toml"), "geocode", "53.7997", "-1.5492", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["layers"]["district"]["code"] == "LDS"


def test_boundary_files_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    files = [
        f"force={SAMPLES / 'boundaries' / 'forces.shp'}",
        str(SAMPLES / "boundaries" / "districts.geojson"),
    ]
    assert (
        main(["geocode", "53.7997", "-1.5492", "--boundaries", *files, "--home-force", "WYP", "--json"]) == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert list(data["layers"]) == ["force", "districts"]
    assert data["layers"]["districts"]["code"] == "LDS"
    assert data["postcode"] is None


def test_rejected_fix(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geocode", "93", "-1.5"]) == 2
    assert "rejected: latitude 93 is outside -90..90" in capsys.readouterr().err
    assert main(["geocode", "53.8", "-1.5", "--accuracy", "-5"]) == 2
    assert "accuracy must not be negative" in capsys.readouterr().err


def test_missing_position_or_config(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["geocode"]) == 2
    assert "give LAT LON, or --csv IN" in capsys.readouterr().err
    assert main(["geocode", "53.8", "-1.5", "--config", str(tmp_path / "none.toml")]) == 2
    assert "configuration file not found" in capsys.readouterr().err
    assert main(["geocode", "53.8", "-1.5", "--boundaries", str(tmp_path / "none.geojson")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_bulk_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        "id,Latitude,Longitude\n1,53.7997,-1.5492\n2,53.959,-1.082\n3,north,-1.5\n4,95,-1.5\n5,54.9,-2.9\n"
    )
    out = tmp_path / "out.csv"
    assert main(["geocode", "--csv", str(source), "--out", str(out), "--block-bytes", "7", "--progress"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert (rows[0]["force_code"], rows[0]["district_name"], rows[0]["neighbourhood_code"]) == (
        "WYP",
        "Leeds",
        "LCC",
    )
    assert rows[0]["grid_ref"] == "SE 29790 33803" and rows[0]["easting"] == "429790.07"
    assert (rows[1]["force_code"], rows[1]["district_code"]) == ("NYP", "")
    assert rows[2]["error"] == "not a number: 'north', '-1.5'" and rows[2]["force_code"] == ""
    assert rows[3]["error"] == "out of range: 95, -1.5"
    assert rows[4]["force_code"] == "" and rows[4]["error"] == ""  # placed, in no sample force
    err = capsys.readouterr().err
    assert "100%" in err and "5 rows" in err
    assert "2 of 5 rows could not be placed" in err


def test_bulk_to_stdout_with_named_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.csv"
    source.write_text("y,x\n53.7997,-1.5492\n")
    assert (
        main(["geocode", "--csv", str(source), "--lat-column", "y", "--lon-column", "x", "--no-progress"])
        == 0
    )
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].startswith("53.7997,-1.5492,429790.07,433803.12,SE 29790 33803,WYP")
    assert captured.err == ""


def test_bulk_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.csv"
    source.write_text("a,b\n1,2\n")
    assert main(["geocode", "--csv", str(source)]) == 2
    assert "cannot find the latitude column (columns: a, b)" in capsys.readouterr().err
    assert main(["geocode", "--csv", str(tmp_path / "none.csv")]) == 2
    assert "cannot open" in capsys.readouterr().err


def test_progress_bar() -> None:
    stream = io.StringIO()
    bar = Progress(1000, stream, width=10)
    bar.update(500, 50)
    bar.finish(100)
    text = stream.getvalue()
    assert "[#####-----]  50%  50 rows" in text and text.endswith("\n")
    quiet = io.StringIO()
    Progress(1000, quiet, enabled=False).finish(5)
    assert quiet.getvalue() == ""


def test_add_parser_registers_geocode() -> None:
    parser = argparse.ArgumentParser()
    geocode.add_parser(parser.add_subparsers())
    args = parser.parse_args(["geocode", "53.8", "-1.5", "--accuracy", "10"])
    assert args.func is geocode.run
    assert (args.latitude, args.longitude, args.accuracy) == (53.8, -1.5, 10.0)


def test_boundaries_given_twice_adds_both_layers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    forces = f"force={SAMPLES / 'boundaries' / 'forces.shp'}"
    districts = str(SAMPLES / "boundaries" / "districts.geojson")
    assert main(["geocode", "53.7997", "-1.5492", "--boundaries", forces, "--boundaries", districts, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data["layers"]) == ["force", "districts"]
    assert (data["layers"]["force"]["code"], data["layers"]["districts"]["code"]) == ("WYP", "LDS")
    # The same file twice names one level twice: refused, not silently merged.
    assert main(["geocode", "53.7997", "-1.5492", "--boundaries", districts, "--boundaries", districts]) == 2
    assert "two files give level 'districts'" in capsys.readouterr().err


def test_bulk_geocode_loads_no_server_or_dataframe_modules(tmp_path: Path) -> None:
    """Run as a user runs it, in its own process: only what placing a CSV needs is imported."""
    source = tmp_path / "in.csv"
    source.write_text("id,lat,long\n1,53.7997,-1.5492\n2,53.959,-1.082\n")
    out, loaded = tmp_path / "out.csv", tmp_path / "modules.json"
    argv = [
        "geocode", "--csv", str(source), "--out", str(out),
        "--boundaries", f"force={SAMPLES / 'boundaries' / 'forces.shp'}",
        "--boundaries", str(SAMPLES / "boundaries" / "districts.geojson"),
    ]
    wrapper = (
        "import json, sys\n"
        "from gateway.__main__ import main\n"
        "code = main(json.loads(sys.argv[1]))\n"
        "open(sys.argv[2], 'w').write(json.dumps(sorted(sys.modules)))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, json.dumps(argv), str(loaded)],
        cwd=SAMPLES.parent, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(out.open()))
    assert [(r["force_code"], r["districts_code"]) for r in rows] == [("WYP", "LDS"), ("NYP", "")]
    modules = {name.split(".")[0] for name in json.loads(loaded.read_text())}
    assert "gis" in modules and "numpy" in modules  # the check sees the real module list
    assert not modules & {"aiortc", "av", "aiohttp", "geopandas", "pandas", "pyproj", "cv2", "asyncio", "sqlalchemy"}
