/* scenelink caller page: consent, then the rear camera over WebRTC and GPS fixes over a data channel.
 *
 * Deliberately small, framework-free ES2017 (no modules, no optional chaining, no object spread) so
 * that it runs on old phones, and self-contained: it loads nothing from any other site.
 * Contract: docs/api.md ("The caller's side").
 */
(function () {
  "use strict";

  var ICE_GATHER_TIMEOUT_MS = 3000;
  var RESEND_AFTER_MS = 5000;
  var MAX_PENDING = 300;
  var MAX_RECONNECTS = 3;

  var match = /^\/c\/([^\/?#]+)/.exec(location.pathname);
  var base = match ? "/c/" + match[1] : null;

  var s = {
    active: false,      // between "Start sharing" and the end
    ending: false,
    iceServers: [],
    stream: null,
    pc: null,
    channel: null,
    watchId: null,
    seq: 0,
    pending: [],        // fixes not yet acknowledged: {seq, text, sentAt}
    resendTimer: null,
    reconnects: 0,
    wakeLock: null,
    lastFix: null
  };

  function $(id) { return document.getElementById(id); }

  var SCREENS = ["consent", "connecting", "sharing", "ended", "error"];
  function show(name) {
    SCREENS.forEach(function (n) { $("screen-" + n).hidden = n !== name; });
    var heading = document.querySelector("#screen-" + name + " h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      try { heading.focus({ preventScroll: true }); } catch (e) { heading.focus(); }
    }
  }

  function setText(id, text, warn) {
    var el = $(id);
    el.textContent = text;
    if (warn) el.classList.add("warn"); else el.classList.remove("warn");
  }

  function fail(message) {
    cleanup();
    $("error-message").textContent = message;
    show("error");
  }

  function ended(message) {
    cleanup();
    $("ended-reason").textContent = message;
    show("ended");
  }

  // --- talking to the gateway -------------------------------------------------------------

  function HttpError(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }

  async function post(path, body) {
    var resp;
    try {
      resp = await fetch(base + path, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(body || {})
      });
    } catch (e) {
      throw new HttpError(0, "network", "Your phone could not reach the control room. Check you have signal or Wi-Fi.");
    }
    var data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      throw new HttpError(resp.status, data && data.error, (data && data.message) || "HTTP " + resp.status);
    }
    return data || {};
  }

  function linkUnusable(err) {
    return err instanceof HttpError && (err.status === 404 || err.status === 410);
  }

  // --- WebRTC ----------------------------------------------------------------------------

  function waitForIceGatheringComplete(pc, timeoutMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var timer = setTimeout(done, timeoutMs);
      function check() { if (pc.iceGatheringState === "complete") done(); }
      function done() {
        clearTimeout(timer);
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      }
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  function preferVp8(transceiver) {
    if (!transceiver || typeof transceiver.setCodecPreferences !== "function") return;
    if (!window.RTCRtpSender || typeof RTCRtpSender.getCapabilities !== "function") return;
    var caps = RTCRtpSender.getCapabilities("video");
    if (!caps || !caps.codecs) return;
    var vp8 = caps.codecs.filter(function (c) { return c.mimeType.toLowerCase() === "video/vp8"; });
    if (!vp8.length) return;
    var rest = caps.codecs.filter(function (c) { return c.mimeType.toLowerCase() !== "video/vp8"; });
    try { transceiver.setCodecPreferences(vp8.concat(rest)); } catch (e) { /* keep the default order */ }
  }

  async function getCamera() {
    var video = {
      facingMode: { ideal: "environment" },
      width: { ideal: 640 },
      height: { ideal: 480 },
      frameRate: { ideal: 15, max: 15 }
    };
    try {
      return await navigator.mediaDevices.getUserMedia({ video: video, audio: false });
    } catch (err) {
      if (err && err.name === "OverconstrainedError") {
        return navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      }
      throw err;
    }
  }

  function cameraMessage(err) {
    var name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      return "The camera was not allowed. To share video, allow this page to use the camera " +
        "(in your browser's settings for this site), then tap Try again.";
    }
    if (name === "NotFoundError" || name === "DevicesNotFoundError") {
      return "No camera was found on this phone.";
    }
    if (name === "NotReadableError" || name === "TrackStartError") {
      return "The camera is being used by another app. Close other apps that use the camera, then tap Try again.";
    }
    return "The camera could not be started (" + (name || "unknown error") + ").";
  }

  async function connect() {
    var pc = new RTCPeerConnection({ iceServers: s.iceServers });
    s.pc = pc;
    var track = s.stream.getVideoTracks()[0];
    var transceiver = null;
    if (typeof pc.addTransceiver === "function") {
      transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: [s.stream] });
    } else {
      pc.addTrack(track, s.stream);
    }
    preferVp8(transceiver);
    openChannel(pc.createDataChannel("fixes", { ordered: true }));
    pc.addEventListener("connectionstatechange", function () { onConnectionState(pc); });

    var offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await waitForIceGatheringComplete(pc, ICE_GATHER_TIMEOUT_MS);
    if (s.pc !== pc) return;  // stopped or replaced meanwhile
    var answer = await post("/offer", { sdp: pc.localDescription.sdp, type: "offer" });
    if (s.pc !== pc) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  }

  function onConnectionState(pc) {
    if (pc !== s.pc || !s.active) return;
    var state = pc.connectionState;
    if (state === "connected") {
      s.reconnects = 0;
      setText("connection-status", "Connected");
    } else if (state === "connecting" || state === "new") {
      setText("connection-status", "Connecting…");
    } else if (state === "disconnected") {
      setText("connection-status", "Connection interrupted, trying to recover…", true);
    } else if (state === "failed" || state === "closed") {
      reconnect();
    }
  }

  // aiortc has no ICE restart: a lost connection is replaced by a new one on the same link.
  async function reconnect() {
    if (!s.active || s.ending) return;
    closePeer();
    if (s.reconnects >= MAX_RECONNECTS) {
      fail("The connection to the control room was lost.");
      return;
    }
    s.reconnects += 1;
    setText("connection-status", "Connection lost, reconnecting…", true);
    await new Promise(function (r) { setTimeout(r, 1000 * s.reconnects); });
    if (!s.active) return;
    try {
      await connect();
    } catch (err) {
      if (linkUnusable(err)) {
        ended("Sharing has ended. The control room has closed this link.");
      } else {
        reconnect();
      }
    }
  }

  // --- fixes over the data channel --------------------------------------------------------

  function openChannel(channel) {
    s.channel = channel;
    channel.onopen = function () { flush(true); };
    channel.onmessage = function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (!msg || typeof msg !== "object") return;
      if (msg.type === "ack" || msg.type === "rejected") {
        s.pending = s.pending.filter(function (p) { return p.seq !== msg.seq; });
        if (msg.type === "ack") showFixShared();
        else setText("location-status", "A location reading was not accepted (" + (msg.reason || "invalid") + ").", true);
      } else if (msg.type === "ping") {
        // Echo the gateway's clock so it can measure the round trip (stream health).
        if (channel.readyState === "open") channel.send(JSON.stringify({ type: "pong", t: msg.t }));
      } else if (msg.type === "end" && !s.ending) {
        ended("The control room has stopped the video. Thank you for your help.");
      }
    };
  }

  function num(v) {
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  function onPosition(pos) {
    var c = pos.coords;
    s.seq += 1;
    var fix = {
      type: "fix",
      seq: s.seq,
      latitude: c.latitude,
      longitude: c.longitude,
      accuracy: num(c.accuracy),
      altitude: num(c.altitude),
      altitude_accuracy: num(c.altitudeAccuracy),
      heading: num(c.heading),
      speed: num(c.speed),
      timestamp: Math.round(pos.timestamp || Date.now())
    };
    s.lastFix = fix;
    s.pending.push({ seq: fix.seq, text: JSON.stringify(fix), sentAt: 0 });
    if (s.pending.length > MAX_PENDING) s.pending.splice(0, s.pending.length - MAX_PENDING);
    flush(false);
    if (s.pending.length > 1 || !s.channel || s.channel.readyState !== "open") {
      setText("location-status", "Location found (about " + Math.round(fix.accuracy) + " m). Sending…");
    }
  }

  function showFixShared() {
    var f = s.lastFix;
    if (!f) return;
    var when = new Date(f.timestamp);
    var hh = ("0" + when.getHours()).slice(-2), mm = ("0" + when.getMinutes()).slice(-2),
      ss = ("0" + when.getSeconds()).slice(-2);
    var accuracy = f.accuracy === null ? "unknown accuracy" : "accurate to about " + Math.round(f.accuracy) + " m";
    setText("location-status", "Shared, " + accuracy + " (at " + hh + ":" + mm + ":" + ss + ")");
  }

  // Send what has not been sent, and resend what has waited too long for its acknowledgement.
  function flush(all) {
    var ch = s.channel;
    if (!ch || ch.readyState !== "open") return;
    var now = Date.now();
    for (var i = 0; i < s.pending.length; i++) {
      var p = s.pending[i];
      if (all || p.sentAt === 0 || now - p.sentAt > RESEND_AFTER_MS) {
        try { ch.send(p.text); p.sentAt = now; } catch (e) { return; }
      }
    }
  }

  function onPositionError(err) {
    if (err.code === 1) {
      setText("location-status", "Location not shared: it was not allowed. The video is still being shared.", true);
    } else if (err.code === 2) {
      setText("location-status", "Your phone cannot find your location right now. Still trying…", true);
    }
    // code 3 (timeout): watchPosition keeps trying by itself.
  }

  function startLocation() {
    if (!navigator.geolocation) {
      setText("location-status", "This phone cannot share its location. The video is still being shared.", true);
      return;
    }
    s.watchId = navigator.geolocation.watchPosition(onPosition, onPositionError, {
      enableHighAccuracy: true, maximumAge: 0, timeout: 30000
    });
  }

  // --- start and stop ---------------------------------------------------------------------

  async function start() {
    if (s.active) return;
    if (!base) { fail("This link is not complete. Please ask the call handler to send it again."); return; }
    if (window.isSecureContext === false) {
      fail("This page was not opened over a secure connection, so the camera cannot be used.");
      return;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || !window.RTCPeerConnection) {
      fail("This browser cannot share live video. Try opening the link in Chrome or Safari.");
      return;
    }
    s.active = true;
    s.ending = false;
    s.reconnects = 0;
    setText("connecting-step", "Asking for your camera and location.");
    show("connecting");
    try {
      var consent = await post("/consent", {});
      s.iceServers = Array.isArray(consent.ice_servers) ? consent.ice_servers : [];
    } catch (err) {
      if (linkUnusable(err)) fail("This link can no longer be used. The call handler can send you a new one.");
      else fail(err.message || "Could not reach the control room.");
      return;
    }
    try {
      s.stream = await getCamera();
    } catch (err) {
      fail(cameraMessage(err));
      return;
    }
    if (!s.active) { cleanup(); return; }
    var preview = $("preview");
    preview.muted = true;
    preview.srcObject = s.stream;
    var played = preview.play();
    if (played && played.catch) played.catch(function () {});
    startLocation();
    setText("connecting-step", "Connecting to the control room.");
    try {
      await connect();
    } catch (err) {
      if (linkUnusable(err)) fail("This link can no longer be used. The call handler can send you a new one.");
      else fail((err && err.message) || "Could not connect to the control room.");
      return;
    }
    if (!s.active) return;
    s.resendTimer = setInterval(function () { flush(false); }, 1000);
    keepScreenOn();
    show("sharing");
  }

  function keepScreenOn() {
    if (navigator.wakeLock && navigator.wakeLock.request) {
      navigator.wakeLock.request("screen").then(function (lock) { s.wakeLock = lock; }, function () {});
    }
  }

  function closePeer() {
    var pc = s.pc;
    s.pc = null;
    s.channel = null;
    if (pc) { try { pc.close(); } catch (e) { /* already closed */ } }
  }

  function cleanup() {
    s.active = false;
    s.ending = true;
    if (s.watchId !== null && navigator.geolocation) navigator.geolocation.clearWatch(s.watchId);
    s.watchId = null;
    clearInterval(s.resendTimer);
    s.resendTimer = null;
    closePeer();
    if (s.stream) s.stream.getTracks().forEach(function (t) { t.stop(); });
    s.stream = null;
    $("preview").srcObject = null;
    if (s.wakeLock) { s.wakeLock.release().catch(function () {}); s.wakeLock = null; }
  }

  async function stop() {
    $("stop").disabled = true;
    var wasActive = s.active || s.pc !== null;
    s.active = false;
    s.ending = true;
    // Stop the camera and location at once (the caller asked), but keep the connection open
    // until the gateway has recorded that the caller ended it, so it is not taken for a drop-out.
    if (s.stream) s.stream.getTracks().forEach(function (t) { t.stop(); });
    if (s.watchId !== null && navigator.geolocation) navigator.geolocation.clearWatch(s.watchId);
    s.watchId = null;
    if (wasActive) {
      try { await withTimeout(post("/end", {}), 4000); } catch (e) { /* the gateway also notices the closed connection */ }
    }
    cleanup();
    $("stop").disabled = false;
    ended("You have stopped sharing. Your camera and location are no longer being shared.");
  }

  function withTimeout(promise, ms) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { reject(new Error("timeout")); }, ms);
      promise.then(function (v) { clearTimeout(timer); resolve(v); }, function (e) { clearTimeout(timer); reject(e); });
    });
  }

  function init() {
    $("start").addEventListener("click", start);
    $("retry").addEventListener("click", start);
    $("stop").addEventListener("click", stop);
    $("cancel").addEventListener("click", stop);
    // Android's Emergency Location Service opens the link in a web view ("Live/" in the user
    // agent) where touch does not work: the user has already agreed there, so start at once.
    if (/ Live\/\d/.test(navigator.userAgent)) start();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
