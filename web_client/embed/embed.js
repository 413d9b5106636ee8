// The embeddable live view: WebRTC first, Motion JPEG when WebRTC is missing or cannot connect.
import { waitForIceGatheringComplete, preferCodec } from "/static/common/webrtc.js";

const base = location.pathname.replace(/\/$/, "");
const video = document.getElementById("live");
const still = document.getElementById("mjpeg");
const status = document.getElementById("status");
const RETRY_MS = 3000;

function say(text) { status.textContent = text; }

function fallBackToMjpeg() {
  video.hidden = true;
  still.hidden = false;
  still.src = `${base}/mjpeg?ts=${Date.now()}`;
  still.onerror = () => { say("Waiting for the caller's video…"); setTimeout(fallBackToMjpeg, RETRY_MS); };
  still.onload = () => say("");
}

// The ICE servers for one connection: any TURN credential in them is minted for this view and
// short-lived, so they are asked for again before every connection.
async function iceServers() {
  try {
    const resp = await fetch(`${base}/ice`, { method: "POST" });
    const config = resp.ok ? await resp.json() : {};
    return Array.isArray(config.ice_servers) ? config.ice_servers : [];
  } catch (err) {
    return [];
  }
}

async function connect() {
  if (!window.RTCPeerConnection) { fallBackToMjpeg(); return; }
  const pc = new RTCPeerConnection({ iceServers: await iceServers() });
  preferCodec(pc.addTransceiver("video", { direction: "recvonly" }), "video/VP8");
  pc.ontrack = (event) => { video.srcObject = event.streams[0] || new MediaStream([event.track]); };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "connected") say("");
    if (pc.connectionState === "failed" || pc.connectionState === "closed") {
      pc.close();
      say("Reconnecting…");
      setTimeout(connect, RETRY_MS);
    }
  };
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIceGatheringComplete(pc, 3000);
  const resp = await fetch(`${base}/viewer`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer" }),
  });
  if (resp.status === 409) {
    pc.close();
    say("Waiting for the caller's video…");
    setTimeout(connect, RETRY_MS);
    return;
  }
  if (!resp.ok) {
    pc.close();
    say(resp.status === 404 ? "This live view has expired." : "The live view is not available.");
    return;
  }
  const reply = await resp.json();
  if (reply.type === "offer") {
    // The media plane offers instead (an SFU offers to its subscribers): answer that offer.
    await pc.setRemoteDescription({ type: "offer", sdp: reply.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForIceGatheringComplete(pc, 3000);
    const done = await fetch(`${base}/viewer/${encodeURIComponent(reply.viewer)}/answer`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "answer" }),
    });
    if (!done.ok) { pc.close(); setTimeout(connect, RETRY_MS); return; }
  } else {
    await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
  }
  // If the connection has not come up in a while, the network may block WebRTC: use stills.
  setTimeout(() => { if (pc.connectionState !== "connected") { pc.close(); fallBackToMjpeg(); } }, 10000);
}

connect().catch(() => fallBackToMjpeg());
