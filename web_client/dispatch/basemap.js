// The base map under the dispatcher's pins: vector tiles from the gateway's own PMTiles files
// (drawn by protomaps-leaflet), and/or a force's raster tile service through the gateway's proxy.
// Every URL here is the gateway's: no browser ever talks to a tile provider or sees its key.
/* global L, protomapsL */

const SEA = "#aad3df";
const LAND = "#f2efe9";
const WATER = "#9cc9dc";

// Road widths in pixels at zoom 15, by class; other zooms scale from there.
const ROAD = {
  motorway: { color: "#e892a2", casing: "#c24e6b", width: 7 },
  trunk: { color: "#f9b29c", casing: "#c84e2f", width: 6.5 },
  primary: { color: "#fcd6a4", casing: "#a06b00", width: 6 },
  secondary: { color: "#f7fabf", casing: "#707d05", width: 5.5 },
  tertiary: { color: "#ffffff", casing: "#8f8f8f", width: 5 },
  minor: { color: "#ffffff", casing: "#bbbbbb", width: 3.5 },
  service: { color: "#ffffff", casing: "#c8c8c8", width: 2 },
  path: { color: "#fa8072", casing: null, width: 1 },
};

const scaled = (px) => (z) => Math.max(0.5, px * Math.pow(2, (z - 15) * 0.75));

function roadRules(P) {
  const rules = [];
  const order = ["path", "service", "minor", "tertiary", "secondary", "primary", "trunk", "motorway"];
  for (const cls of order) {
    const style = ROAD[cls];
    if (style.casing) {
      rules.push({
        dataSource: "streets", dataLayer: "roads",
        filter: (z, f) => f.props.class === cls,
        symbolizer: new P.LineSymbolizer({ color: style.casing, width: scaled(style.width + 1.5), lineCap: "round" }),
      });
    }
  }
  for (const cls of order) {
    const style = ROAD[cls];
    rules.push({
      dataSource: "streets", dataLayer: "roads",
      filter: (z, f) => f.props.class === cls,
      symbolizer: new P.LineSymbolizer({
        color: style.color, width: scaled(style.width), lineCap: "round", dash: cls === "path" ? [2, 2] : undefined,
      }),
    });
  }
  return rules;
}

function paintRules(P) {
  return [
    { dataSource: "basemap", dataLayer: "land", symbolizer: new P.PolygonSymbolizer({ fill: LAND }) },
    { dataSource: "streets", dataLayer: "water", symbolizer: new P.PolygonSymbolizer({ fill: WATER }) },
    { dataSource: "streets", dataLayer: "waterways", symbolizer: new P.LineSymbolizer({ color: WATER, width: scaled(3) }) },
    ...roadRules(P),
    {
      dataSource: "basemap", dataLayer: "boundaries",
      symbolizer: new P.LineSymbolizer({ color: "#6f2c91", width: 1, opacity: 0.35, dash: [4, 4] }),
    },
  ];
}

function labelRules(P) {
  const place = (source) => ({
    dataSource: source, dataLayer: "places",
    symbolizer: new P.CenteredTextSymbolizer({
      labelProps: ["name"], fill: "#222", stroke: "#fff", width: 2.5,
      font: (z, f) => `${f && f.props.rank === 1 ? 700 : 600} ${f && f.props.rank <= 2 ? 15 : 12}px sans-serif`,
    }),
    sort: (a, b) => (a.rank || 9) - (b.rank || 9),
  });
  return [
    place("basemap"),
    place("streets"),
    {
      dataSource: "streets", dataLayer: "roads",
      filter: (z, f) => Boolean(f.props.name || f.props.ref),
      symbolizer: new P.LineLabelSymbolizer({
        labelProps: ["name", "ref"], fill: "#333", stroke: "#fff", width: 3, font: "500 12px sans-serif",
      }),
    },
  ];
}

const BNG = "+proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 +x_0=400000 +y_0=-100000 +ellps=airy " +
  "+towgs84=446.448,-125.157,542.06,0.15,0.247,0.842,-20.489 +units=m +no_defs";

// The map's coordinate system: Web Mercator, unless the force's tile service is on the British
// National Grid (EPSG:27700), whose tiles are drawn through proj4leaflet on their own grid.
export function mapOptions(config) {
  const remote = (config.basemap || {}).remote;
  const zoom = config.map_zoom || 10;
  if (!remote || remote.crs !== "EPSG:27700" || !L.Proj) return { zoom, maxZoom: 19 };
  const resolutions = remote.resolutions;
  const crs = new L.Proj.CRS("EPSG:27700", BNG, {
    resolutions, origin: remote.origin, bounds: L.bounds([remote.origin[0], 0], [900000, remote.origin[1]]),
  });
  // The configured zoom is a Web Mercator one: take the grid's zoom with the nearest scale.
  const lat = (config.map_center || [54])[0];
  const metres = (156543.03 * Math.cos((lat * Math.PI) / 180)) / Math.pow(2, zoom);
  let best = 0;
  resolutions.forEach((r, i) => { if (Math.abs(Math.log(r / metres)) < Math.abs(Math.log(resolutions[best] / metres))) best = i; });
  return { crs, zoom: best, maxZoom: Math.min(remote.max_zoom, resolutions.length - 1) };
}

// Adds the configured base maps to the map and the layer control; returns how many were added.
export function addBaseMaps(map, config, control) {
  const basemap = config.basemap || {};
  let added = 0;
  const vector = basemap.vector || [];
  const mercator = map.options.crs === L.CRS.EPSG3857;
  if (vector.length && mercator && typeof protomapsL !== "undefined") {
    const sources = {};
    for (const source of vector) sources[source.name] = { url: source.url, maxDataZoom: source.max_data_zoom };
    const layer = protomapsL.leafletLayer({
      sources,
      paintRules: paintRules(protomapsL),
      labelRules: labelRules(protomapsL),
      backgroundColor: SEA,
      attribution: vector.map((s) => s.attribution).filter(Boolean).join("; "),
      maxZoom: 19,
      className: "basemap-vector",
    });
    layer.addTo(map);
    control.addBaseLayer(layer, "Street map");
    added += 1;
    document.body.dataset.basemap = vector.map((s) => s.name).join(" ");
  }
  if (basemap.remote) {
    const tiles = L.tileLayer(basemap.remote.url, {
      attribution: basemap.remote.attribution || "", maxZoom: map.getMaxZoom(), className: "basemap-remote",
    });
    if (!added) tiles.addTo(map);
    control.addBaseLayer(tiles, "Force tile service");
    added += 1;
  }
  return added;
}
