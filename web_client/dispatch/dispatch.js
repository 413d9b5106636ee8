// The dispatcher's map: boundary layers as vector outlines (useful with no tiles at all), a pin and
// accuracy circle for each active incident's latest fix, moved live. Contract: docs/api.md.
/* global L */

import { get, logout, whoAmI } from "/static/common/api.js";
import { connectEvents } from "/static/common/events.js";
import { fmtAge, fmtMetres, fmtNumber, fmtTime, h } from "/static/common/format.js";
import { summarise } from "/static/common/placement.js";
import { addBaseMaps, mapOptions } from "/static/dispatch/basemap.js";

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
const TRAIL_FIXES = 50; // fixes drawn behind each caller's newest one
const REFRESH_MS = 5000; // ages and staleness are redrawn this often

let map = null;
let pins = null; // the marker cluster group (or a plain layer group without the plugin)
let staleAfterS = 120;
let following = null; // incident id the map keeps centred, or null
let searchMarker = null;
const entries = new Map(); // incident id -> {inc, fix, trail, marker, circle, trailLayer, li, ended}

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

function fixTime(fix) {
  return fix ? fix.received_at || fix.device_time || "" : "";
}

function isStale(entry, now = Date.now()) {
  const at = Date.parse(fixTime(entry.fix));
  return !entry.ended && isFinite(at) && now - at > staleAfterS * 1000;
}

// When anything last happened to the incident: its newest fix, else its creation.
function lastActivity(entry) {
  const times = [fixTime(entry.fix), entry.inc.created_at, entry.stateAt].map((t) => Date.parse(t || ""));
  return Math.max(0, ...times.filter((t) => isFinite(t)));
}

function pinIcon(entry) {
  const age = entry.fix ? fmtAge(fixTime(entry.fix)) : "";
  const html = h(
    "div", {}, h("span", { class: "pin" }),
    h("span", { class: "label", text: entry.inc.reference }, age ? h("span", { class: "age", text: ` · ${age}` }) : null),
  );
  return L.divIcon({
    className: "incident-pin" + (entry.ended ? " ended" : "") + (isStale(entry) ? " stale" : "") +
      (following === entry.inc.id ? " followed" : ""),
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
  el.dataset.stale = isStale(entry) ? "true" : "false";
  el.setAttribute("aria-label", `Incident ${entry.inc.reference}: ${whereText(placeOf(entry.fix))}`);
}

// One popup element per incident, refreshed in place when a fix comes: its "Follow" button is
// never swapped for a new one under the dispatcher's pointer.
function popupContent(entry) {
  if (!entry.popup) {
    entry.popupDetails = h("div", {});
    entry.popupFollow = h("button", {
      type: "button", class: "btn-small",
      onclick: () => setFollow(following === entry.inc.id ? null : entry.inc.id),
    });
    entry.popup = h("div", { class: "popup" }, entry.popupDetails, h("p", { class: "popup-actions" }, entry.popupFollow));
  }
  entry.popupDetails.replaceChildren(...popupDetails(entry).filter(Boolean));
  entry.popupFollow.textContent = following === entry.inc.id ? "Stop following" : "Follow";
  return entry.popup;
}

function popupDetails(entry) {
  const fix = entry.fix;
  const place = placeOf(fix);
  return [
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
      h("dt", { text: "Time" }), h("dd", { text: fix ? `${fmtTime(fixTime(fix))} (${fmtAge(fixTime(fix))})` : "—" }),
      h("dt", { text: "Source" }), h("dd", { text: fix ? sourceText(fix) : "—" }),
      h("dt", { text: "State" }), h("dd", { text: entry.ended ? "ended" : entry.inc.state || "—" }),
    ),
    isStale(entry) ? h("p", { class: "error stale-note", text: `No new position for ${fmtAge(fixTime(fix)).replace(" ago", "")}: the caller may have moved.` }) : null,
    place && place.notices.length ? h("p", { class: "error", text: place.notices.map((n) => n.text).join("; ") }) : null,
  ];
}

function upsertIncident(inc) {
  if (!inc || !inc.id) return;
  let entry = entries.get(inc.id);
  if (!entry) {
    entry = { inc, fix: null, trail: [], marker: null, circle: null, trailLayer: null, li: null, ended: false };
    entries.set(inc.id, entry);
    if (inc.latest_fix) loadTrail(entry);
  } else {
    entry.inc = Object.assign({}, entry.inc, inc);
  }
  if (ENDED_STATES.includes(inc.state) || inc.ended_at) entry.ended = true;
  if (inc.latest_fix) updateFix(entry, inc.latest_fix);
  else renderEntry(entry);
}

function updateFix(entry, fix) {
  const at = fixTime(fix);
  const prev = fixTime(entry.fix);
  if (entry.fix && prev && at && at < prev) return; // late, older fix
  if (entry.fix && entry.fix.id === fix.id && fix.id !== undefined) return;
  const before = entry.fix;
  if (entry.fix) entry.trail.push(entry.fix);
  if (entry.trail.length > TRAIL_FIXES) entry.trail.splice(0, entry.trail.length - TRAIL_FIXES);
  entry.fix = fix;
  const moved = !before || before.latitude !== fix.latitude || before.longitude !== fix.longitude;
  const latlng = [fix.latitude, fix.longitude];
  const radius = typeof fix.accuracy === "number" && fix.accuracy > 0 ? fix.accuracy : 0;
  if (!entry.marker) {
    entry.trailLayer = L.layerGroup().addTo(map);
    entry.circle = L.circle(latlng, {
      radius, color: "#b00020", weight: 2, fillColor: "#b00020", fillOpacity: 0.15, interactive: false,
      className: "accuracy accuracy-newest",
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
    keepingPopup(() => pins.addLayer(entry.marker));
  } else {
    // The cluster plugin takes a moved marker out and puts it back, so a caller who has not moved
    // leaves the marker where it is: an open popup stays put for a caller standing still.
    if (moved) {
      keepingPopup(() => entry.marker.setLatLng(latlng));
      entry.circle.setLatLng(latlng);
    }
    entry.circle.setRadius(radius);
    if (entry.marker.isPopupOpen()) {
      // Refresh the open popup's text in place and let it re-measure. Popup.update() would not
      // do: it takes the content element out of the page and puts it back, so a click already on
      // its way to the Follow button would land on a detached element.
      popupContent(entry);
      const popup = entry.marker.getPopup();
      popup._updateLayout();
      popup._updatePosition();
    }
  }
  drawTrail(entry);
  if (following === entry.inc.id) map.panTo(latlng);
  renderEntry(entry);
}

// The caller's earlier fixes: a line through them and a faint accuracy circle at each.
function drawTrail(entry) {
  if (!entry.trailLayer) return;
  entry.trailLayer.clearLayers();
  const points = entry.trail.concat(entry.fix ? [entry.fix] : []);
  if (points.length > 1) {
    L.polyline(points.map((f) => [f.latitude, f.longitude]), {
      color: "#b00020", weight: 3, opacity: 0.6, dashArray: "4 6", interactive: false, className: "trail-line",
    }).addTo(entry.trailLayer);
  }
  for (const f of entry.trail) {
    const r = typeof f.accuracy === "number" && f.accuracy > 0 ? f.accuracy : 0;
    L.circle([f.latitude, f.longitude], {
      radius: r, color: "#b00020", weight: 1, opacity: 0.35, fillOpacity: 0.04, interactive: false,
      className: "accuracy accuracy-old",
    }).addTo(entry.trailLayer);
    L.circleMarker([f.latitude, f.longitude], {
      radius: 3, color: "#b00020", weight: 1, fillColor: "#fff", fillOpacity: 1, className: "trail-fix",
    }).bindTooltip(`${fmtTime(fixTime(f))} · ± ${fmtMetres(f.accuracy)}`).addTo(entry.trailLayer);
  }
}

async function loadTrail(entry) {
  try {
    const data = await get(`/api/incidents/${encodeURIComponent(entry.inc.id)}/trail?limit=${TRAIL_FIXES + 1}`);
    const fixes = (data && data.fixes) || [];
    if (!fixes.length) return;
    const newest = fixes[fixes.length - 1];
    const known = new Set(entry.trail.map((f) => f.id));
    const older = fixes.slice(0, -1).filter((f) => !known.has(f.id));
    entry.trail = older.concat(entry.trail).sort((a, b) => (fixTime(a) < fixTime(b) ? -1 : 1)).slice(-TRAIL_FIXES);
    if (!entry.fix || fixTime(newest) >= fixTime(entry.fix)) {
      entry.trail = entry.trail.filter((f) => f.id !== newest.id);
      updateFix(entry, newest);
    } else {
      drawTrail(entry);
    }
  } catch (err) {
    showMapError(`The trail of ${entry.inc.reference} could not be loaded: ${err.message}`);
  }
}

function renderEntry(entry) {
  renderMarker(entry);
  renderListItem(entry);
}

function renderMarker(entry) {
  if (entry.marker) {
    entry.marker.setIcon(pinIcon(entry));
    tagMarker(entry);
    const stale = isStale(entry);
    entry.circle.setStyle(entry.ended
      ? { color: "#6f777b", fillColor: "#6f777b", fillOpacity: 0.08 }
      : stale ? { color: "#8a6d00", fillColor: "#8a6d00", fillOpacity: 0.1, dashArray: "6 4" }
        : { color: "#b00020", fillColor: "#b00020", fillOpacity: 0.15, dashArray: null });
  }
}

// Where a position came from: the caller's page, or the handset's own AML message.
function sourceText(fix) {
  return fix.source === "aml" ? "AML (handset)" : "Caller's page";
}

function renderListItem(entry) {
  const fix = entry.fix;
  const place = placeOf(fix);
  const stale = isStale(entry);
  const details = [];
  if (fix && fix.source === "aml") details.push("AML");
  if (place && place.gridref) details.push(place.gridref);
  if (fix) details.push(`± ${fmtMetres(fix.accuracy)}`);
  const li = h(
    "li",
    {
      class: [entry.ended ? "ended" : "", fix ? "" : "no-fix", stale ? "stale" : "", following === entry.inc.id ? "followed" : ""]
        .filter(Boolean).join(" "),
      dataset: { reference: entry.inc.reference, incidentId: entry.inc.id, lastActivity: String(lastActivity(entry)) },
    },
    h(
      "button",
      { type: "button", onclick: () => focusEntry(entry) },
      h("span", { class: "ref", text: entry.inc.reference }),
      h("span", { class: "where", text: whereText(place) }),
      details.length ? h("span", { class: "detail", text: details.join(" · ") }) : null,
      fix ? h("span", { class: "detail age" + (stale ? " stale" : ""), text: (stale ? "Stale: " : "Fix ") + fmtAge(fixTime(fix)) }) : null,
      h("span", { class: "detail state", text: entry.ended ? "Session ended" : stateText(entry.inc.state) }),
    ),
  );
  if (entry.li && entry.li.parentNode) entry.li.replaceWith(li);
  else $("incidents").append(li);
  entry.li = li;
  sortList();
  updateCount();
}

// Most recent activity first; ended incidents sink below the active ones.
function sortList() {
  const list = $("incidents");
  const items = [...list.children];
  const sorted = items.slice().sort((a, b) =>
    (a.classList.contains("ended") - b.classList.contains("ended")) ||
    (Number(b.dataset.lastActivity) - Number(a.dataset.lastActivity)));
  if (sorted.some((el, i) => el !== items[i])) list.append(...sorted);
}

function stateText(state) {
  return {
    created: "Link not sent yet", sent: "Link sent", opened: "Link opened", consented: "Caller agreed",
    streaming: "Live video", ended: "Ended", expired: "Link expired",
  }[state] || state || "";
}

function focusEntry(entry) {
  if (!entry.marker) return;
  showMarker(entry);
}

// Centre the marker and open its popup. Among many pins it may sit in a cluster: zoom in until it
// stands alone or, for callers at the same spot, spread the cluster out at the deepest zoom. Each
// step is a jump, not an animation, so the cluster plugin has placed every marker before the next
// (a marker shown half-way through an animated zoom can be left off the map).
function showMarker(entry) {
  // A zoom still animating (to a place just searched for) ends after this jump, and the cluster
  // plugin then draws every pin afresh, closing the popup: start once it has ended.
  if (map._animatingZoom) {
    map.once("zoomend", () => showMarker(entry));
    return;
  }
  const marker = entry.marker;
  map.setView(marker.getLatLng(), Math.max(map.getZoom(), 15), { animate: false });
  if (!pins.getVisibleParent) {
    marker.openPopup();
    return;
  }
  let shown = pins.getVisibleParent(marker);
  while (shown !== marker && map.getZoom() < map.getMaxZoom()) {
    map.setView(marker.getLatLng(), map.getZoom() + 1, { animate: false });
    shown = pins.getVisibleParent(marker);
  }
  if (shown && shown !== marker) {
    pins.once("spiderfied", () => marker.openPopup());
    shown.spiderfy();
  } else {
    marker.openPopup();
  }
}

// The cluster plugin folds a spread-out cluster back up whenever any marker is added, removed or
// moved: a caller appearing or an old incident leaving the map anywhere would fold away the pin
// whose popup a dispatcher is reading (or about to click Follow in), leaving the popup pointing
// at a cluster or closing it. The popup that was open before such a change is shown again, on its
// pin, after it.
function keepingPopup(change) {
  let open = null;
  for (const e of entries.values()) {
    if (e.marker && e.marker.isPopupOpen()) { open = e; break; }
  }
  change();
  if (!open || !entries.has(open.inc.id) || !pins.hasLayer(open.marker)) return;
  const standsAlone = !pins.getVisibleParent || pins.getVisibleParent(open.marker) === open.marker;
  if (standsAlone) {
    if (!open.marker.isPopupOpen()) open.marker.openPopup();
    return;
  }
  open.marker.closePopup();
  showMarker(open);
}

// Follow mode: the map keeps the chosen caller's newest fix in the centre until the dispatcher
// drags the map or chooses another.
function setFollow(id) {
  following = id;
  const entry = id ? entries.get(id) : null;
  $("follow-status").textContent = entry ? `Following ${entry.inc.reference}` : "";
  $("follow-stop").hidden = !entry;
  if (entry && entry.marker) map.panTo(entry.marker.getLatLng());
  for (const e of entries.values()) {
    renderEntry(e);
    if (e.popup) popupContent(e);
  }
}

// Zoom to every active incident's newest fix, accuracy circles included.
function fitAll() {
  let bounds = null;
  for (const entry of entries.values()) {
    if (entry.ended || !entry.circle) continue;
    const b = entry.circle.getBounds();
    bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
  }
  if (!bounds) return;
  map.fitBounds(bounds, { padding: [40, 40], maxZoom: 17, animate: false });
  // How many active incidents the view now holds, of how many: "n/n" once all are in view
  // (a pin may still sit inside a cluster at this zoom).
  const view = map.getBounds();
  const active = [...entries.values()].filter((e) => !e.ended && e.marker);
  const inside = active.filter((e) => view.contains(e.marker.getLatLng())).length;
  document.body.dataset.fitAll = `${inside}/${active.length}`;
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
  if (entry.marker) keepingPopup(() => pins.removeLayer(entry.marker));
  if (entry.circle) entry.circle.remove();
  if (entry.trailLayer) entry.trailLayer.remove();
  if (following === id) setFollow(null);
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
      entry.stateAt = new Date().toISOString();
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
// Search: a grid reference, eastings/northings, latitude/longitude, a postcode or a reference

async function runSearch(event) {
  event.preventDefault();
  const q = $("search-q").value.trim();
  const out = $("search-results");
  out.replaceChildren();
  if (!q) return;
  let data;
  try {
    data = await get(`/api/search?q=${encodeURIComponent(q)}`);
  } catch (err) {
    out.append(h("li", { class: "error", text: err.message }));
    return;
  }
  if (data.problem) out.append(h("li", { class: "error", text: data.problem }));
  for (const place of data.places || []) {
    const summary = place.placement ? summarise(place.placement) : null;
    out.append(h("li", { dataset: { kind: place.kind } },
      h("button", { type: "button", onclick: () => showPlace(place) },
        h("span", { class: "ref", text: place.label }),
        summary ? h("span", { class: "detail", text: whereText(summary) }) : null)));
  }
  for (const inc of data.incidents || []) {
    out.append(h("li", { dataset: { kind: "incident", reference: inc.reference } },
      h("button", { type: "button", onclick: () => showIncident(inc) },
        h("span", { class: "ref", text: inc.reference }),
        h("span", { class: "detail", text: inc.ended_at ? "Ended" : "Active incident" }))));
  }
  if (!out.children.length) out.append(h("li", { class: "muted", text: "Nothing found." }));
  const first = (data.places || [])[0];
  if (first && !data.problem) showPlace(first);
}

function showPlace(place) {
  const latlng = [place.latitude, place.longitude];
  if (searchMarker) searchMarker.remove();
  const size = Math.max(place.precision_m || 1, 1);
  searchMarker = L.layerGroup([
    L.circle(latlng, { radius: Math.max(size / 2, 5), color: "#0b3d91", weight: 2, fillOpacity: 0.05, className: "search-area" }),
    L.marker(latlng, { title: place.label, alt: place.label }).bindPopup(h("div", { class: "popup" },
      h("h2", { text: place.label }),
      h("p", { class: "mono", text: `${fmtNumber(place.latitude, 5)}, ${fmtNumber(place.longitude, 5)}` }),
      place.placement ? h("p", { text: whereText(summarise(place.placement)) }) : null)),
  ]).addTo(map);
  setFollow(null);
  map.setView(latlng, size >= 1000 ? 13 : 16);
  document.body.dataset.searchShown = place.kind;
}

async function showIncident(inc) {
  let entry = entries.get(inc.id);
  if (!entry) {
    try {
      upsertIncident(await get(`/api/incidents/${encodeURIComponent(inc.id)}`));
    } catch (err) {
      showMapError(err.message);
      return;
    }
    entry = entries.get(inc.id);
  }
  if (entry) focusEntry(entry);
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
  map = L.map("map", Object.assign({ center, zoomControl: true }, mapOptions(config)));
  if (typeof config.fix_stale_after_s === "number") staleAfterS = config.fix_stale_after_s;
  pins = L.markerClusterGroup
    ? L.markerClusterGroup({ maxClusterRadius: 40, spiderfyOnMaxZoom: true, showCoverageOnHover: false, animate: false })
    : L.layerGroup();
  pins.addTo(map);
  map.on("dragstart", () => { if (following) setFollow(null); });
  $("fit-all").addEventListener("click", fitAll);
  $("follow-stop").addEventListener("click", () => setFollow(null));
  $("search").addEventListener("submit", runSearch);
  const control = L.control.layers(null, null, { collapsed: false }).addTo(map);
  L.control.scale({ imperial: false }).addTo(map);
  addBaseMaps(map, config, control);
  await Promise.all([addBoundaryLayers(config, control), loadIncidents()]);
  connectEvents("/api/events", {
    onOpen: loadIncidents, // catch up on anything missed while disconnected
    onEvent,
    onStatus: setWsStatus,
  });
  setInterval(() => { for (const entry of entries.values()) renderEntry(entry); }, REFRESH_MS);
  document.body.dataset.ready = "true";
}

init();
