// The dispatcher's map: boundary layers as vector outlines (useful with no tiles at all), a pin and
// accuracy circle for each active incident's latest fix, moved live. Contract: docs/api.md.
/* global L */

import { get, logout, whoAmI } from "/static/common/api.js";
import { connectEvents } from "/static/common/events.js";
import { fmtAge, fmtMetres, fmtNumber, fmtTime, h } from "/static/common/format.js";
import { summarise } from "/static/common/placement.js";

const $ = (id) => document.getElementById(id);

const LEVEL_STYLES = {
  force: { color: "#0b3d91", weight: 4, opacity: 0.9, fillColor: "#0b3d91", fillOpacity: 0.03 },
  district: { color: "#6f2c91", weight: 2, opacity: 0.85, dashArray: "6 4", fillOpacity: 0 },
  neighbourhood: { color: "#28a197", weight: 1, opacity: 0.8, dashArray: "2 4", fillOpacity: 0 },
};
const DEFAULT_STYLE = { color: "#505a5f", weight: 1.5, opacity: 0.8, fillOpacity: 0 };
const LEVEL_ORDER = ["force", "district", "neighbourhood"];
const ENDED_KEEP_MS = 10 * 60 * 1000;
const ENDED_STATES = ["ended", "expired", "revoked", "failed"];

let map = null;
const entries = new Map(); // incident id -> {inc, fix, marker, circle, li, ended}

// ---------------------------------------------------------------------------------------------
// Map and boundary layers

function levelLabel(level) {
  const text = { force: "Force areas", district: "Districts", neighbourhood: "Neighbourhoods" }[level];
  return text || level.charAt(0).toUpperCase() + level.slice(1);
}

function featureName(feature) {
  const p = feature.properties || {};
  return p.name || p.NAME || p.label || p.code || p.id || null;
}

async function addBoundaryLayers(config, control) {
  const layers = (config.layers || []).slice().sort(
    (a, b) => rank(a.level) - rank(b.level),
  );
  const loaded = await Promise.all(layers.map(async (layer) => {
    try {
      return { layer, data: await get(layer.url) };
    } catch (err) {
      showMapError(`The ${layer.level} boundaries could not be loaded: ${err.message}`);
      return null;
    }
  }));
  for (const item of loaded) {
    if (!item) continue;
    const { layer, data } = item;
    const style = Object.assign({}, LEVEL_STYLES[layer.level] || DEFAULT_STYLE, {
      className: `boundary boundary-${String(layer.level).replace(/[^A-Za-z0-9_-]/g, "_")}`,
    });
    const geo = L.geoJSON(data, {
      style: () => style,
      onEachFeature: (feature, lyr) => {
        const name = featureName(feature);
        if (name) lyr.bindTooltip(name, { sticky: true, className: "boundary-label" });
      },
    });
    geo.addTo(map);
    geo.bringToBack();
    control.addOverlay(geo, levelLabel(layer.level));
  }
}

function rank(level) {
  const i = LEVEL_ORDER.indexOf(level);
  return i < 0 ? LEVEL_ORDER.length : i;
}

function showMapError(text) {
  const el = $("map-error");
  el.textContent = text;
  el.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Incidents: pins, circles and the side list

function placeOf(fix) {
  return fix ? summarise(fix.placement) : null;
}

function whereText(place) {
  if (!place) return "No position yet";
  return [place.forceText || "Outside every force area", place.districtText].filter(Boolean).join(" · ");
}

function pinIcon(entry) {
  const html = h("div", {}, h("span", { class: "pin" }), h("span", { class: "label", text: entry.inc.reference }));
  return L.divIcon({
    className: "incident-pin" + (entry.ended ? " ended" : ""),
    html,
    iconSize: [22, 22],
    iconAnchor: [11, 11],
    popupAnchor: [0, -12],
  });
}

// Test and styling hooks on the marker's own element (Leaflet recreates it on setIcon).
function tagMarker(entry) {
  const el = entry.marker && entry.marker.getElement();
  if (!el) return;
  el.dataset.reference = entry.inc.reference;
  el.dataset.incidentId = entry.inc.id;
  el.setAttribute("aria-label", `Incident ${entry.inc.reference}: ${whereText(placeOf(entry.fix))}`);
}

function popupContent(entry) {
  const fix = entry.fix;
  const place = placeOf(fix);
  return h(
    "div",
    { class: "popup" },
    h("h2", { text: entry.inc.reference }),
    h(
      "dl",
      {},
      h("dt", { text: "Force" }), h("dd", { text: (place && place.force) || "—" }),
      h("dt", { text: "District" }), h("dd", { text: (place && place.district) || "—" }),
      place && place.neighbourhood ? [h("dt", { text: "Neighbourhood" }), h("dd", { text: place.neighbourhood })] : null,
      h("dt", { text: "Grid ref" }), h("dd", { class: "mono", text: (place && place.gridref) || "—" }),
      h("dt", { text: "Lat, lon" }),
      h("dd", { class: "mono", text: fix ? `${fmtNumber(fix.latitude, 5)}, ${fmtNumber(fix.longitude, 5)}` : "—" }),
      h("dt", { text: "Accuracy" }), h("dd", { text: fix ? fmtMetres(fix.accuracy) : "—" }),
      h("dt", { text: "Time" }), h("dd", { text: fix ? fmtTime(fix.received_at || fix.device_time) : "—" }),
      h("dt", { text: "State" }), h("dd", { text: entry.ended ? "ended" : entry.inc.state || "—" }),
    ),
    place && place.notices.length ? h("p", { class: "error", text: place.notices.map((n) => n.text).join("; ") }) : null,
  );
}

function upsertIncident(inc) {
  if (!inc || !inc.id) return;
  let entry = entries.get(inc.id);
  if (!entry) {
    entry = { inc, fix: null, marker: null, circle: null, li: null, ended: false };
    entries.set(inc.id, entry);
  } else {
    entry.inc = Object.assign({}, entry.inc, inc);
  }
  if (ENDED_STATES.includes(inc.state) || inc.ended_at) entry.ended = true;
  if (inc.latest_fix) updateFix(entry, inc.latest_fix);
  else renderEntry(entry);
}

function updateFix(entry, fix) {
  const at = fix.received_at || fix.device_time || "";
  const prev = entry.fix ? entry.fix.received_at || entry.fix.device_time || "" : "";
  if (entry.fix && prev && at && at < prev) return; // late, older fix
  entry.fix = fix;
  const latlng = [fix.latitude, fix.longitude];
  const radius = typeof fix.accuracy === "number" && fix.accuracy > 0 ? fix.accuracy : 0;
  if (!entry.marker) {
    entry.circle = L.circle(latlng, {
      radius, color: "#b00020", weight: 1, fillColor: "#b00020", fillOpacity: 0.15, interactive: false,
    }).addTo(map);
    entry.marker = L.marker(latlng, {
      icon: pinIcon(entry),
      title: entry.inc.reference,
      alt: `Incident ${entry.inc.reference}`,
      keyboard: true,
      riseOnHover: true,
    });
    entry.marker.bindPopup(() => popupContent(entry));
    entry.marker.on("add", () => tagMarker(entry));
    entry.marker.addTo(map);
  } else {
    entry.marker.setLatLng(latlng);
    entry.circle.setLatLng(latlng);
    entry.circle.setRadius(radius);
    if (entry.marker.isPopupOpen()) entry.marker.setPopupContent(popupContent(entry));
  }
  renderEntry(entry);
}

function renderEntry(entry) {
  renderMarker(entry);
  renderListItem(entry);
}

function renderMarker(entry) {
  if (entry.marker) {
    entry.marker.setIcon(pinIcon(entry));
    tagMarker(entry);
    entry.circle.setStyle(entry.ended
      ? { color: "#6f777b", fillColor: "#6f777b", fillOpacity: 0.08 }
      : { color: "#b00020", fillColor: "#b00020", fillOpacity: 0.15 });
  }
}

function renderListItem(entry) {
  const fix = entry.fix;
  const place = placeOf(fix);
  const details = [];
  if (place && place.gridref) details.push(place.gridref);
  if (fix) details.push(`± ${fmtMetres(fix.accuracy)}`);
  if (fix) details.push(fmtAge(fix.received_at || fix.device_time));
  const li = h(
    "li",
    {
      class: (entry.ended ? "ended" : "") + (fix ? "" : " no-fix"),
      dataset: { reference: entry.inc.reference, incidentId: entry.inc.id },
    },
    h(
      "button",
      { type: "button", onclick: () => focusEntry(entry) },
      h("span", { class: "ref", text: entry.inc.reference }),
      h("span", { class: "where", text: whereText(place) }),
      details.length ? h("span", { class: "detail", text: details.join(" · ") }) : null,
      h("span", { class: "detail", text: entry.ended ? "Session ended" : stateText(entry.inc.state) }),
    ),
  );
  if (entry.li && entry.li.parentNode) entry.li.replaceWith(li);
  else $("incidents").append(li);
  entry.li = li;
  updateCount();
}

function stateText(state) {
  return {
    created: "Link not sent yet", sent: "Link sent", opened: "Link opened", consented: "Caller agreed",
    streaming: "Live video", ended: "Ended", expired: "Link expired",
  }[state] || state || "";
}

function focusEntry(entry) {
  if (!entry.marker) return;
  map.setView(entry.marker.getLatLng(), Math.max(map.getZoom(), 14));
  entry.marker.openPopup();
}

function markEnded(id) {
  const entry = entries.get(id);
  if (!entry || entry.ended) return;
  entry.ended = true;
  renderEntry(entry);
  setTimeout(() => removeEntry(id), ENDED_KEEP_MS);
}

function removeEntry(id) {
  const entry = entries.get(id);
  if (!entry || !entry.ended) return;
  if (entry.marker) entry.marker.remove();
  if (entry.circle) entry.circle.remove();
  if (entry.li) entry.li.remove();
  entries.delete(id);
  updateCount();
}

function updateCount() {
  const active = [...entries.values()].filter((e) => !e.ended).length;
  $("incident-count").textContent = String(active);
  $("incidents-empty").hidden = entries.size > 0;
}

async function loadIncidents() {
  try {
    const data = await get("/api/incidents?active=1");
    const incidents = (data && data.incidents) || [];
    const seen = new Set(incidents.map((inc) => inc.id));
    for (const inc of incidents) upsertIncident(inc);
    for (const id of [...entries.keys()]) if (!seen.has(id)) markEnded(id);
  } catch (err) {
    showMapError(`Incidents could not be loaded: ${err.message}`);
  }
}

function onEvent(ev) {
  const data = ev.data || {};
  switch (ev.type) {
    case "incident.created":
      upsertIncident(data);
      break;
    case "fix": {
      let entry = entries.get(ev.incident_id);
      if (!entry) {
        // An incident this page has not seen yet: fetch its summary, then place the fix.
        get(`/api/incidents/${encodeURIComponent(ev.incident_id)}`)
          .then((inc) => { upsertIncident(Object.assign({}, inc, { latest_fix: data })); })
          .catch(() => {});
        return;
      }
      entry.ended = false; // a fix means the caller is sharing again (e.g. after reconnecting)
      updateFix(entry, data);
      break;
    }
    case "link.state": {
      const entry = entries.get(ev.incident_id);
      if (!entry) return;
      entry.inc.state = data.state;
      if (data.state === "ended") markEnded(ev.incident_id);
      else renderEntry(entry);
      break;
    }
    case "session.ended":
      // A session can end and the caller reconnect on the same link; only an ended link is final.
      // The gateway sends link.state "ended" for that; grey the pin now, a new fix revives it.
      markEnded(ev.incident_id);
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------

function setWsStatus(state) {
  const el = $("ws-status");
  el.dataset.state = state;
  el.textContent = { open: "live", connecting: "connecting…", closed: "offline" }[state] || state;
}

async function init() {
  $("logout").addEventListener("click", logout);
  let me;
  try {
    me = await whoAmI();
  } catch (err) {
    showMapError(err.message);
    return;
  }
  $("me").textContent = `${me.username} (${me.role})`;
  $("console-link").hidden = me.role === "dispatcher";
  if (typeof L === "undefined") {
    showMapError("The map library did not load (run `npm install` in web_client).");
    return;
  }
  const config = await get("/api/client-config");
  const center = Array.isArray(config.map_center) ? config.map_center : [53.79, -1.55];
  map = L.map("map", { center, zoom: config.map_zoom || 10, zoomControl: true });
  const control = L.control.layers(null, null, { collapsed: false }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  if (config.tile_url) {
    const tiles = L.tileLayer(config.tile_url, { attribution: config.tile_attribution || "", maxZoom: 19 });
    tiles.addTo(map);
    control.addBaseLayer(tiles, "Map tiles");
  }
  await Promise.all([addBoundaryLayers(config, control), loadIncidents()]);
  connectEvents("/api/events", {
    onOpen: loadIncidents, // catch up on anything missed while disconnected
    onEvent,
    onStatus: setWsStatus,
  });
  setInterval(() => { for (const entry of entries.values()) renderListItem(entry); }, 15000);
  document.body.dataset.ready = "true";
}

init();
