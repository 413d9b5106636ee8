// A caller's phone played by Firefox ESR, driven over WebDriver BiDi with puppeteer-core.
//
// Playwright drives only its own patched Firefox, so the Firefox caller tests use Debian's
// firefox-esr through puppeteer-core instead. This script is the browser's side of
// tests/e2e/firefox.py: it launches one headless Firefox with a fresh profile (the directory given)
// whose fake camera is Firefox's own and whose position is a fixed test position, then reads one
// JSON command a line on stdin and answers each with one JSON line on stdout:
//
//   {"id": 1, "cmd": "open", "url": "https://..."}      -> {"id": 1, "ok": true, "result": {status}}
//   {"id": 2, "cmd": "click", "selector": "#start"}     -> {"id": 2, "ok": true, "result": null}
//   {"id": 3, "cmd": "state"}                           -> {"id": 3, "ok": true, "result": {...}}
//
// "state" is what the caller sees (the visible screen, the banner, the location and connection
// lines) and what the browser sends: each peer connection's video encodings as the page set them
// and the outbound video statistics. Uncaught page errors and Content Security Policy violations
// come as events, {"event": "problem", "text": ...}, and {"event": "ready", "version", "pid"} comes
// once the browser is up (puppeteer starts it as the leader of a process group of its own, so
// the pid names the group to end should this script die first). It exits when stdin closes,
// closing the browser first.
//
//   node firefox_caller.mjs PROFILE_DIR '{"latitude": 53.8, "longitude": -1.55, "accuracy": 15}'

import { createRequire } from "node:module";
import readline from "node:readline";

// puppeteer-core is a development dependency of the pages' npm project (make web installs it).
const require = createRequire(new URL("../../web_client/package.json", import.meta.url));
const puppeteer = require("puppeteer-core");

const [profile, positionJson] = process.argv.slice(2);
const executablePath = process.env.SCENELINK_FIREFOX || "/usr/bin/firefox-esr";
const position = JSON.parse(positionJson);

function emit(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

// Firefox's network geolocation provider asks this URL for the position; a data: URL answers
// without any network, in the shape of the location service's reply.
const geoReply = {
  location: { lat: position.latitude, lng: position.longitude },
  accuracy: position.accuracy,
};

const prefs = {
  // The fake camera (a moving colour pattern) instead of a device, and no permission prompt.
  "media.navigator.streams.fake": true,
  "media.navigator.permission.disabled": true,
  // Geolocation from the test position, allowed without a prompt.
  "geo.provider.testing": true,
  "geo.prompt.testing": true,
  "geo.prompt.testing.allow": true,
  "geo.provider.network.url": "data:application/json," + encodeURIComponent(JSON.stringify(geoReply)),
  // Host candidates with their addresses, not mDNS names: the gateway (aioice) cannot resolve
  // those, and the test network has nothing else to offer.
  "media.peerconnection.ice.obfuscate_host_addresses": false,
};

// Keeps every peer connection the page makes, so that "state" can read what the browser sends.
// A subclass: the page still gets Firefox's own RTCPeerConnection, behaviour untouched.
function watchPeers() {
  const Real = window.RTCPeerConnection;
  if (!Real) return;
  window.__scenelinkPeers = [];
  class Watched extends Real {
    constructor(...args) {
      super(...args);
      window.__scenelinkPeers.push(this);
    }
  }
  window.RTCPeerConnection = Watched;
}

async function pageState() {
  const visible = (id) => {
    const el = document.getElementById(id);
    return !!el && !el.hidden;
  };
  const text = (id) => {
    const el = document.getElementById(id);
    return el ? el.textContent.trim() : null;
  };
  const screen = Array.from(document.querySelectorAll("section.screen"))
    .filter((el) => !el.hidden).map((el) => el.id.replace(/^screen-/, ""));
  const peers = [];
  for (const pc of window.__scenelinkPeers || []) {
    const senders = pc.getSenders().filter((sender) => sender.track && sender.track.kind === "video");
    const encodings = senders.map((sender) => sender.getParameters().encodings || []);
    const outbound = [];
    if (pc.connectionState !== "closed") {
      const stats = await pc.getStats();
      stats.forEach((report) => {
        if (report.type === "outbound-rtp" && report.kind === "video") {
          outbound.push({
            framesEncoded: report.framesEncoded ?? null,
            frameWidth: report.frameWidth ?? null,
            frameHeight: report.frameHeight ?? null,
            framesPerSecond: report.framesPerSecond ?? null,
            bytesSent: report.bytesSent ?? null,
            scalabilityMode: report.scalabilityMode ?? null,
          });
        }
      });
    }
    peers.push({ connectionState: pc.connectionState, encodings, outbound });
  }
  return {
    screens: screen,
    banner: visible("screen-sharing") ? text("banner") : null,
    location: text("location-status"),
    connection: text("connection-status"),
    mode: document.getElementById("mode")?.dataset.mode ?? null,
    ended: visible("screen-ended") ? text("ended-reason") : null,
    userAgent: navigator.userAgent,
    peers,
  };
}

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath,
  headless: true,
  userDataDir: profile,
  extraPrefsFirefox: prefs,
  acceptInsecureCerts: true,  // the gateway's self-signed certificate
});
let closing = false;

async function shutDown(code) {
  if (closing) return;
  closing = true;
  try {
    await browser.close();
  } finally {
    process.exit(code);
  }
}

const page = await browser.newPage();
await page.evaluateOnNewDocument(watchPeers);
page.on("pageerror", (err) => emit({ event: "problem", text: `uncaught ${err.message || err}` }));
page.on("console", (msg) => {
  if (msg.type() === "error" && msg.text().includes("Content Security Policy")) {
    emit({ event: "problem", text: msg.text() });
  }
});
emit({ event: "ready", version: await browser.version(), pid: browser.process()?.pid ?? null });

async function run(command) {
  switch (command.cmd) {
    case "open": {
      const response = await page.goto(command.url, { waitUntil: "load" });
      return { status: response ? response.status() : null };
    }
    case "click":
      await page.click(command.selector);
      return null;
    case "state":
      return await page.evaluate(pageState);
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  let command;
  try {
    command = JSON.parse(line);
  } catch (err) {
    emit({ id: null, ok: false, error: `not JSON: ${err.message}` });
    continue;
  }
  try {
    emit({ id: command.id, ok: true, result: await run(command) });
  } catch (err) {
    emit({ id: command.id, ok: false, error: String(err && err.stack ? err.stack : err) });
  }
}
await shutDown(0);
