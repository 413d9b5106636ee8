// The media side of the console: stream health, the welfare blur, recording and automatic
// snapshots for this incident, the recordings list, and a live-view link for a CAD screen.
// Contract: docs/api.md. console.js calls init(), select(), load() and onEvent().

import { api, post } from "/static/common/api.js";
import { fmtTime, h } from "/static/common/format.js";

const $ = (id) => document.getElementById(id);

let incidentId = null;
let blurByDefault = false;
let revealed = false;

function showError(err) {
  const el = $("media-error");
  el.textContent = err ? (err.message || String(err)) : "";
  el.hidden = !err;
}

function applyBlur() {
  const blurred = blurByDefault && !revealed;
  $("incident").classList.toggle("welfare-blur", blurred);
  $("reveal").hidden = !blurred;
}

export async function init() {
  try {
    blurByDefault = Boolean((await api("GET", "/api/me/preferences")).blur_video);
  } catch (err) {
    blurByDefault = false;
  }
  $("blur-video").checked = blurByDefault;
  $("blur-video").addEventListener("change", async (ev) => {
    try {
      const saved = await api("PUT", "/api/me/preferences", { blur_video: ev.target.checked });
      blurByDefault = saved.blur_video;
      revealed = false;
      applyBlur();
    } catch (err) {
      ev.target.checked = blurByDefault;
      showError(err);
    }
  });
  $("reveal").addEventListener("click", () => { revealed = true; applyBlur(); });
  for (const id of ["policy-recording", "policy-scene", "policy-interval"]) {
    $(id).addEventListener("change", savePolicy);
  }
  $("embed-link").addEventListener("click", makeEmbed);
}

export function select(id) {
  incidentId = id;
  revealed = false;
  applyBlur();
  showError(null);
  $("stream-health").hidden = true;
  $("video-frozen").hidden = true;
  $("recordings").replaceChildren();
  $("recording-state").textContent = "";
  $("embed-url").hidden = true;
}

export function load(record) {
  showPolicy(record.media_policy || {});
  $("recordings").replaceChildren();
  for (const segment of record.recordings || []) addRecording(segment);
}

function showPolicy(policy) {
  $("policy-recording").checked = Boolean(policy.recording);
  $("policy-scene").checked = policy.scene_change_snapshots !== false;
  $("policy-interval").value = policy.snapshot_interval_seconds ? String(policy.snapshot_interval_seconds) : "";
}

async function savePolicy() {
  if (!incidentId) return;
  const interval = $("policy-interval").value;
  try {
    const policy = await api("PUT", `/api/incidents/${encodeURIComponent(incidentId)}/media-policy`, {
      recording: $("policy-recording").checked,
      scene_change_snapshots: $("policy-scene").checked,
      snapshot_interval_seconds: interval ? Number(interval) : null,
    });
    showPolicy(policy);
    showError(null);
  } catch (err) {
    showError(err);
  }
}

async function makeEmbed() {
  if (!incidentId) return;
  try {
    const embed = await post(`/api/incidents/${encodeURIComponent(incidentId)}/embeds`, {});
    const field = $("embed-url");
    field.value = embed.url;
    field.title = `Works until ${fmtTime(embed.expires_at)}`;
    field.hidden = false;
    field.select();
  } catch (err) {
    showError(err);
  }
}

function addRecording(segment) {
  const list = $("recordings");
  if (list.querySelector(`[data-recording-id="${segment.id}"]`)) return;
  const seconds = Math.round((Date.parse(segment.ended_at) - Date.parse(segment.started_at)) / 1000);
  list.append(h("li", { dataset: { recordingId: String(segment.id) } },
    h("a", { href: segment.url, target: "_blank", rel: "noopener" }, `Segment ${segment.segment}`),
    ` · ${fmtTime(segment.started_at)} · ${seconds} s · ${segment.width}×${segment.height} ${segment.codec.toUpperCase()} · `,
    h("span", { class: "mono muted", title: segment.sha256, text: "SHA-256 " + segment.sha256.slice(0, 12) + "…" })));
}

function showAge(age) {
  $("sh-age").textContent = age == null ? "—" : `${age.toFixed(1)} s`;
}

// The picture on screen stays when the video stops: say when it is not live.
function showStreamState(data) {
  const banner = $("video-frozen");
  if (data.frame_age_seconds != null) showAge(data.frame_age_seconds);
  if (data.state === "frozen") {
    const age = data.frame_age_seconds == null ? "" : ` (last picture ${Math.round(data.frame_age_seconds)} s ago)`;
    banner.textContent = `Video frozen${age}`;
    banner.hidden = false;
    banner.dataset.since = String(Date.now() - 1000 * (data.frame_age_seconds || 0));
    tickFrozen();
  } else {
    banner.hidden = true;
  }
}

// While frozen, the banner's age keeps counting between the gateway's reports.
let frozenTimer = null;
function tickFrozen() {
  clearTimeout(frozenTimer);
  const banner = $("video-frozen");
  if (banner.hidden) return;
  const age = Math.max(0, (Date.now() - Number(banner.dataset.since)) / 1000);
  banner.textContent = `Video frozen (last picture ${Math.round(age)} s ago)`;
  $("sh-age").textContent = `${age.toFixed(1)} s`;
  frozenTimer = setTimeout(tickFrozen, 1000);
}

function showHealth(health) {
  const dl = $("stream-health");
  if (!health || !health.width) { dl.hidden = true; return; }
  dl.hidden = false;
  $("sh-size").textContent = `${health.width}×${health.height}`;
  $("sh-fps").textContent = health.fps == null ? "—" : `${health.fps} fps`;
  $("sh-bitrate").textContent = health.bitrate_kbps == null ? "—" : `${Math.round(health.bitrate_kbps)} kbit/s`;
  $("sh-loss").textContent = health.packet_loss == null ? "—" : `${(health.packet_loss * 100).toFixed(1)} %`;
  $("sh-rtt").textContent = health.rtt_ms == null ? "—" : `${Math.round(health.rtt_ms)} ms`;
  $("sh-codec").textContent = health.codec || "—";
  showAge(health.frame_age_seconds);
  $("recording-state").textContent = health.recording ? "Recording now." : "";
}

export function onEvent(ev) {
  const data = ev.data || {};
  switch (ev.type) {
    case "stream.health":
      showHealth(data);
      break;
    case "stream.state":
      showStreamState(data);
      break;
    case "recording.started":
      $("recording-state").textContent = "Recording now.";
      break;
    case "recording.stopped":
      $("recording-state").textContent = "Recording stopped.";
      break;
    case "recording.segment":
      addRecording(data);
      break;
    case "session.ended":
      $("stream-health").hidden = true;
      $("video-frozen").hidden = true;
      break;
    default:
      break;
  }
}
