// Reading a fix's `placement` (gis Placement.to_dict()) into what the pages show:
//
//   {"layers": {"force": {"name", "code", "share", "shares": [{"name", "code", "share"}],
//                         "nearest": {"name", "code", "distance_m"} | null, "ambiguous"}, ...},
//    "bng": {"easting", "northing", "grid_ref", "transformation"} | null, "accuracy_m",
//    "ambiguous", "referral": {"name", "code", "share", "reason"} | null,
//    "postcode": {"postcode", "distance_m"} | null, "flags": ["..."]}
//
// Kept in one place so that the console and the map agree.

const FLAG_TEXT = {
  // Plain words for the flags gis raises (gis/fixes.py, gis/placer.py); others show as they come.
  coarse_accuracy: "Coarse accuracy: the caller may be anywhere in a wide circle",
  no_accuracy: "The phone gave no accuracy",
  stale: "Old position: the phone's time is well behind",
  future_time: "The phone's clock is ahead",
  gps_jump: "Implausible jump from the last position",
  outside_ostn15: "Outside the OS transformation grid: approximate grid reference",
  overlapping_features: "The boundary data overlaps here",
};

function layerOf(placement, level) {
  const layers = placement && placement.layers;
  if (!layers) return null;
  if (Array.isArray(layers)) return layers.find((l) => l && l.level === level) || null;
  return layers[level] || null;
}

function pct(share) {
  return typeof share === "number" ? Math.round(share * 100) + "%" : "";
}

function km(metres) {
  if (typeof metres !== "number") return "";
  return metres >= 1000 ? (metres / 1000).toFixed(1) + " km" : Math.round(metres) + " m";
}

// The area placed at one level ("force", "district", "neighbourhood"), by name, or null.
export function levelName(placement, level) {
  const layer = layerOf(placement, level);
  return layer && layer.name ? layer.name : null;
}

// What to show for a level: its name, or where it is not inside any area, the nearest one.
export function levelText(placement, level) {
  const layer = layerOf(placement, level);
  if (!layer) return null;
  if (layer.name) return layer.name;
  if (layer.nearest) return `Outside (nearest ${layer.nearest.name}, ${km(layer.nearest.distance_m)})`;
  return null;
}

export function gridOf(placement) {
  const bng = (placement && placement.bng) || {};
  return {
    easting: typeof bng.easting === "number" ? bng.easting : null,
    northing: typeof bng.northing === "number" ? bng.northing : null,
    gridref: typeof bng.grid_ref === "string" ? bng.grid_ref : null,
  };
}

// Everything a person should notice: ambiguity (with the shares), referral, flags.
export function notices(placement) {
  const p = placement || {};
  const out = [];
  const layers = p.layers && !Array.isArray(p.layers) ? p.layers : {};
  for (const [level, layer] of Object.entries(layers)) {
    if (!layer || !layer.ambiguous) continue;
    const shares = (layer.shares || []).map((s) => `${s.name} ${pct(s.share)}`).join(", ");
    out.push({ kind: "ambiguity", text: `Near a ${level} boundary: ${shares || "uncertain"}` });
  }
  if (p.ambiguous && !out.length) out.push({ kind: "ambiguity", text: "Near a boundary: the area is uncertain" });
  if (p.referral) {
    const r = p.referral;
    out.push({ kind: "referral", text: `Consider referral to ${r.name}${r.share ? " (" + pct(r.share) + " of the circle)" : ""}${r.reason ? ": " + r.reason : ""}` });
  }
  for (const flag of p.flags || []) {
    const key = typeof flag === "string" ? flag : flag && (flag.kind || flag.code);
    const text = FLAG_TEXT[key] || (typeof flag === "string" ? flag.replace(/_/g, " ") : (flag && flag.message) || key);
    if (text) out.push({ kind: "flag", text });
  }
  return out;
}

export function summarise(placement) {
  const grid = gridOf(placement);
  const postcode = placement && placement.postcode;
  return {
    force: levelName(placement, "force"),
    district: levelName(placement, "district"),
    neighbourhood: levelName(placement, "neighbourhood"),
    forceText: levelText(placement, "force"),
    districtText: levelText(placement, "district"),
    easting: grid.easting,
    northing: grid.northing,
    gridref: grid.gridref,
    postcode: postcode ? `${postcode.postcode} (${km(postcode.distance_m)} away)` : null,
    notices: notices(placement),
  };
}
