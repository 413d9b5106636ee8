"""Generate the small, synthetic sample boundaries and postcodes under ``samples/``.

Everything here is hand-drawn and coarse: five police force areas around West Yorkshire, West
Yorkshire's five districts, and a few neighbourhoods of central Leeds, shaped enough like the real
places for the demo map to make sense, and nothing like precise enough for real use. Vertices are
written once, in British National Grid kilometres, and polygons are chains of named vertices, so
neighbours share their edges exactly and the districts tile West Yorkshire exactly.

Outputs (all small, committed)::

    boundaries/forces.geojson          EPSG:27700, with a "crs" member
    boundaries/forces.kml              the same forces, WGS84 (as data.police.uk publishes KML)
    boundaries/forces.shp .shx .dbf .prj .cpg   ESRI Shapefile, EPSG:27700
    boundaries/forces.gpkg             GeoPackage, EPSG:27700
    boundaries/districts.geojson       WGS84, no "crs" member (RFC 7946)
    boundaries/neighbourhoods.geojson  WGS84, no "crs" member
    postcodes.csv                      synthetic postcode centroids in the NSPL column layout

Run from the repository root: ``python samples/make_boundaries.py``. The output is deterministic.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyogrio
import shapely

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from gis.grid import bng_to_lonlat, lonlat_to_bng  # noqa: E402  (after the path tweak, for running as a script)

OUT = HERE / "boundaries"

# Vertices, BNG kilometres (easting, northing). Junctions are named for what meets there.
V: dict[str, tuple[float, float]] = {
    # West Yorkshire's outline, clockwise from the north-west (Lancashire / North Yorkshire junction).
    "J_wy_nyp_lan": (396.0, 441.0),
    "wy_n1": (400.5, 447.0),
    "wy_n2": (406.0, 450.5),
    "wy_n3": (412.0, 451.0),
    "T_bfd_lds_n": (418.0, 448.5),
    "wy_n4": (423.5, 449.5),
    "wy_n5": (430.0, 447.0),
    "wy_n6": (436.0, 449.5),
    "wy_n7": (441.5, 452.5),
    "wy_n8": (446.0, 447.0),
    "wy_e1": (447.5, 441.0),
    "wy_e2": (445.0, 434.0),
    "T_lds_wak_e": (448.0, 431.75),
    "wy_e3": (451.0, 429.5),
    "wy_e4": (455.0, 424.0),
    "J_wy_nyp_syp": (459.0, 414.0),
    "wy_s1": (452.0, 411.0),
    "wy_s2": (446.0, 408.0),
    "wy_s3": (438.0, 410.5),
    "T_kir_wak_s": (430.0, 411.0),
    "wy_s4": (423.0, 407.5),
    "wy_s5": (417.0, 402.0),
    "J_wy_syp_gmp": (411.0, 403.0),
    "wy_w1": (405.0, 408.0),
    "T_cal_kir_w": (401.5, 413.5),
    "wy_w2": (396.5, 418.0),
    "J_wy_gmp_lan": (392.0, 421.0),
    "wy_w3": (391.0, 426.5),
    "wy_w4": (394.0, 431.5),
    "T_bfd_cal_w": (398.5, 434.5),
    # Inside West Yorkshire: where districts meet.
    "bl1": (418.5, 443.0),
    "bl2": (420.0, 437.0),
    "bl3": (421.0, 432.0),
    "T_bfd_lds_kir": (420.5, 427.0),
    "bk1": (418.0, 426.5),
    "T_bfd_cal_kir": (416.0, 425.5),
    "bc1": (412.0, 428.0),
    "bc2": (405.5, 430.5),
    "bc3": (401.0, 432.5),
    "lk1": (424.0, 426.0),
    "T_lds_kir_wak": (428.5, 424.5),
    "lw1": (434.5, 425.5),
    "lw2": (440.0, 427.0),
    "lw3": (445.0, 428.5),
    "kw1": (428.5, 418.0),
    "kw2": (427.0, 414.0),
    "ck1": (413.0, 419.0),
    "ck2": (408.0, 415.5),
    # Outer edges of the neighbouring forces.
    "nl1": (390.0, 446.5),
    "nl2": (382.0, 451.0),
    "nl3": (373.0, 457.5),
    "nl4": (366.0, 468.0),
    "J_nyp_lan_n": (362.0, 476.0),
    "nyp1": (375.0, 482.0),
    "nyp2": (385.0, 492.0),
    "nyp3": (398.0, 500.0),
    "nyp4": (420.0, 505.0),
    "nyp5": (445.0, 510.0),
    "nyp6": (470.0, 508.0),
    "nyp7": (490.0, 500.0),
    "nyp8": (502.0, 488.0),
    "nyp9": (505.0, 470.0),
    "nyp10": (495.0, 455.0),
    "nyp11": (485.0, 440.0),
    "nyp12": (478.0, 428.0),
    "ns1": (466.0, 415.5),
    "J_nyp_syp_e": (472.0, 417.0),
    "syp1": (475.0, 405.0),
    "syp2": (470.0, 392.0),
    "syp3": (465.0, 385.0),
    "syp4": (455.0, 378.0),
    "syp5": (445.0, 375.0),
    "syp6": (433.0, 376.0),
    "syp7": (420.0, 380.0),
    "syp8": (412.0, 383.0),
    "J_syp_gmp_s": (405.0, 390.0),
    "gs1": (408.0, 396.0),
    "gmp1": (400.0, 383.0),
    "gmp2": (392.0, 380.0),
    "gmp3": (385.0, 382.0),
    "gmp4": (375.0, 383.0),
    "gmp5": (366.0, 385.0),
    "gmp6": (358.0, 390.0),
    "gmp7": (352.0, 398.0),
    "gmp8": (350.0, 405.0),
    "J_gmp_lan_w": (352.0, 410.0),
    "gl1": (360.0, 413.0),
    "gl2": (370.0, 416.0),
    "gl3": (378.0, 418.5),
    "gl4": (385.0, 422.0),
    "lan1": (345.0, 408.0),
    "lan2": (337.0, 412.0),
    "lan3": (332.0, 425.0),
    "lan4": (330.0, 435.0),
    "lan5": (332.0, 445.0),
    "lan6": (340.0, 455.0),
    "lan7": (345.0, 465.0),
    "lan8": (350.0, 475.0),
    # Central Leeds neighbourhoods: a 4 x 4 lattice of vertices around the city centre.
    "a": (427.0, 431.0), "b": (429.0, 430.8), "c": (431.2, 431.0), "d": (433.5, 431.2),
    "e": (427.2, 432.6), "f": (428.8, 432.5), "g": (431.3, 432.4), "h": (433.3, 432.7),
    "i": (427.0, 434.9), "j": (428.9, 435.1), "k": (431.0, 435.0), "l": (433.6, 434.8),
    "m": (426.8, 437.5), "n": (429.0, 437.8), "o": (431.2, 437.4), "p": (433.8, 437.6),
}  # fmt: skip

# Shared chains, so that each shared edge is written exactly once.
WY_NORTH_WEST = ["J_wy_nyp_lan", "wy_n1", "wy_n2", "wy_n3", "T_bfd_lds_n"]
WY_NORTH_EAST = ["T_bfd_lds_n", "wy_n4", "wy_n5", "wy_n6", "wy_n7", "wy_n8", "wy_e1", "wy_e2", "T_lds_wak_e"]
WY_EAST = ["T_lds_wak_e", "wy_e3", "wy_e4", "J_wy_nyp_syp"]
WY_SOUTH_EAST = ["J_wy_nyp_syp", "wy_s1", "wy_s2", "wy_s3", "T_kir_wak_s"]
WY_SOUTH_WEST = ["T_kir_wak_s", "wy_s4", "wy_s5", "J_wy_syp_gmp"]
WY_GMP = ["J_wy_syp_gmp", "wy_w1", "T_cal_kir_w", "wy_w2", "J_wy_gmp_lan"]
WY_LAN = ["J_wy_gmp_lan", "wy_w3", "wy_w4", "T_bfd_cal_w", "J_wy_nyp_lan"]
BFD_LDS = ["T_bfd_lds_n", "bl1", "bl2", "bl3", "T_bfd_lds_kir"]
BFD_KIR = ["T_bfd_lds_kir", "bk1", "T_bfd_cal_kir"]
BFD_CAL = ["T_bfd_cal_kir", "bc1", "bc2", "bc3", "T_bfd_cal_w"]
LDS_KIR = ["T_bfd_lds_kir", "lk1", "T_lds_kir_wak"]
LDS_WAK = ["T_lds_kir_wak", "lw1", "lw2", "lw3", "T_lds_wak_e"]
KIR_WAK = ["T_lds_kir_wak", "kw1", "kw2", "T_kir_wak_s"]
CAL_KIR = ["T_bfd_cal_kir", "ck1", "ck2", "T_cal_kir_w"]
NYP_LAN = ["J_wy_nyp_lan", "nl1", "nl2", "nl3", "nl4", "J_nyp_lan_n"]
NYP_SYP = ["J_wy_nyp_syp", "ns1", "J_nyp_syp_e"]
SYP_GMP = ["J_wy_syp_gmp", "gs1", "J_syp_gmp_s"]
GMP_LAN = ["J_wy_gmp_lan", "gl4", "gl3", "gl2", "gl1", "J_gmp_lan_w"]


def ring(*chains: list[str]) -> list[str]:
    """Join chains end to start (a chain may be given reversed with ``rev``) into a closed ring."""
    names: list[str] = []
    for chain in chains:
        if names and names[-1] != chain[0]:
            raise ValueError(f"chain {chain} does not start where the ring ended ({names[-1]})")
        names.extend(chain if not names else chain[1:])
    if names[0] != names[-1]:
        raise ValueError(f"ring does not close: {names[0]} .. {names[-1]}")
    return names


def rev(chain: list[str]) -> list[str]:
    return chain[::-1]


WY = ring(WY_NORTH_WEST, WY_NORTH_EAST, WY_EAST, WY_SOUTH_EAST, WY_SOUTH_WEST, WY_GMP, WY_LAN)

FORCES = [
    ("West Yorkshire", "WYP", WY),
    (
        "North Yorkshire",
        "NYP",
        ring(
            NYP_LAN,
            ["J_nyp_lan_n", "nyp1", "nyp2", "nyp3", "nyp4", "nyp5", "nyp6", "nyp7", "nyp8", "nyp9",
             "nyp10", "nyp11", "nyp12", "J_nyp_syp_e"],
            rev(NYP_SYP),
            rev(WY_EAST),
            rev(WY_NORTH_EAST),
            rev(WY_NORTH_WEST),
        ),
    ),
    (
        "South Yorkshire",
        "SYP",
        ring(
            rev(WY_SOUTH_WEST),
            rev(WY_SOUTH_EAST),
            NYP_SYP,
            ["J_nyp_syp_e", "syp1", "syp2", "syp3", "syp4", "syp5", "syp6", "syp7", "syp8", "J_syp_gmp_s"],
            rev(SYP_GMP),
        ),
    ),
    (
        "Greater Manchester",
        "GMP",
        ring(
            rev(WY_GMP),
            SYP_GMP,
            ["J_syp_gmp_s", "gmp1", "gmp2", "gmp3", "gmp4", "gmp5", "gmp6", "gmp7", "gmp8", "J_gmp_lan_w"],
            rev(GMP_LAN),
        ),
    ),
    (
        "Lancashire",
        "LAN",
        ring(
            rev(WY_LAN),
            GMP_LAN,
            ["J_gmp_lan_w", "lan1", "lan2", "lan3", "lan4", "lan5", "lan6", "lan7", "lan8", "J_nyp_lan_n"],
            rev(NYP_LAN),
        ),
    ),
]  # fmt: skip

DISTRICTS = [
    ("Leeds", "LDS", ring(WY_NORTH_EAST, rev(LDS_WAK), rev(LDS_KIR), rev(BFD_LDS))),
    ("Bradford", "BFD", ring(WY_NORTH_WEST, BFD_LDS, BFD_KIR, BFD_CAL, WY_LAN[-2:])),
    ("Calderdale", "CAL", ring(rev(BFD_CAL), CAL_KIR, WY_GMP[2:], WY_LAN[:-1])),
    ("Kirklees", "KIR", ring(rev(BFD_KIR), LDS_KIR, KIR_WAK, WY_SOUTH_WEST, WY_GMP[:3], rev(CAL_KIR))),
    ("Wakefield", "WAK", ring(LDS_WAK, WY_EAST, WY_SOUTH_EAST, rev(KIR_WAK))),
]

NEIGHBOURHOODS = [
    ("Leeds City Centre", "LCC", ["f", "g", "k", "j", "f"]),
    ("Beeston and Holbeck", "BHB", ["e", "a", "b", "c", "g", "f", "e"]),
    ("Richmond Hill", "RHL", ["c", "d", "h", "l", "k", "g", "c"]),
    ("Armley", "ARM", ["e", "f", "j", "i", "e"]),
    ("Headingley", "HDG", ["i", "j", "n", "m", "i"]),
    ("Little London and Woodhouse", "LLW", ["j", "k", "o", "n", "j"]),
    ("Burmantofts and Harehills", "BHH", ["k", "l", "p", "o", "k"]),
]

# Postcode areas by district, and a few hand-placed postcodes for the demo (BNG km).
AREAS = {"LDS": "LS", "BFD": "BD", "CAL": "HX", "KIR": "HD", "WAK": "WF"}
FIXED_POSTCODES = [
    ("LS1 1UR", (429.815, 433.828)),  # 35 m from the demo point in Leeds city centre
    ("LS1 4DY", (429.95, 433.60)),
    ("LS2 7HY", (429.60, 434.20)),
    ("BD1 1HY", (416.4, 433.0)),
    ("HX1 1UJ", (409.3, 425.3)),
    ("HD1 2TA", (414.5, 416.5)),
    ("WF1 2EB", (433.5, 420.8)),
]

# The point the rest of the team relies on: Leeds city centre, 20 m accuracy.
DEMO_POINT = (53.7997, -1.5492)


def polygon(names: list[str]) -> shapely.Polygon:
    return shapely.Polygon([(V[n][0] * 1000.0, V[n][1] * 1000.0) for n in names])


def oriented(geometries: list[shapely.Polygon]) -> np.ndarray:
    """Counter-clockwise exteriors, as RFC 7946 asks."""
    return np.asarray(shapely.orient_polygons(np.array(geometries, dtype=object)), dtype=object)


def verify(forces: np.ndarray, districts: np.ndarray, neighbourhoods: np.ndarray) -> None:
    """Refuse to write samples that break the guarantees tests and demos rely on."""
    for group in (forces, districts, neighbourhoods):
        require(bool(shapely.is_valid(group).all()), f"invalid: {shapely.is_valid_reason(group)}")
        for i in range(len(group)):
            for j in range(i + 1, len(group)):
                overlap = shapely.area(shapely.intersection(group[i], group[j]))
                require(overlap == 0, f"polygons {i} and {j} overlap by {overlap} m²")
    tiled = shapely.union_all(districts)
    gap = shapely.area(shapely.symmetric_difference(tiled, forces[0]))
    require(gap < 1e-6, "districts must tile West Yorkshire")
    require(
        shapely.covers(districts[0], shapely.union_all(neighbourhoods)), "neighbourhoods must lie in Leeds"
    )
    lon, lat = DEMO_POINT[1], DEMO_POINT[0]
    e, n = (float(v[0]) for v in bng_from_lonlat(lon, lat))
    circle = shapely.Point(e, n).buffer(20)
    for group, name in ((forces, "WYP"), (districts, "LDS"), (neighbourhoods, "LCC")):
        require(bool(shapely.contains(group[0], circle)), f"the demo point must lie well inside {name}")


def bng_from_lonlat(lon: float, lat: float) -> tuple[np.ndarray, np.ndarray]:
    e, n, _ = lonlat_to_bng([lon], [lat])
    return e, n


def require(condition: bool, message: str) -> None:
    if not condition:
        raise SystemExit(f"make_boundaries: {message}")


def lonlat(geometries: np.ndarray, decimals: int) -> np.ndarray:
    def move(xy: np.ndarray) -> np.ndarray:
        lon, lat = bng_to_lonlat(xy[:, 0], xy[:, 1])
        return np.round(np.column_stack([lon, lat]), decimals)

    return np.asarray(shapely.orient_polygons(shapely.transform(geometries, move)), dtype=object)


def feature_collection(
    rows: list[tuple[str, str, list[str]]], geometries: np.ndarray, crs: str | None
) -> str:
    features = [
        {
            "type": "Feature",
            "properties": {"name": name, "code": code},
            "geometry": json.loads(shapely.to_geojson(g)),
        }
        for (name, code, _), g in zip(rows, geometries, strict=True)
    ]
    document: dict[str, object] = {"type": "FeatureCollection"}
    if crs is not None:
        document["crs"] = {"type": "name", "properties": {"name": crs}}
    document["features"] = features
    # One feature per line: small, and diffs stay readable.
    body = ",\n".join(json.dumps(f, separators=(",", ":")) for f in features)
    head = json.dumps({k: v for k, v in document.items() if k != "features"}, separators=(",", ":"))[:-1]
    return f'{head},"features":[\n{body}\n]}}\n'


def write_formats(rows: list[tuple[str, str, list[str]]], bng: np.ndarray, wgs84: np.ndarray) -> None:
    """Shapefile, GeoPackage and KML copies of the forces.

    GDAL stamps the date into .dbf and .gpkg files, so files whose features have not changed are
    left as they are: regenerating the samples then leaves git clean.
    """
    names = np.array([r[0] for r in rows], dtype=object)
    codes = np.array([r[1] for r in rows], dtype=object)
    common = {"fields": ["name", "code"], "field_data": [names, codes], "geometry_type": "Polygon"}
    formats = [
        (
            "forces.shp",
            (".shp", ".shx", ".dbf", ".prj", ".cpg"),
            bng,
            {"driver": "ESRI Shapefile", "crs": "EPSG:27700"},
        ),
        ("forces.gpkg", (".gpkg",), bng, {"driver": "GPKG", "crs": "EPSG:27700", "layer": "forces"}),
        ("forces.kml", (".kml",), wgs84, {"driver": "KML", "crs": "EPSG:4326", "layer": "forces"}),
    ]
    with tempfile.TemporaryDirectory() as scratch:
        for name, suffixes, geometries, options in formats:
            fresh = Path(scratch) / name
            pyogrio.raw.write(fresh, shapely.to_wkb(geometries), **common, **options)
            if same_features(OUT / name, fresh):
                continue
            for suffix in suffixes:
                made = fresh.with_suffix(suffix)
                if made.exists():
                    shutil.copyfile(made, (OUT / name).with_suffix(suffix))


def same_features(old: Path, new: Path) -> bool:
    if not old.exists():
        return False
    try:
        _, _, old_wkb, old_fields = pyogrio.raw.read(old)
    except Exception:  # unreadable: replace it
        return False
    _, _, new_wkb, new_fields = pyogrio.raw.read(new)
    same_values = all(np.array_equal(a, b) for a, b in zip(old_fields, new_fields, strict=False))
    geometries_equal = shapely.equals_exact(shapely.from_wkb(old_wkb), shapely.from_wkb(new_wkb), tolerance=0)
    return bool(len(old_fields) == len(new_fields) and same_values and geometries_equal.all())


def write_postcodes(districts: np.ndarray) -> None:
    """About 300 synthetic centroids: dense around each town centre, sparse elsewhere."""
    rng = np.random.default_rng(999)
    centres = {
        "LDS": (429.8, 433.8),
        "BFD": (416.4, 433.0),
        "CAL": (409.3, 425.3),
        "KIR": (414.5, 416.5),
        "WAK": (433.5, 420.8),
    }
    rows: list[tuple[str, float, float]] = [(pc, x * 1000, y * 1000) for pc, (x, y) in FIXED_POSTCODES]
    used = {pc for pc, _, _ in rows}
    for (_, code, _), district in zip(DISTRICTS, districts, strict=True):
        area = AREAS[code]
        cx, cy = centres[code]
        placed = 0
        while placed < 55:
            near = placed < 35
            spread = 1200.0 if near else 9000.0
            x = cx * 1000 + rng.normal(0, spread)
            y = cy * 1000 + rng.normal(0, spread)
            if not shapely.contains_xy(district, x, y):
                continue
            outward = f"{area}{1 + int(rng.integers(0, 3)) if near else 4 + int(rng.integers(0, 20))}"
            letters = "ABDEFGHJLNPQRSTUWXYZ"  # the letters inward codes use
            inward = f"{rng.integers(1, 10)}{letters[rng.integers(0, 20)]}{letters[rng.integers(0, 20)]}"
            postcode = f"{outward} {inward}"
            if postcode in used:
                continue
            used.add(postcode)
            rows.append((postcode, x, y))
            placed += 1
    rows.sort()
    e = np.array([r[1] for r in rows])
    n = np.array([r[2] for r in rows])
    lon, lat = bng_to_lonlat(e, n)
    header = [
        "pcd",
        "pcd2",
        "pcds",
        "dointr",
        "doterm",
        "oseast1m",
        "osnrth1m",
        "osgrdind",
        "oslaua",
        "pfa",
        "lat",
        "long",
    ]
    with open(HERE / "postcodes.csv", "w", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(header)
        for (pc, x, y), la, lo in zip(rows, lat, lon, strict=True):
            outward, inward = pc.split()
            out.writerow(
                [
                    f"{outward:<4}{inward}",
                    f"{outward:<5}{inward}",
                    pc,
                    "198001",
                    "",
                    f"{x:.0f}",
                    f"{y:.0f}",
                    "1",
                    "",
                    "E23000010",
                    f"{la:.6f}",
                    f"{lo:.6f}",
                ]
            )
        # NSPL rows without a location: latitude 99.999999, no grid reference. Readers must skip them.
        for pc in ("LS99 9ZZ", "BD98 1ZZ"):
            outward, inward = pc.split()
            out.writerow(
                [
                    f"{outward:<4}{inward}",
                    f"{outward:<5}{inward}",
                    pc,
                    "199001",
                    "200512",
                    "",
                    "",
                    "9",
                    "",
                    "",
                    "99.999999",
                    "0.000000",
                ]
            )


def main() -> None:
    OUT.mkdir(exist_ok=True)
    forces = oriented([polygon(r[2]) for r in FORCES])
    districts = oriented([polygon(r[2]) for r in DISTRICTS])
    neighbourhoods = oriented([polygon(r[2]) for r in NEIGHBOURHOODS])
    verify(forces, districts, neighbourhoods)

    (OUT / "forces.geojson").write_text(feature_collection(FORCES, forces, "urn:ogc:def:crs:EPSG::27700"))
    (OUT / "districts.geojson").write_text(feature_collection(DISTRICTS, lonlat(districts, 7), None))
    (OUT / "neighbourhoods.geojson").write_text(
        feature_collection(NEIGHBOURHOODS, lonlat(neighbourhoods, 7), None)
    )
    write_formats(FORCES, forces, lonlat(forces, 7))
    write_postcodes(districts)
    total = sum(p.stat().st_size for p in OUT.iterdir()) + (HERE / "postcodes.csv").stat().st_size
    print(f"wrote {len(list(OUT.iterdir()))} files in {OUT} and postcodes.csv, {total / 1024:.0f} KiB in all")


if __name__ == "__main__":
    main()
