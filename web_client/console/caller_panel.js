// The caller's side of the console: the link's history (every state with its time, refusals,
// revoking and sending a new link), the caller's phone as its page reports it, the camera controls,
// and the silent conversation (phrase book, free text, "seen", the caller's replies).
// Contract: docs/api.md. console.js calls select(), load() and onEvent().

import { ApiError, get, post } from "/static/common/api.js";
import { fmtTime, h } from "/static/common/format.js";

const $ = (id) => document.getElementById(id);

const MODE_TEXT = {
  starting: "Starting",
  video: "Live video and location",
  video_low: "Lower-quality video (weak signal)",
  stills: "Still photos every few seconds (WebRTC not getting through)",
  location: "Location only",
  offline: "Phone has no signal: location kept on the phone",
};
const STATE_WORDS = {
  created: "created", sent: "sent", delivered: "delivered to the phone", failed: "could not be sent",
  opened: "opened", refused: "refused to another device", consented: "caller agreed",
  streaming: "streaming", ended: "ended", expired: "expired", revoked: "revoked",
};
const FINAL = new Set(["ended", "expired", "revoked"]);

let phrases = [];
let languages = [];
let maxText = 280;
let now = null; // {id, linkId, linkState, messages: Map}

function languageName(code) {
  const found = languages.find((l) => l.code === code);
  return found ? found.name : code || "";
}

export async function init() {
  try {
    const book = await get("/api/phrases");
    phrases = book.phrases || [];
    languages = book.languages || [];
    maxText = book.max_text || 280;
  } catch (err) {
    return; // the panel still shows what events bring
  }
  for (const select of [$("language"), $("new-link-language")]) {
    if (!select) continue;
    for (const l of languages) select.append(h("option", { value: l.code, text: `${l.name} (${l.code})` }));
  }
  const grid = $("phrases");
  grid.replaceChildren(
    ...phrases.map((p) =>
      h("button", {
        type: "button", class: "btn phrase" + (p.ask ? " ask" : ""), dataset: { phrase: p.key },
        text: p.text, onclick: () => send({ phrase: p.key }),
      }),
    ),
  );
  $("message-text").maxLength = maxText;
  $("message-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("message-text").value.trim();
    if (text) send({ text, language: "en" }).then((ok) => { if (ok) $("message-text").value = ""; count(); });
  });
  $("message-text").addEventListener("input", count);
  $("revoke-link").addEventListener("click", revoke);
  $("new-link").addEventListener("click", newLink);
  for (const button of document.querySelectorAll("[data-camera]")) {
    button.addEventListener("click", () => camera(JSON.parse(button.dataset.camera)));
  }
  count();
}

function count() {
  const n = $("message-text").value.length;
  $("message-count").textContent = `${n} / ${maxText}`;
}

export function select(id) {
  now = { id, linkId: null, linkState: null, messages: new Map() };
  $("link-history").replaceChildren();
  $("conversation").replaceChildren();
  $("conversation-empty").hidden = false;
  $("caller-status").hidden = true;
  $("caller-status-none").hidden = false;
  $("caller-error").hidden = true;
  loadStatus(id);
}

export function load(record) {
  if (!now || record.id !== now.id) return;
  const links = record.links || [];
  const link = links[links.length - 1];
  $("link-history").replaceChildren();
  for (const l of links) {
    for (const st of l.states || []) addHistory(l.id, st.state, st.at, st.detail, l.id !== (link && link.id));
  }
  if (link) {
    now.linkId = link.id;
    now.linkState = link.state;
    $("link-language").textContent = link.language ? languageName(link.language) : "the phone's language";
    // A new link keeps the current one's mode unless the handler changes it.
    $("new-link-location-only").checked = link.mode === "location";
  }
  updateLinkButtons();
  for (const m of record.conversation || []) showMessage(m);
}

async function loadStatus(id) {
  try {
    const data = await get(`/api/incidents/${encodeURIComponent(id)}/caller`);
    if (now && now.id === id && data.status) showStatus(data.status);
  } catch (err) {
    /* events bring the next one */
  }
}

export function onEvent(ev) {
  if (!now) return;
  const data = ev.data || {};
  switch (ev.type) {
    case "link.state":
      if (data.link_id && data.link_id !== now.linkId && data.state === "created") now.linkId = data.link_id;
      addHistory(data.link_id, data.state, data.at || ev.at, data.detail, data.link_id && now.linkId && data.link_id !== now.linkId);
      if (data.link_id === now.linkId && data.state !== "refused" && data.state !== "delivered") now.linkState = data.state;
      updateLinkButtons();
      break;
    case "link.refused":
      break; // also a link.state "refused", shown above
    case "caller.status":
      showStatus(data);
      break;
    case "message":
      showMessage(data);
      break;
    case "message.status": {
      const m = now.messages.get(data.id);
      if (m) showMessage({ ...m, delivered_at: data.delivered_at, seen_at: data.seen_at });
      break;
    }
    case "camera.requested":
      if (!data.delivered) note("The caller's page will get the camera request when it next connects.");
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// The link

function addHistory(linkId, state, at, detail, old) {
  const text = `${fmtTime(at)} — ${STATE_WORDS[state] || state}${detail ? ` (${detail})` : ""}`;
  const item = h("li", { class: "history-" + state + (old ? " old" : ""), dataset: { state, linkId: linkId || "" }, text });
  $("link-history").append(item);
}

function updateLinkButtons() {
  const live = now && now.linkId && !FINAL.has(now.linkState);
  $("revoke-link").disabled = !live;
}

async function revoke() {
  if (!now || !now.linkId) return;
  if (!confirm("Revoke this link? The caller's page stops sharing and the link cannot be used again.")) return;
  try {
    await post(`/api/incidents/${encodeURIComponent(now.id)}/links/${encodeURIComponent(now.linkId)}/revoke`, {});
  } catch (err) {
    showError(err);
  }
}

async function newLink() {
  if (!now) return;
  const inUse = ["opened", "consented", "streaming"].includes(now.linkState);
  if (inUse && !confirm("The caller is using the current link. A new link replaces it and stops their sharing. Send a new link?")) return;
  const language = $("new-link-language").value;
  const mode = $("new-link-location-only").checked ? "location" : "video";
  try {
    const link = await post(`/api/incidents/${encodeURIComponent(now.id)}/links`, language ? { language, mode } : { mode });
    now.linkId = link.id;
    now.linkState = link.state;
    updateLinkButtons();
    document.dispatchEvent(new CustomEvent("scenelink:link", { detail: link }));
  } catch (err) {
    showError(err);
  }
}

// ---------------------------------------------------------------------------------------------
// The caller's phone

function showStatus(st) {
  $("caller-status-none").hidden = true;
  $("caller-status").hidden = false;
  const set = (id, text) => { $(id).textContent = text || "—"; };
  const b = st.browser || {};
  set("cs-browser", [b.name, b.version, b.os ? `on ${b.os}` : null, b.in_app ? `(in ${b.in_app})` : null, b.live_view ? "(Android Live view)" : null].filter(Boolean).join(" "));
  $("cs-mode").dataset.mode = st.mode || "";
  set("cs-mode", `${MODE_TEXT[st.mode] || st.mode}${st.transport && st.transport !== "none" ? ` · over ${st.transport === "webrtc" ? "WebRTC" : "HTTPS"}` : ""}`);
  const p = st.permissions || {};
  set("cs-permissions", `camera ${p.camera || "unknown"}, location ${p.geolocation || "unknown"}`);
  $("cs-permissions").classList.toggle("warn", p.camera === "denied" || p.geolocation === "denied");
  const n = st.network || {};
  set("cs-network", [n.online === false ? "offline" : null, n.type, n.effective_type, n.downlink_mbps != null ? `${n.downlink_mbps} Mbit/s` : null, n.media_rtt_ms != null ? `round trip ${n.media_rtt_ms} ms` : n.rtt_ms != null ? `${n.rtt_ms} ms` : null].filter(Boolean).join(", ") || "not revealed by the browser");
  const bat = st.battery;
  set("cs-battery", bat && bat.level != null ? `${Math.round(bat.level * 100)}%${bat.charging ? " (charging)" : ""}` : "not revealed by the browser");
  const c = st.camera || {};
  const cameraState = { muted: " (paused by the phone)", ended: "" }[c.state] || "";
  set("cs-camera", c.state === "ended" ? "stopped: the phone is trying to restart it"
    : c.facing ? `${c.facing === "user" ? "front" : "back"}${cameraState}${c.width ? ` ${c.width}×${c.height}` : ""}${c.torch ? ", torch on" : ""}${c.torch_supported === false ? ", no torch" : ""}${c.cameras === 1 ? ", one camera" : ""}` : "none");
  $("cs-camera").classList.toggle("warn", c.state === "ended" || c.state === "muted");
  set("cs-language", languageName(st.language));
  set("cs-discreet", st.discreet ? "on: the caller's screen is dark" : "off");
  $("cs-discreet").classList.toggle("warn", !!st.discreet);
  // A fix or two is always on its way; a backlog means the phone is keeping them for later.
  set("cs-pending", st.pending_fixes > 3 ? `${st.pending_fixes} waiting on the phone` : "up to date");
  set("cs-at", fmtTime(st.at));
}

async function camera(body) {
  if (!now) return;
  try {
    await post(`/api/incidents/${encodeURIComponent(now.id)}/camera`, body);
  } catch (err) {
    showError(err);
  }
}

// ---------------------------------------------------------------------------------------------
// The conversation

async function send(body) {
  if (!now) return false;
  $("caller-error").hidden = true;
  try {
    const message = await post(`/api/incidents/${encodeURIComponent(now.id)}/messages`, body);
    showMessage(message);
    return true;
  } catch (err) {
    showError(err);
    return false;
  }
}

function showMessage(m) {
  if (!now || !m || !m.id || (m.incident_id && m.incident_id !== now.id)) return;
  // The answer to a POST and the live events race: never go back from "seen" to "not yet".
  const before = now.messages.get(m.id);
  if (before) m = { ...before, ...m, delivered_at: m.delivered_at || before.delivered_at, seen_at: m.seen_at || before.seen_at };
  now.messages.set(m.id, m);
  const out = m.direction === "to_caller";
  const english = m.phrase ? (phrases.find((p) => p.key === m.phrase) || {}).text : null;
  const said = m.kind === "answer" ? (m.text === "yes" ? "YES" : "NO") : m.text;
  const lines = [
    h("span", { class: "who", text: out ? `To caller (${m.sent_by})` : "From caller" }),
    h("span", { class: "said", dir: "auto", text: said }),
    english && english !== m.text ? h("span", { class: "english", text: `“${english}”` }) : null,
    h("span", { class: "meta", text: [fmtTime(m.sent_at), languageName(m.language), out ? receipt(m) : null].filter(Boolean).join(" · ") }),
  ];
  const item = h("li", { class: `msg ${out ? "out" : "in"}${m.seen_at ? " seen" : ""}`, dataset: { messageId: m.id, kind: m.kind } }, lines);
  const existing = $("conversation").querySelector(`li[data-message-id="${m.id}"]`);
  if (existing) existing.replaceWith(item);
  else $("conversation").append(item);
  $("conversation-empty").hidden = true;
  item.scrollIntoView({ block: "nearest" });
}

function receipt(m) {
  if (m.seen_at) return `seen ${fmtTime(m.seen_at)}`;
  if (m.delivered_at) return "delivered, not yet seen";
  return "waiting for the caller's page";
}

function note(text) {
  $("caller-error").textContent = text;
  $("caller-error").hidden = false;
}

function showError(err) {
  note(err instanceof ApiError || err instanceof Error ? err.message : String(err));
}
