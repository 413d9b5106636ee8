// The call handler's console: send a link, follow its state, watch the caller's video, see where
// they are, take snapshots, end the session. Contract: docs/api.md.

import { ApiError, get, logout, post, whoAmI } from "/static/common/api.js";
import { connectEvents } from "/static/common/events.js";
import { fmtAge, fmtMetres, fmtNumber, fmtTime, h } from "/static/common/format.js";
import { summarise } from "/static/common/placement.js";
import { waitForIceGatheringComplete } from "/static/common/webrtc.js";
import * as callerPanel from "./caller_panel.js";
import * as deliveriesPanel from "./deliveries_panel.js";
import * as holdPanel from "./hold_panel.js";
import * as mediaPanel from "./media_panel.js";

const $ = (id) => document.getElementById(id);

const STEPS = ["sent", "delivered", "opened", "consented", "streaming", "ended"];
// Noted in the link's history, but the link does not go back to them once past.
const NOTES = new Set(["refused", "delivered"]);
const STATE_TEXT = {
  created: "Link created",
  sent: "Link sent",
  delivered: "Text delivered",
  opened: "Caller opened the link",
  consented: "Caller agreed to share",
  streaming: "Streaming live",
  ended: "Ended",
  expired: "Link expired",
  revoked: "Link replaced",
  failed: "Link could not be sent",
};

let me = null;
let iceServers = [];
let iceExpiresAt = 0; // when the TURN credential in iceServers expires (0: nothing to renew)
let current = null; // {id, reference, state, feed, viewer, snapshots: Set, fixId, fixAt, linkUrl}

// ---------------------------------------------------------------------------------------------
// Messages

function showError(el, err) {
  const text = err instanceof ApiError || err instanceof Error ? err.message : String(err);
  el.textContent = text;
  el.hidden = !text;
}

function clearError(el) {
  el.textContent = "";
  el.hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Creating an incident and sending the link

async function onCreate(event) {
  event.preventDefault();
  const button = $("send-link");
  const errorEl = $("form-error");
  clearError(errorEl);
  const reference = $("reference").value.trim();
  const phone = $("phone").value.trim();
  const language = $("language").value;
  // Location only: for callers who cannot or should not show video; the page never asks for the camera.
  const mode = $("location-only").checked ? "location" : "video";
  if (!reference) {
    showError(errorEl, "Enter the incident reference.");
    $("reference").focus();
    return;
  }
  if (!phone) {
    showError(errorEl, "Enter the caller's mobile number.");
    $("phone").focus();
    return;
  }
  button.disabled = true;
  button.textContent = "Sending…";
  try {
    const incident = await post("/api/incidents", { reference, caller_phone: phone });
    const link = await post(`/api/incidents/${encodeURIComponent(incident.id)}/links`, language ? { language, mode } : { mode });
    $("new-incident").reset();
    await selectIncident(incident.id, incident);
    applyLink(link);
    showAmlOffers(incident.aml_offers || []);
    refreshList();
  } catch (err) {
    showError(errorEl, err);
    if (err.code === "invalid_phone" || err.code === "not_mobile") $("phone").focus();
    else if (err.code === "invalid_reference" || err.code === "duplicate_reference") $("reference").focus();
  } finally {
    button.disabled = false;
    button.textContent = "Send link";
  }
}

function applyLink(link) {
  if (!current || !link) return;
  if (link.url) current.linkUrl = link.url;
  if (link.sms) showSms(link.sms);
  if (link.state) setState(link.state);
}

function showSms(sms) {
  if (!sms) return;
  $("sms").hidden = false;
  $("sms-to").textContent = sms.to || "";
  $("sms-body").textContent = unmasked(sms.body);
  $("sms-status").textContent = sms.status ? `(${sms.status}${sms.provider ? ", " + sms.provider : ""})` : "";
  showParts(sms.parts);
  const url = current && current.linkUrl ? current.linkUrl : urlIn(sms.body);
  const a = $("link-url");
  a.textContent = url || "";
  // A URL read back from the record has its token masked (shown, but not a working link).
  a.href = url && !url.includes("*") ? url : "#";
}

// The record keeps the text with the link's token masked; the handler who sent it has the whole
// URL from the answer to "Send link", and sees the text as the caller got it.
function unmasked(body) {
  const url = current && current.linkUrl;
  if (!url || !body) return body || "";
  const masked = url.replace(/\/c\/([A-Za-z0-9_-]{4})([A-Za-z0-9_-]*)$/, (_, head, rest) => `/c/${head}${"*".repeat(rest.length)}`);
  return body.split(masked).join(url);
}

// What the text costs: phones join the parts into one message, but each part is charged and
// delivered on its own, and a message in UCS-2 (accents, other scripts) holds fewer characters.
function showParts(parts) {
  const el = $("sms-parts");
  if (!parts) return; // a receipt without the count keeps what the sent message showed
  const units = parts.encoding === "GSM-7" ? "characters" : "UCS-2 code units";
  el.textContent = `${parts.count} SMS ${parts.count === 1 ? "part" : "parts"} · ${parts.encoding} · ${parts.units} ${units}`;
  el.classList.toggle("warn", parts.count > 2);
}

function urlIn(text) {
  const m = /https?:\/\/\S+/.exec(text || "");
  return m ? m[0] : null;
}

// ---------------------------------------------------------------------------------------------
// The list of active incidents

async function refreshList() {
  let data;
  try {
    data = await get("/api/incidents?active=1");
  } catch (err) {
    return; // the list is a convenience; the next refresh will try again
  }
  const list = $("incident-list");
  list.replaceChildren();
  const incidents = (data && data.incidents) || [];
  for (const inc of incidents) {
    const place = inc.latest_fix ? summarise(inc.latest_fix.placement) : null;
    const where = place ? [place.force, place.district].filter(Boolean).join(" · ") : "";
    const button = h(
      "button",
      {
        type: "button",
        class: "incident-item" + (current && current.id === inc.id ? " selected" : ""),
        "aria-current": current && current.id === inc.id ? "true" : null,
        onclick: () => selectIncident(inc.id, inc),
      },
      h("span", { class: "ref", text: inc.reference }),
      h("span", { class: "state", dataset: { state: inc.state || "" }, text: STATE_TEXT[inc.state] || inc.state || "" }),
      where ? h("span", { class: "where", text: where }) : null,
    );
    list.append(h("li", { dataset: { incidentId: inc.id, reference: inc.reference } }, button));
  }
  $("incident-list-empty").hidden = incidents.length > 0;
}

// ---------------------------------------------------------------------------------------------
// One incident

async function selectIncident(id, summary) {
  if (current && current.id === id) {
    await loadRecord();
    return;
  }
  closeIncident();
  current = {
    id,
    reference: summary ? summary.reference : "",
    state: summary ? summary.state : "",
    feed: null,
    viewer: null,
    snapshots: new Set(),
    fixId: null,
    fixAt: null,
    linkUrl: null,
  };
  history.replaceState(null, "", "#" + encodeURIComponent(id));
  callerPanel.select(id);
  mediaPanel.select(id);
  // The summary says whether the incident is held; the whole record (on connecting) says it again.
  holdPanel.load({ id, legal_hold: summary ? summary.legal_hold : null }, me && me.role);
  $("placeholder").hidden = true;
  $("incident").hidden = false;
  $("incident").dataset.incidentId = id;
  $("incident-reference").textContent = current.reference;
  $("sms").hidden = true;
  $("sms-parts").textContent = "";
  $("aml-offers").hidden = true;
  $("gallery").replaceChildren();
  $("gallery-empty").hidden = false;
  $("fix").hidden = true;
  $("fix-none").hidden = false;
  $("fix-flags").replaceChildren();
  clearError($("action-error"));
  setState(current.state);
  for (const li of $("incident-list").children) {
    const selected = li.dataset.incidentId === id;
    li.firstElementChild.classList.toggle("selected", selected);
    if (selected) li.firstElementChild.setAttribute("aria-current", "true");
    else li.firstElementChild.removeAttribute("aria-current");
  }
  const mine = current;
  mine.feed = connectEvents(`/api/incidents/${encodeURIComponent(id)}/events`, {
    onOpen: () => { if (current === mine) loadRecord(); },
    onEvent: (ev) => { if (current === mine) onEvent(ev); },
    onStatus: setWsStatus,
  });
}

function closeIncident() {
  if (!current) return;
  if (current.feed) current.feed.close();
  stopViewer();
  current = null;
}

async function loadRecord() {
  const mine = current;
  let rec;
  try {
    rec = await get(`/api/incidents/${encodeURIComponent(mine.id)}`);
  } catch (err) {
    if (current === mine) showError($("action-error"), err);
    return;
  }
  if (current !== mine) return;
  mine.reference = rec.reference;
  $("incident-reference").textContent = rec.reference;
  const messages = rec.messages || [];
  if (messages.length) showSms(messages[messages.length - 1]);
  const fixes = rec.fixes || [];
  if (fixes.length) showFix(fixes[fixes.length - 1]);
  else if (rec.latest_fix) showFix(rec.latest_fix);
  for (const snap of rec.snapshots || []) addSnapshot(snap);
  if (rec.state === "streaming") {
    try {
      const live = await get(`/api/incidents/${encodeURIComponent(mine.id)}/stream`);
      if (current !== mine) return;
      mine.streamKind = live.state === "location" ? "location" : "video";
    } catch (err) {
      /* the viewer finds out by itself */
    }
  }
  setState(rec.state);
  callerPanel.load(rec);
  mediaPanel.load(rec);
  holdPanel.load(rec, me && me.role);
}

// A session without video (no camera, or refused) shares location only: say so, start no viewer.
function stateText(state) {
  if (state === "streaming" && current && current.streamKind === "location") return "Sharing location";
  return STATE_TEXT[state] || state;
}

function showLocationOnly() {
  stopViewer();
  liveStatus("The caller is sharing location only (no video).");
}

function setState(state) {
  if (!current || !state) return;
  current.state = state;
  const badge = $("link-state");
  badge.dataset.state = state;
  badge.textContent = stateText(state);
  const reached = STEPS.indexOf(state);
  for (const li of $("link-steps").children) {
    const i = STEPS.indexOf(li.dataset.step);
    li.classList.toggle("done", reached >= 0 && i <= reached);
    li.classList.toggle("now", i === reached);
  }
  const listed = [...$("incident-list").children].find((li) => li.dataset.incidentId === current.id);
  const badgeInList = listed && listed.querySelector(".state");
  if (badgeInList) {
    badgeInList.dataset.state = state;
    badgeInList.textContent = stateText(state);
  }
  const ended = ["ended", "expired", "revoked", "failed"].includes(state);
  $("end-session").disabled = ended;
  if (state === "streaming" && current.streamKind !== "location") startViewer();
  if (state === "streaming" && current.streamKind === "location") showLocationOnly();
  if (ended) {
    stopViewer();
    liveStatus(state === "ended" ? "The session has ended." : STATE_TEXT[state]);
  } else if (!current.viewer) {
    liveStatus({
      created: "The link has not been sent yet.",
      sent: "Waiting for the caller to open the link.",
      opened: "The caller has opened the link.",
      consented: "The caller agreed. Connecting…",
    }[state] || "Waiting for the caller to start sharing.");
  }
}

function onEvent(ev) {
  const data = ev.data || {};
  switch (ev.type) {
    case "link.state":
      if (!NOTES.has(data.state) || STEPS.indexOf(current.state) < STEPS.indexOf(data.state)) setState(data.state);
      break;
    case "sms.sent":
      showSms(data);
      break;
    case "session.started":
      liveStatus("The caller is connecting…");
      break;
    case "stream.started":
      current.streamKind = data.kind;
      if (current.state === "streaming") setState("streaming"); // the badge says which kind
      else if (data.kind === "location") showLocationOnly();
      else startViewer();
      break;
    case "fix":
      showFix(data);
      break;
    case "fix.rejected":
      addFlag("flag", `A location from the caller was refused: ${data.reason || "invalid"}`);
      break;
    case "snapshot":
      addSnapshot(data);
      break;
    case "session.ended":
      current.streamKind = null;
      stopViewer();
      liveStatus(`Video stopped${data.reason ? ": " + data.reason : ""}.`);
      break;
    case "link.refused":
      addFlag("flag", "The link was opened on a second phone and refused.");
      break;
    case "sms.status":
      showSms(data);
      break;
    case "legal_hold":
      loadRecord();
      break;
    default:
      break;
  }
  callerPanel.onEvent(ev);
  mediaPanel.onEvent(ev);
}

// ---------------------------------------------------------------------------------------------
// Live video: the console offers to receive; the gateway relays the caller's track.

function liveStatus(text) {
  const el = $("live-status");
  el.textContent = text || "";
  el.hidden = !text;
}

async function loadIceServers() {
  try {
    const config = await get("/api/client-config");
    iceServers = Array.isArray(config.ice_servers) ? config.ice_servers : [];
    const ttl = config.ice_servers_expire_in;
    iceExpiresAt = typeof ttl === "number" && ttl > 0 ? Date.now() + ttl * 1000 : 0;
  } catch (err) {
    iceServers = [];
    iceExpiresAt = 0;
  }
}

async function startViewer() {
  const mine = current;
  if (!mine || mine.viewer) return; // one viewer at a time; session.ended clears it
  // A TURN credential lasts minutes: a viewer opened near its expiry gets a fresh one first.
  if (iceExpiresAt && Date.now() > iceExpiresAt - 60000) await loadIceServers();
  if (mine.viewer || current !== mine) return;
  const viewer = { pc: new RTCPeerConnection({ iceServers }), negotiating: true };
  mine.viewer = viewer;
  const pc = viewer.pc;
  const video = $("live");
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addEventListener("track", (ev) => {
    video.srcObject = ev.streams && ev.streams[0] ? ev.streams[0] : new MediaStream([ev.track]);
    const p = video.play();
    if (p && p.catch) p.catch(() => {});
  });
  pc.addEventListener("connectionstatechange", () => {
    if (mine.viewer !== viewer) return;
    const st = pc.connectionState;
    if (st === "connected") {
      liveStatus("");
    } else if (st === "disconnected") {
      liveStatus("Video interrupted…");
    } else if (st === "failed") {
      liveStatus("Video connection lost. Reconnecting…");
      stopViewer();
      if (current === mine && mine.state === "streaming") setTimeout(() => startViewer(), 1000);
    }
  });
  liveStatus("Connecting to the video…");
  try {
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await waitForIceGatheringComplete(pc, 3000);
    if (mine.viewer !== viewer) return;
    const reply = await requestAnswer(mine, viewer);
    if (!reply || mine.viewer !== viewer) return;
    if (reply.type === "offer") {
      // The media plane offers instead (an SFU offers to its subscribers): answer that offer.
      await pc.setRemoteDescription({ type: "offer", sdp: reply.sdp });
      await pc.setLocalDescription(await pc.createAnswer());
      await waitForIceGatheringComplete(pc, 3000);
      if (mine.viewer !== viewer) return;
      await post(
        `/api/incidents/${encodeURIComponent(mine.id)}/viewer/${encodeURIComponent(reply.viewer)}/answer`,
        { sdp: pc.localDescription.sdp, type: "answer" },
      );
    } else {
      await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
    }
    viewer.negotiating = false;
    $("snapshot").disabled = false;
  } catch (err) {
    if (mine.viewer !== viewer) return;
    stopViewer();
    liveStatus(`The video could not be shown: ${err.message || err}`);
  }
}

// The caller's first frame can arrive a moment after the link says "streaming": retry no_stream.
async function requestAnswer(mine, viewer) {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      return await post(`/api/incidents/${encodeURIComponent(mine.id)}/viewer`, {
        sdp: viewer.pc.localDescription.sdp,
        type: "offer",
      });
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== "no_stream") throw err;
      if (mine.viewer !== viewer || ["ended", "expired", "revoked"].includes(mine.state)) return null;
      liveStatus("Waiting for the caller's video…");
      await new Promise((r) => setTimeout(r, 750));
    }
  }
  throw new Error("the caller's video did not start");
}

function stopViewer() {
  if (!current || !current.viewer) return;
  const { pc } = current.viewer;
  current.viewer = null;
  try {
    pc.close();
  } catch (err) {
    /* already closed */
  }
  const video = $("live");
  video.srcObject = null;
  $("snapshot").disabled = true;
}

// ---------------------------------------------------------------------------------------------
// Position

function showFix(fix) {
  if (!current || !fix) return;
  // Order by the phone's own clock: fixes kept on the phone without signal arrive late.
  const at = fix.device_time || fix.received_at || "";
  if (current.fixAt && at && at < current.fixAt) return; // an older fix arriving late
  current.fixAt = at;
  current.fixId = fix.id;
  const p = summarise(fix.placement);
  $("fix-none").hidden = true;
  $("fix").hidden = false;
  $("fix").dataset.seq = fix.seq;
  $("fix-force").textContent = p.forceText || "Outside every force area";
  $("fix-district").textContent = p.districtText || "—";
  $("fix-postcode").textContent = p.postcode || "—";
  $("fix-neighbourhood").textContent = p.neighbourhood || "—";
  $("fix-gridref").textContent = p.gridref || "—";
  $("fix-easting").textContent = fmtNumber(p.easting, 0);
  $("fix-northing").textContent = fmtNumber(p.northing, 0);
  $("fix-lat").textContent = fmtNumber(fix.latitude, 6);
  $("fix-lon").textContent = fmtNumber(fix.longitude, 6);
  $("fix-accuracy").textContent = fmtMetres(fix.accuracy);
  const received = fix.received_at || at;
  $("fix-time").textContent = received ? `${fmtTime(received)} (${fmtAge(received)})` : "—";
  $("fix-source").textContent = fix.source === "aml" ? "AML (sent by the handset)" : "Caller's page";
  const flags = $("fix-flags");
  flags.replaceChildren();
  for (const n of p.notices) addFlag(n.kind, n.text);
}

// AML positions kept for the caller's number before the incident existed: the handler adds them.
function showAmlOffers(offers) {
  const box = $("aml-offers");
  const list = $("aml-offer-list");
  list.replaceChildren();
  box.hidden = offers.length === 0;
  for (const offer of offers) {
    const button = h("button", { type: "button", text: "Add to incident" });
    const item = h(
      "li",
      { dataset: { reportId: String(offer.id) } },
      h("span", {
        text: `${fmtNumber(offer.latitude, 5)}, ${fmtNumber(offer.longitude, 5)} ± ${fmtMetres(offer.accuracy)}, ` +
          `${fmtTime(offer.device_time || offer.received_at)} (${offer.method})`,
      }),
      " ",
      button,
    );
    button.addEventListener("click", async () => {
      if (!current) return;
      button.disabled = true;
      try {
        const fix = await post(`/api/incidents/${encodeURIComponent(current.id)}/aml/${offer.id}/attach`, {});
        showFix(fix);
        item.remove();
        if (!list.children.length) box.hidden = true;
      } catch (err) {
        button.disabled = false;
        button.textContent = `Could not add: ${err.message || err}`;
      }
    });
    list.append(item);
  }
}

function addFlag(kind, text) {
  $("fix-flags").append(h("li", { class: `flag flag-${kind}`, text }));
}

// ---------------------------------------------------------------------------------------------
// Snapshots

async function takeSnapshot(allowStale = false) {
  if (!current) return;
  const button = $("snapshot");
  if (button.disabled) return;
  const errorEl = $("action-error");
  clearError(errorEl);
  button.disabled = true;
  try {
    const snap = await post(`/api/incidents/${encodeURIComponent(current.id)}/snapshots`, { allow_stale: allowStale });
    addSnapshot(snap);
    $("snapshot-stale").hidden = true;
  } catch (err) {
    if (err.code === "stale_video") {
      // The picture on screen is old (frozen video, a stopped camera): it is not the scene now.
      showError(errorEl, `No snapshot taken: the video is frozen (${err.message}).`);
      $("snapshot-stale").hidden = false;
    } else {
      showError(errorEl, err.code === "no_video" ? "No video has been received yet." : err);
    }
  } finally {
    button.disabled = !(current && current.viewer);
  }
}

const REASONS = { interval: "timed", scene_change: "scene changed", still: "still photo" };

function addSnapshot(snap) {
  if (!current || !snap || !snap.id || current.snapshots.has(snap.id)) return;
  if (snap.incident_id && snap.incident_id !== current.id) return;
  current.snapshots.add(snap.id);
  const url = snap.url || `/api/snapshots/${encodeURIComponent(snap.id)}`;
  const thumb = snap.thumbnail_url || url;
  const where = snap.fix ? summarise(snap.fix.placement) : null;
  const caption = [
    fmtTime(snap.taken_at),
    snap.taken_by ? `by ${snap.taken_by}` : null,
    REASONS[snap.reason] || null,
    snap.width && snap.height ? `${snap.width}×${snap.height}` : null,
    where && where.gridref ? where.gridref : null,
  ].filter(Boolean).join(" · ");
  const old = typeof snap.frame_age_seconds === "number" && snap.frame_age_seconds >= 1;
  const item = h(
    "li",
    { dataset: { snapshotId: snap.id } },
    h(
      "figure",
      {},
      h("a", { href: url, target: "_blank", rel: "noopener" },
        h("img", { src: thumb, alt: `Snapshot taken at ${fmtTime(snap.taken_at)}`, loading: "lazy" })),
      h("figcaption", {}, caption,
        old ? h("span", { class: "snapshot-stale", text: ` · picture ${snap.frame_age_seconds.toFixed(1)} s old` }) : null,
        h("br"), h("span", { class: "mono muted", title: snap.sha256 || "", text: snap.sha256 ? "SHA-256 " + snap.sha256.slice(0, 12) + "…" : "" })),
    ),
  );
  $("gallery").prepend(item);
  $("gallery-empty").hidden = true;
}

// ---------------------------------------------------------------------------------------------
// Ending

async function endSession() {
  if (!current) return;
  const button = $("end-session");
  const errorEl = $("action-error");
  clearError(errorEl);
  button.disabled = true;
  try {
    const incident = await post(`/api/incidents/${encodeURIComponent(current.id)}/end`, {});
    stopViewer();
    if (incident && incident.state) setState(incident.state);
    else setState("ended");
    refreshList();
  } catch (err) {
    showError(errorEl, err);
    button.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------

function setWsStatus(state) {
  const el = $("ws-status");
  el.dataset.state = state;
  el.textContent = { open: "live", connecting: "connecting…", closed: "offline" }[state] || state;
}

function onKey(event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  const tag = (event.target && event.target.tagName) || "";
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag)) return;
  if (event.key === "s" || event.key === "S") {
    event.preventDefault();
    takeSnapshot();
  }
}

async function init() {
  $("new-incident").addEventListener("submit", onCreate);
  $("refresh").addEventListener("click", refreshList);
  $("snapshot").addEventListener("click", () => takeSnapshot(false));
  $("snapshot-stale").addEventListener("click", () => takeSnapshot(true));
  $("end-session").addEventListener("click", endSession);
  $("logout").addEventListener("click", logout);
  document.addEventListener("keydown", onKey);
  try {
    me = await whoAmI();
  } catch (err) {
    showError($("form-error"), err);
    return;
  }
  $("me").textContent = `${me.username} (${me.role})`;
  document.body.dataset.role = me.role;
  await loadIceServers();
  await callerPanel.init();
  await mediaPanel.init();
  holdPanel.init();
  deliveriesPanel.init(me.role);
  document.addEventListener("scenelink:link", (ev) => applyLink(ev.detail));
  document.body.dataset.ready = "true";
  await refreshList();
  setInterval(refreshList, 20000);
  const wanted = decodeURIComponent(location.hash.slice(1));
  if (wanted) selectIncident(wanted, null);
  else $("reference").focus();
}

init();
