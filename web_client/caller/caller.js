/* scenelink caller page: consent, then the rear camera over WebRTC and GPS fixes over a data channel,
 * stepping down a fallback ladder on a poor network (lower video, still photos over HTTPS, location
 * only) and climbing back when it improves. Fixes are numbered, kept on the phone until acknowledged
 * and resent with their original times, so none is lost and none is stored twice.
 *
 * Deliberately small, framework-free ES2017 (no modules, no optional chaining, no object spread) so
 * that it runs on old phones, and self-contained: it loads nothing from any other site.
 * Contract: docs/api.md ("The caller's side").
 */
(function () {
  "use strict";

  var ICE_GATHER_TIMEOUT_MS = 3000;
  var CONNECT_TIMEOUT_MS = 8000;       // no WebRTC connection by then: step down
  var ICE_RENEW_MARGIN_MS = 60000;    // renew a TURN credential this long before it expires
  var DISCONNECTED_GRACE_MS = 4000;    // "disconnected" this long: make a new connection
  var PING_SILENCE_MS = 2500;          // the gateway pings every half second (every second on an old gateway): this long without one, it is gone
  var QUICK_RETRY_MS = 700;            // a gateway that was just there: try again this often...
  var QUICK_RETRY_FOR_MS = 60000;      // ...for this long before stepping down the ladder
  var FLAP_MS = 8000;                  // a connection that drops sooner than this counts as flapping
  var RESEND_AFTER_MS = 5000;
  var MAX_PENDING = 500;
  var HTTPS_BATCH = 50;
  var STILL_EVERY_MS = 4000;
  var STILL_SLOW_MS = 6000;            // an upload slower than this counts as a failure
  var CLIMB_FIRST_MS = 15000;          // then doubling up to CLIMB_MAX_MS
  var CLIMB_MAX_MS = 60000;
  var STATUS_EVERY_MS = 30000;
  var POLL_CONNECTED_MS = 30000;
  var POLL_FALLBACK_MS = 5000;
  var VIDEO = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 15, max: 15 } };
  var VIDEO_LOW = { width: { ideal: 320 }, height: { ideal: 240 }, frameRate: { ideal: 8, max: 8 } };
  var BITRATE_FULL = 1500000, BITRATE_LOW = 250000;   // the sender's own cap at each level

  var match = /^\/c\/([^\/?#]+)/.exec(location.pathname);
  var base = match ? "/c/" + match[1] : null;
  var root = document.documentElement;
  var UA = navigator.userAgent;
  var LIVE_VIEW = / Live\/\d/.test(UA);

  function $(id) { return document.getElementById(id); }
  function now() { return Date.now(); }

  // --- strings ---------------------------------------------------------------------------------

  var T = {};
  try { T = JSON.parse($("strings").textContent); } catch (e) { T = {}; }

  // A location-only link (the handler chose it): the page never asks for the camera, and its
  // location wordings ("<key>_location_only") stand in for the ones that mention the camera.
  var LOCATION_ONLY = root.dataset.mode === "location";

  function str(key) {
    if (LOCATION_ONLY && typeof T[key + "_location_only"] === "string") return T[key + "_location_only"];
    return T[key];
  }

  function t(key, vars) {
    var text = typeof str(key) === "string" ? str(key) : key;
    if (vars) Object.keys(vars).forEach(function (k) { text = text.split("{" + k + "}").join(vars[k]); });
    return text;
  }

  function applyStrings() {
    root.lang = T.lang || "en";
    root.dir = T.dir === "rtl" ? "rtl" : "ltr";
    var i, els = document.querySelectorAll("[data-i18n]");
    for (i = 0; i < els.length; i++) {
      if (typeof str(els[i].dataset.i18n) === "string") els[i].textContent = str(els[i].dataset.i18n);
    }
    els = document.querySelectorAll("[data-i18n-aria]");
    for (i = 0; i < els.length; i++) els[i].setAttribute("aria-label", t(els[i].dataset.i18nAria));
    $("lang").value = T.lang || "en";
    if (s.active) { showMode(); showNotice(); }
  }

  function loadLanguage(code) {
    if (code === T.lang) return Promise.resolve();
    return fetch("/static/caller/i18n/" + code + ".json", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (strings) { T = strings; applyStrings(); sendStatus(true); })
      .catch(function () { /* keep the language we have */ });
  }

  // The handler did not choose: use the phone's own first language that we have.
  function phoneLanguage() {
    var wanted = navigator.languages || [navigator.language || "en"];
    var options = Array.prototype.map.call($("lang").options, function (o) { return o.value; });
    for (var i = 0; i < wanted.length; i++) {
      var code = String(wanted[i]).toLowerCase().split("-")[0];
      if (options.indexOf(code) >= 0) return code;
    }
    return "en";
  }

  // --- the browser, for help texts and for the handler -----------------------------------------

  function browserInfo() {
    var m, os = /iPhone|iPad|iPod/.test(UA) ? "iOS" : /Android/.test(UA) ? "Android" :
      /Windows/.test(UA) ? "Windows" : /Mac OS X/.test(UA) ? "macOS" : /Linux/.test(UA) ? "Linux" : "other";
    var b = { name: "other", version: "", os: os, family: "other" };
    if ((m = /SamsungBrowser\/([\d.]+)/.exec(UA))) { b.name = "Samsung Internet"; b.version = m[1]; b.family = "samsung"; }
    else if ((m = /(?:EdgA|EdgiOS|Edg)\/([\d.]+)/.exec(UA))) { b.name = "Edge"; b.version = m[1]; b.family = os === "Android" ? "chrome" : "other"; }
    else if ((m = /(?:Firefox|FxiOS)\/([\d.]+)/.exec(UA))) { b.name = "Firefox"; b.version = m[1]; }
    else if ((m = /CriOS\/([\d.]+)/.exec(UA))) { b.name = "Chrome"; b.version = m[1]; }
    else if ((m = /Chrome\/([\d.]+)/.exec(UA))) {
      b.name = /; wv\)/.test(UA) ? "Android WebView" : "Chrome"; b.version = m[1];
      if (os === "Android") b.family = "chrome";
    } else if ((m = /Version\/([\d.]+).*Safari/.exec(UA))) {
      b.name = "Safari"; b.version = m[1];
      if (os === "iOS") b.family = "ios";
    }
    return b;
  }
  var BROWSER = browserInfo();

  // --- what is kept on the phone ---------------------------------------------------------------

  function hash(text) {
    var h = 5381;
    for (var i = 0; i < text.length; i++) h = ((h * 33) ^ text.charCodeAt(i)) >>> 0;
    return h.toString(36);
  }
  var KEY = "scenelink." + hash(base || "") + ".";
  var store = {
    get: function (k, fallback) {
      try { var v = localStorage.getItem(KEY + k); return v === null ? fallback : JSON.parse(v); } catch (e) { return fallback; }
    },
    set: function (k, v) { try { localStorage.setItem(KEY + k, JSON.stringify(v)); return true; } catch (e) { return false; } },
    drop: function (k) { try { localStorage.removeItem(KEY + k); } catch (e) { /* nothing kept */ } }
  };

  // What an earlier call left on this phone (a tab closed while sharing) goes after twelve hours.
  function forgetOldCalls() {
    try {
      var cutoff = now() - 12 * 3600 * 1000, old = [], i, k, m;
      for (i = 0; i < localStorage.length; i++) {
        k = localStorage.key(i);
        m = /^(scenelink\.[^.]+\.)touched$/.exec(k || "");
        if (m && Number(localStorage.getItem(k)) < cutoff) old.push(m[1]);
      }
      for (i = localStorage.length - 1; i >= 0; i--) {
        k = localStorage.key(i) || "";
        if (old.some(function (prefix) { return k.indexOf(prefix) === 0; })) localStorage.removeItem(k);
      }
    } catch (e) { /* no storage */ }
  }

  // --- state -----------------------------------------------------------------------------------

  var s = {
    active: false,
    ending: false,
    iceServers: [],
    iceExpiresAt: 0,       // when the TURN credential in iceServers expires (0: none to renew)
    iceBusy: false,        // fresh ICE servers are being fetched
    stream: null,          // the camera, when allowed
    facing: "environment",
    torch: false,
    pc: null,
    channel: null,
    sender: null,
    rtcUp: false,          // connected and the data channel open
    rtcBroken: false,      // this browser cannot make peer connections at all
    connectTimer: null,
    graceTimer: null,
    drops: [],             // when a working connection dropped, lately
    upAt: 0,               // when the current (or last) connection came up
    climbAt: 0,
    climbDelay: CLIMB_FIRST_MS,
    level: 0,              // 0 video, 1 lower video, 2 stills over HTTPS, 3 location over HTTPS
    offline: false,
    badChecks: 0,
    goodChecks: 0,
    stillAt: 0,
    stillBusy: false,
    stillFailures: 0,
    watchId: null,
    perm: { camera: "unknown", geolocation: "unknown" },
    cameraProblem: null,   // why there is no camera: "denied", "camera_none", "camera_busy", "camera_stopped"
    cameraMuted: false,    // the phone paused the camera (a call, another app): the track is muted
    cameras: null,         // how many cameras the phone has, once known
    pingAt: 0,             // when the gateway's last ping arrived
    lostAt: 0,             // when a working connection was lost (quick retries follow)
    mediaRtt: null,        // round trip from RTCP / ICE, milliseconds
    counted: null,         // packets lost and sent at the last quality check
    seq: 0,
    pending: [],           // fixes not yet acknowledged: {seq, msg, sentAt}
    httpsBusy: false,
    httpsAt: 0,
    lastFix: null,
    outbox: [],            // replies and "seen" not yet acknowledged: {ref, body, sentAt}
    shown: null,           // the instruction on screen
    seenIds: {},
    controlVersion: 0,
    polledAt: 0,
    statusAt: 0,
    statusKey: "",
    battery: null,
    ticker: null,
    wakeLock: null,
    discreet: false
  };

  // --- screens ---------------------------------------------------------------------------------

  var SCREENS = ["inapp", "consent", "connecting", "sharing", "ended", "error"];
  function show(name) {
    SCREENS.forEach(function (n) { $("screen-" + n).hidden = n !== name; });
    var heading = document.querySelector("#screen-" + name + " h1");
    if (heading && !s.discreet) {
      heading.setAttribute("tabindex", "-1");
      try { heading.focus({ preventScroll: true }); } catch (e) { heading.focus(); }
    }
  }

  function setText(id, text, warn) {
    var el = $(id);
    el.textContent = text;
    if (warn) el.classList.add("warn"); else el.classList.remove("warn");
  }

  function fail(message, help) {
    cleanup();
    $("error-message").textContent = message;
    $("error-help").textContent = help || "";
    show("error");
  }

  function ended(message) {
    cleanup();
    ["sharing", "fixes", "outbox", "seq"].forEach(store.drop);
    $("ended-reason").textContent = message;
    show("ended");
  }

  // --- talking to the gateway over HTTPS -------------------------------------------------------

  function HttpError(status, code, message) {
    this.status = status;
    this.code = code;
    this.message = message;
  }

  function request(method, path, body, type, timeoutMs) {
    var controller = typeof AbortController === "function" ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, timeoutMs || 15000) : null;
    var init = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (controller) init.signal = controller.signal;
    if (body !== undefined) {
      init.headers["Content-Type"] = type || "application/json";
      init.body = type ? body : JSON.stringify(body);
    }
    return fetch(base + path, init).then(function (resp) {
      clearTimeout(timer);
      if (s.offline) { s.offline = false; showMode(); }
      return resp.json().catch(function () { return null; }).then(function (data) {
        if (!resp.ok) throw new HttpError(resp.status, data && data.error, (data && data.message) || "HTTP " + resp.status);
        return data || {};
      });
    }, function () {
      clearTimeout(timer);
      throw new HttpError(0, "network", t("err_network"));
    });
  }

  function post(path, body, type, timeoutMs) { return request("POST", path, body, type, timeoutMs); }

  function linkUnusable(err) {
    return err instanceof HttpError && (err.status === 404 || err.status === 410);
  }

  // Every HTTPS failure goes through here: a closed link ends the page; no network means offline.
  function httpsFailed(err) {
    if (linkUnusable(err)) { if (s.active) ended(t("ended_closed")); return; }
    // Our own request found no gateway and its pings have paused: the connection is dead too.
    if (err instanceof HttpError && err.status === 0 && s.rtcUp && now() - s.pingAt > 1500) rtcFailed();
    if (err instanceof HttpError && err.status === 0 && !s.offline) { s.offline = true; showMode(); sendStatus(true); }
  }

  // --- the fallback ladder ---------------------------------------------------------------------

  function mode() {
    if (!s.active) return "starting";
    if (s.rtcUp) return s.stream ? (s.level === 1 ? "video_low" : "video") : "location";
    if (s.offline || navigator.onLine === false) return "offline";
    if (s.level >= 2) return s.stream && s.level === 2 ? "stills" : "location";
    return "starting";
  }

  function showMode() {
    var m = mode(), el = $("mode");
    var key = { video: "mode_video", video_low: "mode_video_low", stills: "mode_stills", location: "mode_location", offline: "mode_offline" }[m];
    if (m === "location" && s.perm.camera === "denied") key = "mode_no_camera";
    if (m === "location" && s.cameraProblem === "camera_stopped") key = "mode_camera_stopped";
    if (m === "video" && s.perm.geolocation === "denied") key = "mode_no_location";
    el.dataset.mode = m;
    el.textContent = key ? t(key) : "";
    if (s.cameraMuted && (m === "video" || m === "video_low")) el.textContent = t("camera_paused");
    if (s.rtcUp) setText("connection-status", t("conn_connected"));
    else if (m === "offline") setText("connection-status", t("mode_offline"), true);
    if (s.pending.length > 1 && m === "offline") setText("location-status", t("loc_saved", { n: s.pending.length }), true);
  }

  function setLevel(level) {
    if (level === s.level) return;
    s.level = level;
    if (level >= 2) { s.stillAt = 0; }
    showMode();
    sendStatus(true);
  }

  function stepDown() {
    // WebRTC does not get through: still photos (with a camera) or location alone, over HTTPS.
    setLevel(s.stream ? 2 : 3);
    s.climbAt = now() + s.climbDelay;
    s.climbDelay = Math.min(s.climbDelay * 2, CLIMB_MAX_MS);
  }

  // --- WebRTC ----------------------------------------------------------------------------------

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

  // VP8 in temporal layers where the browser can: the gateway decodes only the base layer (a
  // quarter of the frames in L1T3) for its own needs, while viewers are sent every frame. A browser
  // that refuses the mode throws (Chromium: OperationError) and one that does not know the member
  // ignores it; either way the camera is sent as it always was.
  var LAYER_MODES = ["L1T3", "L1T2"];

  function addLayeredTransceiver(pc, track) {
    var init = { direction: "sendonly", streams: [s.stream] };
    var modes = LAYER_MODES.filter(vp8Offers);
    for (var i = 0; i < modes.length; i++) {
      try {
        return pc.addTransceiver(track, { direction: init.direction, streams: init.streams,
          sendEncodings: [{ scalabilityMode: modes[i] }] });
      } catch (e) { /* not this mode: the next, or none */ }
    }
    return pc.addTransceiver(track, init);
  }

  // Whether VP8 may be sent in this mode: unknown (tried) unless the browser lists its modes.
  function vp8Offers(mode) {
    if (!window.RTCRtpSender || typeof RTCRtpSender.getCapabilities !== "function") return true;
    var caps = RTCRtpSender.getCapabilities("video");
    var vp8 = caps && caps.codecs ? caps.codecs.filter(function (c) {
      return c.mimeType.toLowerCase() === "video/vp8" && Array.isArray(c.scalabilityModes);
    }) : [];
    if (!vp8.length) return true;
    return vp8.some(function (c) { return c.scalabilityModes.indexOf(mode) >= 0; });
  }

  // TURN credentials are short-lived: a connection made near or after the expiry asks for fresh
  // ones first (a connection already up keeps its relay; only new allocations need them).
  function setIceServers(answer) {
    s.iceServers = Array.isArray(answer.ice_servers) ? answer.ice_servers : [];
    var ttl = answer.ice_servers_expire_in;
    s.iceExpiresAt = typeof ttl === "number" && ttl > 0 ? now() + ttl * 1000 : 0;
  }

  function connect() {
    if (s.iceBusy) return Promise.resolve();
    if (s.iceExpiresAt && now() > s.iceExpiresAt - ICE_RENEW_MARGIN_MS) {
      s.iceBusy = true;
      return post("/ice", {}).then(setIceServers, httpsFailed).then(function () {
        s.iceBusy = false;
        if (s.active && !s.rtcUp && !s.pc) return connectNow();
        return null;
      });
    }
    return connectNow();
  }

  function connectNow() {
    closePeer();
    // Every new connection starts at full quality; it steps down again only on evidence.
    if (s.level === 1) { s.level = 0; applyQuality(); }
    var pc;
    try {
      pc = new RTCPeerConnection({ iceServers: s.iceServers });
    } catch (e) {
      s.rtcBroken = true;  // blocked or missing: HTTPS only, and try again now and then
      rtcFailed();
      return Promise.resolve();
    }
    s.pc = pc;
    var track = s.stream ? s.stream.getVideoTracks()[0] : null;
    if (track) {
      var transceiver = null;
      if (typeof pc.addTransceiver === "function") {
        transceiver = addLayeredTransceiver(pc, track);
        s.sender = transceiver.sender;
      } else {
        s.sender = pc.addTrack(track, s.stream);
      }
      preferVp8(transceiver);
    }
    openChannel(pc, pc.createDataChannel("fixes", { ordered: true }));
    openPulse(pc, pc.createDataChannel("pulse", { ordered: false, maxRetransmits: 0 }));
    pc.addEventListener("connectionstatechange", function () { onConnectionState(pc); });
    // Climbing back on a poor network gets longer to connect than the first attempt; right after
    // losing a working connection, attempts are short so that one is made every second or so.
    var quick = quickRetrying();
    s.connectTimer = setTimeout(function () { if (s.pc === pc && !s.rtcUp) rtcFailed(); },
      quick ? 4000 : CONNECT_TIMEOUT_MS * (s.level >= 2 ? 2 : 1));
    return pc.createOffer().then(function (offer) {
      return pc.setLocalDescription(offer);
    }).then(function () {
      return waitForIceGatheringComplete(pc, ICE_GATHER_TIMEOUT_MS);
    }).then(function () {
      if (s.pc !== pc) return null;
      return post("/offer", { sdp: pc.localDescription.sdp, type: "offer" }, undefined, quick ? 4000 : undefined);
    }).then(function (answer) {
      if (!answer || s.pc !== pc) return null;
      return pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    }).catch(function (err) {
      if (s.pc !== pc) return;
      httpsFailed(err);
      if (s.active) rtcFailed();
    });
  }

  function quickRetrying() {
    return !!s.lostAt && now() - s.lostAt < QUICK_RETRY_FOR_MS;
  }

  function onConnectionState(pc) {
    if (pc !== s.pc || !s.active) return;
    var state = pc.connectionState;
    if (state === "connected") {
      clearTimeout(s.graceTimer);
      setText("connection-status", t("conn_connected"));
    } else if (state === "disconnected") {
      setText("connection-status", t("conn_interrupted"), true);
      clearTimeout(s.graceTimer);
      s.graceTimer = setTimeout(function () {
        if (s.pc === pc && pc.connectionState !== "connected") rtcFailed();
      }, DISCONNECTED_GRACE_MS);
    } else if (state === "failed" || state === "closed") {
      rtcFailed();
    }
  }

  function rtcUp() {
    clearTimeout(s.connectTimer);
    s.rtcUp = true;
    s.upAt = now();
    s.lostAt = 0;
    s.pingAt = now();
    s.climbDelay = CLIMB_FIRST_MS;
    s.offline = false;
    s.badChecks = s.goodChecks = 0;
    if (s.level >= 2) setLevel(0);
    if (s.stream) applyQuality();
    showMode();
    flushFixes(true);
    flushOutbox(true);
    sendStatus(true);
  }

  // The connection failed, timed out, or never started: try again at once a couple of times, then
  // step down the ladder and try to climb back now and then.
  function rtcFailed() {
    var wasUp = s.rtcUp;
    clearTimeout(s.connectTimer);
    clearTimeout(s.graceTimer);
    s.rtcUp = false;
    closePeer();
    if (!s.active || s.ending) return;
    showMode();
    if (!wasUp && s.lostAt && now() - s.lostAt < QUICK_RETRY_FOR_MS && !s.rtcBroken) {
      // The gateway was there a moment ago (a restart, a brief outage): keep trying every second
      // so the video is back as soon as it answers; stepping down would wait 15 s or more.
      setText("connection-status", t("conn_lost"), true);
      s.climbAt = now() + QUICK_RETRY_MS;
      setTimeout(function () { if (s.active && !s.rtcUp && !s.pc && now() >= s.climbAt) connect(); }, QUICK_RETRY_MS);
      return;
    }
    if (wasUp) {
      // It was working: a new connection straight away usually is all it takes, unless it keeps
      // flapping (three short-lived connections in two minutes). A connection that had held for a
      // while and then dropped says nothing about this network: the gateway node serving it may
      // have gone, and another one is a reconnection away.
      var t0 = now();
      s.drops = s.drops.filter(function (d) { return t0 - d < 120000; });
      if (t0 - (s.upAt || 0) < FLAP_MS) s.drops.push(t0);
      if (!s.rtcBroken && s.drops.length < 3) {
        s.lostAt = t0;
        setText("connection-status", t("conn_lost"), true);
        s.climbAt = t0;
        setTimeout(function () { if (s.active && !s.rtcUp && !s.pc) connect(); }, 0);
        return;
      }
    }
    if (s.level < 2) stepDown();
    else {
      s.climbAt = now() + s.climbDelay;
      s.climbDelay = Math.min(s.climbDelay * 2, CLIMB_MAX_MS);
    }
    sendStatus(true);
  }

  // Drop the connection and make a new one at the next tick (a new camera track, a new network).
  function reconnectNow() {
    clearTimeout(s.connectTimer);
    clearTimeout(s.graceTimer);
    closePeer();
    s.climbAt = 0;
    showMode();
  }

  function closePeer() {
    var pc = s.pc;
    s.pc = null;
    s.channel = null;
    s.sender = null;
    s.rtcUp = false;
    if (pc) { try { pc.close(); } catch (e) { /* already closed */ } }
  }

  // Reduce or restore what the camera sends, from the connection's own statistics. Loss is
  // counted over the whole check (packets lost against packets sent since the last one), not one
  // receiver report's fraction, which swings widely at a few dozen packets a second. Random loss
  // of a few per cent is repaired by retransmission and keyframes; what calls for less video is
  // heavy loss, a long round trip (a queue building up) or a low bandwidth estimate. "Good" is
  // judged against this level's own cap: at the lower level the sender is capped at 250 kbit/s,
  // so the estimate cannot reach what full quality would need.
  function checkQuality() {
    var pc = s.pc;
    if (!pc || !s.rtcUp || typeof pc.getStats !== "function") return;
    pc.getStats().then(function (stats) {
      var bad = false, good = true, rtt = null, lost = null, sent = null;
      stats.forEach(function (r) {
        if (r.type === "remote-inbound-rtp" && r.kind === "video") {
          if (typeof r.packetsLost === "number") lost = r.packetsLost;
          if (typeof r.roundTripTime === "number" && r.roundTripTime > 0) rtt = r.roundTripTime;
        }
        if (r.type === "outbound-rtp" && r.kind === "video" && typeof r.packetsSent === "number") sent = r.packetsSent;
        if (r.type === "candidate-pair" && r.nominated && r.state === "succeeded") {
          if (typeof r.currentRoundTripTime === "number" && rtt === null) rtt = r.currentRoundTripTime;
          if (typeof r.availableOutgoingBitrate === "number") {
            var cap = s.level === 1 ? BITRATE_LOW : BITRATE_FULL;
            if (r.availableOutgoingBitrate < 150000) bad = true;
            if (r.availableOutgoingBitrate < 0.9 * cap) good = false;
          }
        }
      });
      if (rtt !== null) s.mediaRtt = Math.round(rtt * 1000);
      if (!s.stream || lost === null || sent === null) return;
      var prev = s.counted, loss = null;
      s.counted = { pc: pc, lost: lost, sent: sent };
      if (prev && prev.pc === pc && sent - prev.sent >= 20) loss = Math.max(0, lost - prev.lost) / (sent - prev.sent);
      if (loss !== null && loss > 0.15) bad = true;
      if (loss === null || loss > 0.1) good = false;
      if (rtt !== null && rtt > 1.5) bad = true;
      if (rtt === null || rtt > 0.6) good = false;
      if (bad) { s.badChecks += 1; s.goodChecks = 0; } else if (good) { s.goodChecks += 1; s.badChecks = 0; }
      else { s.goodChecks = 0; s.badChecks = 0; }
      if (s.level === 0 && s.badChecks >= 2) { setLevel(1); applyQuality(); }
      else if (s.level === 1 && s.goodChecks >= 5) { setLevel(0); applyQuality(); }
    }).catch(function () { /* no statistics: keep the level */ });
  }

  function applyQuality() {
    var track = s.stream && s.stream.getVideoTracks()[0];
    if (track && track.applyConstraints) track.applyConstraints(s.level === 1 ? VIDEO_LOW : VIDEO).catch(function () {});
    var sender = s.sender;
    if (sender && sender.getParameters && sender.setParameters) {
      try {
        var params = sender.getParameters();
        if (params.encodings && params.encodings.length) {
          params.encodings[0].maxBitrate = s.level === 1 ? BITRATE_LOW : BITRATE_FULL;
          sender.setParameters(params).catch(function () {});
        }
      } catch (e) { /* the browser keeps its own limits */ }
    }
  }

  // --- the data channel ------------------------------------------------------------------------

  function openChannel(pc, channel) {
    s.channel = channel;
    channel.onopen = function () { if (s.pc === pc) rtcUp(); };
    channel.onmessage = function (ev) {
      if (s.pc !== pc) return;
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (!msg || typeof msg !== "object") return;
      switch (msg.type) {
        case "ack":
        case "rejected": settleFix(msg); break;
        case "ping": answerPing(channel, msg); break;
        case "instruction": showInstruction(msg); break;
        case "noted":
        case "refused": settleOutbox(msg.ref); break;
        case "camera": switchCamera(msg.facing); break;
        case "torch": setTorch(!!msg.on); break;
        case "end":
          if (msg.final === false) rtcFailed();  // this connection ended, the link did not
          else if (!s.ending) ended(t("ended_by_room"));
          break;
        default: break;
      }
    };
  }

  // The gateway's pings, on whichever channel they came: the main one, or the unordered one with
  // no retransmissions that this page opens for them (a ping lost on a lossy link is not then held
  // up behind its retransmission, and the next arrives on time).
  function answerPing(channel, msg) {
    s.pingAt = now();
    // With the media path's own round trip (RTCP / ICE), which the gateway prefers.
    try { channel.send(JSON.stringify({ type: "pong", t: msg.t, rtt_ms: s.mediaRtt })); } catch (e) { /* closing */ }
  }

  function openPulse(pc, channel) {
    channel.onmessage = function (ev) {
      if (s.pc !== pc) return;
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg && msg.type === "ping") answerPing(channel, msg);
    };
  }

  function channelOpen() {
    return s.channel && s.channel.readyState === "open";
  }

  function sendOnChannel(message) {
    if (!channelOpen()) return false;
    try { s.channel.send(JSON.stringify(message)); return true; } catch (e) { return false; }
  }

  // --- fixes: numbered, kept until acknowledged, sent by whichever way works -------------------

  function nextSeq() {
    var stored = store.get("seq", null);
    if (typeof stored === "number" && stored > s.seq) s.seq = stored;
    if (s.seq === 0 && stored === null && !store.set("seq", 0)) {
      // No storage at all: start from the clock so a reload never reuses a number.
      s.seq = Math.floor(now() / 1000) - 1700000000;
    }
    s.seq += 1;
    store.set("seq", s.seq);
    return s.seq;
  }

  function num(v) {
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  function onPosition(pos) {
    var c = pos.coords;
    if (s.perm.geolocation !== "granted") { s.perm.geolocation = "granted"; hideNotice("location"); sendStatus(true); }
    var fix = {
      type: "fix",
      seq: nextSeq(),
      latitude: c.latitude,
      longitude: c.longitude,
      accuracy: num(c.accuracy),
      altitude: num(c.altitude),
      altitude_accuracy: num(c.altitudeAccuracy),
      heading: num(c.heading),
      speed: num(c.speed),
      timestamp: Math.round(pos.timestamp || now())
    };
    s.lastFix = fix;
    s.pending.push({ seq: fix.seq, msg: fix, sentAt: 0, addedAt: now() });
    if (s.pending.length > MAX_PENDING) s.pending.splice(0, s.pending.length - MAX_PENDING);
    savePending();
    setText("location-status", t("loc_sending", { m: Math.round(fix.accuracy || 0) }));
    flushFixes(false);
  }

  function savePending() {
    store.set("fixes", s.pending.map(function (p) { return p.msg; }));
    store.set("touched", now());
  }

  function settleFix(msg) {
    var before = s.pending.length;
    s.pending = s.pending.filter(function (p) { return p.seq !== msg.seq; });
    if (s.pending.length !== before) savePending();
    if (msg.type === "ack") showFixShared();
    else setText("location-status", t("loc_unavailable"), true);
  }

  function showFixShared() {
    var f = s.lastFix;
    if (!f || s.pending.length) return;
    var when = new Date(f.timestamp);
    var time = ("0" + when.getHours()).slice(-2) + ":" + ("0" + when.getMinutes()).slice(-2) + ":" + ("0" + when.getSeconds()).slice(-2);
    setText("location-status", t("loc_shared", { m: Math.round(f.accuracy || 0), time: time }));
  }

  // Over the data channel when it is open; otherwise (or when acknowledgements are slow) in
  // batches over HTTPS. The gateway stores each fix once, whichever way it came.
  function flushFixes(all) {
    if (!s.active || !s.pending.length) return;
    var t0 = now();
    if (channelOpen()) {
      for (var i = 0; i < s.pending.length; i++) {
        var p = s.pending[i];
        if (all || p.sentAt === 0 || t0 - p.sentAt > RESEND_AFTER_MS) {
          if (!sendOnChannel(p.msg)) break;
          p.sentAt = t0;
        }
      }
      if (t0 - s.pending[0].sentAt < 3 * RESEND_AFTER_MS) return;
    }
    // Over HTTPS once down the ladder, or for fixes that have waited: while the first connection
    // is being made they would only open a needless HTTPS session.
    if (s.level < 2 && t0 - s.pending[0].addedAt < 10000) return;
    if (s.httpsBusy || t0 - s.httpsAt < (s.offline ? 5000 : 1500)) return;
    s.httpsBusy = true;
    s.httpsAt = t0;
    var batch = s.pending.slice(0, HTTPS_BATCH).map(function (p) { return p.msg; });
    post("/fixes", { fixes: batch }, undefined, 10000).then(function (data) {
      s.httpsBusy = false;
      (data.results || []).forEach(settleFix);
      if (s.pending.length) flushFixes(false);
    }, function (err) {
      s.httpsBusy = false;
      httpsFailed(err);
      showMode();
    });
  }

  function onPositionError(err) {
    if (err.code === 1) {
      s.perm.geolocation = "denied";
      setText("location-status", t("loc_denied"), true);
      if (s.perm.camera === "denied") {
        fail(t("both_denied"), t("help_camera_" + BROWSER.family) + " " + t("help_location_" + BROWSER.family));
        return;
      }
      showNotice();
      showMode();
      sendStatus(true);
    } else if (err.code === 2) {
      setText("location-status", t("loc_unavailable"), true);
    }
    // code 3 (timeout): watchPosition keeps trying by itself.
  }

  function startLocation() {
    if (!navigator.geolocation) {
      s.perm.geolocation = "unsupported";
      setText("location-status", t("loc_none"), true);
      return;
    }
    if (s.watchId !== null) navigator.geolocation.clearWatch(s.watchId);
    s.watchId = navigator.geolocation.watchPosition(onPosition, onPositionError, {
      enableHighAccuracy: true, maximumAge: 0, timeout: 30000
    });
  }

  // --- the camera --------------------------------------------------------------------------------

  function getCamera(facing) {
    // Never on a location-only link, whatever asks (a handler's "switch camera" included).
    if (LOCATION_ONLY) return Promise.reject(new Error("location-only link"));
    var video = {};
    Object.keys(s.level === 1 ? VIDEO_LOW : VIDEO).forEach(function (k) { video[k] = (s.level === 1 ? VIDEO_LOW : VIDEO)[k]; });
    video.facingMode = { ideal: facing };
    return navigator.mediaDevices.getUserMedia({ video: video, audio: false }).catch(function (err) {
      if (err && err.name === "OverconstrainedError") return navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      throw err;
    });
  }

  function cameraProblem(err) {
    var name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") return "denied";
    if (name === "NotFoundError" || name === "DevicesNotFoundError") return "camera_none";
    if (name === "NotReadableError" || name === "TrackStartError") return "camera_busy";
    return "camera_busy";
  }

  function useStream(stream) {
    s.stream = stream;
    s.perm.camera = "granted";
    var preview = $("preview");
    preview.muted = true;
    preview.srcObject = stream;
    var played = preview.play();
    if (played && played.catch) played.catch(function () {});
    var track = stream.getVideoTracks()[0];
    var settings = track && track.getSettings ? track.getSettings() : {};
    if (settings.facingMode) s.facing = settings.facingMode;
    s.cameraMuted = !!(track && track.muted);
    if (track) {
      // The phone can take the camera away (a call, another app, a driver fault): tell the caller,
      // tell the handler (mode), and try to get it back.
      track.addEventListener("ended", function () { if (s.stream === stream) cameraStopped(); });
      track.addEventListener("mute", function () { if (s.stream === stream) { s.cameraMuted = true; showMode(); sendStatus(true); } });
      track.addEventListener("unmute", function () { if (s.stream === stream) { s.cameraMuted = false; showMode(); sendStatus(true); } });
    }
    countCameras();
    s.torch = false;
    $("torch").hidden = !torchSupported();
    showTorch();
  }

  // "Switch camera" only with two cameras or more (most laptops and some phones have one).
  function countCameras() {
    var md = navigator.mediaDevices;
    if (!md || typeof md.enumerateDevices !== "function") { showSwitch(); return; }
    md.enumerateDevices().then(function (devices) {
      s.cameras = devices.filter(function (d) { return d.kind === "videoinput"; }).length;
      showSwitch();
      sendStatus(true);
    }, function () { showSwitch(); });
  }

  function showSwitch() {
    $("switch-camera").hidden = !s.stream || s.cameras !== null && s.cameras < 2;
  }

  function cameraStopped() {
    var old = s.stream;
    s.stream = null;
    s.cameraMuted = false;
    if (old) old.getTracks().forEach(function (tr) { tr.stop(); });
    $("preview").srcObject = null;
    s.cameraProblem = "camera_stopped";
    $("camera-controls").hidden = true;
    showPreview();
    showNotice();
    showMode();
    sendStatus(true);
    restartCamera(0);
  }

  // Try to get the camera back a few times; without it, a new connection carries location alone
  // so the handler sees the truth rather than a frozen picture.
  function restartCamera(attempt) {
    if (!s.active || s.stream) return;
    getCamera(s.facing).then(function (stream) {
      if (!s.active) { stream.getTracks().forEach(function (tr) { tr.stop(); }); return; }
      useStream(stream);
      s.cameraProblem = null;
      $("camera-controls").hidden = false;
      showPreview();
      showNotice();
      if (s.level === 3) setLevel(2);
      var track = stream.getVideoTracks()[0];
      if (s.sender && s.sender.replaceTrack && s.rtcUp) {
        s.sender.replaceTrack(track).catch(function () { reconnectNow(); });
      } else {
        reconnectNow();
      }
      showMode();
      sendStatus(true);
    }, function () {
      if (!s.active) return;
      // Meanwhile: location only, honestly. A connection that carries the stopped camera, up or
      // still being made, is replaced by one without it (one being made would otherwise come up
      // with a dead track, and the handler would wait for video until the silence timeout).
      if (attempt === 0 && s.sender) reconnectNow();
      if (attempt < 3) setTimeout(function () { restartCamera(attempt + 1); }, 2000 * (attempt + 1));
    });
  }

  // The camera's box is shown only when there is a camera picture to show.
  function showPreview() {
    var wrap = document.querySelector(".preview-wrap");
    if (wrap) wrap.hidden = !s.stream;
  }

  function switchCamera(facing) {
    if (!s.stream || !s.active) return;
    var want = facing === "user" || facing === "environment" ? facing : (s.facing === "user" ? "environment" : "user");
    var old = s.stream;
    var oldTrack = old.getVideoTracks()[0];
    var oldDevice = oldTrack && oldTrack.getSettings ? oldTrack.getSettings().deviceId : null;
    var oldFacing = s.facing;
    // Many phones cannot open two cameras at once: let go of the one in use first.
    old.getTracks().forEach(function (tr) { tr.stop(); });
    getCamera(want).then(function (stream) {
      var track = stream.getVideoTracks()[0];
      var device = track && track.getSettings ? track.getSettings().deviceId : null;
      // The facing the handler sees is the camera's real one: the browser's word when it gives
      // it; otherwise the wish only if another camera did open.
      s.facing = device && device === oldDevice ? oldFacing : want;
      useStream(stream);
      var track = stream.getVideoTracks()[0];
      if (s.sender && s.sender.replaceTrack) return s.sender.replaceTrack(track);
      return null;
    }).catch(function () {
      return getCamera(s.facing).then(useStream).then(function () {
        if (s.sender && s.sender.replaceTrack) return s.sender.replaceTrack(s.stream.getVideoTracks()[0]);
        return null;
      });
    }).catch(function () { /* no camera now: stills and video pause, location goes on */ }).then(function () { sendStatus(true); });
  }

  function torchSupported() {
    var track = s.stream && s.stream.getVideoTracks()[0];
    if (!track || typeof track.getCapabilities !== "function") return false;
    try { return !!track.getCapabilities().torch; } catch (e) { return false; }
  }

  function setTorch(on) {
    var track = s.stream && s.stream.getVideoTracks()[0];
    if (!track || !torchSupported()) { sendStatus(true); return; }
    track.applyConstraints({ advanced: [{ torch: on }] }).then(function () {
      s.torch = on;
      showTorch();
      sendStatus(true);
    }).catch(function () { sendStatus(true); });
  }

  function showTorch() {
    var button = $("torch");
    button.textContent = t(s.torch ? "torch_off" : "torch_on");
    button.setAttribute("aria-pressed", s.torch ? "true" : "false");
  }

  // --- still photos over HTTPS -----------------------------------------------------------------

  function sendStill() {
    var video = $("preview");
    if (s.stillBusy || !s.stream || !video.videoWidth) return;
    var scale = Math.min(1, 640 / video.videoWidth);
    var canvas = document.createElement("canvas");
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    s.stillBusy = true;
    canvas.toBlob(function (blob) {
      if (!blob) { s.stillBusy = false; return; }
      var started = now();
      post("/stills", blob, "image/jpeg", 15000).then(function () {
        s.stillBusy = false;
        if (now() - started > STILL_SLOW_MS) stillTrouble();
        else { s.stillFailures = 0; if (s.level === 3 && s.stream) setLevel(2); }
      }, function (err) {
        s.stillBusy = false;
        httpsFailed(err);
        if (!(err instanceof HttpError && err.status === 429)) stillTrouble();
      });
    }, "image/jpeg", s.level === 3 ? 0.4 : 0.6);
  }

  // Photos do not get through (or only slowly): location alone, and a probe photo now and then.
  function stillTrouble() {
    s.stillFailures += 1;
    if (s.level === 2 && s.stillFailures >= 2) setLevel(3);
  }

  // --- what the handler sees of the phone ------------------------------------------------------

  function sendStatus(changed) {
    if (!s.active) return;
    var c = navigator.connection || {};
    var track = s.stream && s.stream.getVideoTracks()[0];
    var settings = track && track.getSettings ? track.getSettings() : {};
    var status = {
      type: "status",
      mode: mode(),
      transport: s.rtcUp ? "webrtc" : (s.level >= 2 && !s.offline ? "https" : "none"),
      browser: { name: BROWSER.name, version: BROWSER.version, os: BROWSER.os, in_app: root.dataset.inapp || null, live_view: LIVE_VIEW },
      permissions: { camera: s.perm.camera, geolocation: s.perm.geolocation },
      network: {
        online: navigator.onLine !== false && !s.offline, type: c.type || null, effective_type: c.effectiveType || null,
        downlink_mbps: num(c.downlink), rtt_ms: num(c.rtt), save_data: typeof c.saveData === "boolean" ? c.saveData : null,
        media_rtt_ms: s.rtcUp ? num(s.mediaRtt) : null
      },
      camera: {
        facing: s.stream ? s.facing : null, torch: s.stream ? s.torch : null, torch_supported: torchSupported(),
        state: s.stream ? (s.cameraMuted ? "muted" : "live") : (s.cameraProblem === "camera_stopped" ? "ended" : null),
        cameras: num(s.cameras),
        width: num(settings.width), height: num(settings.height), frame_rate: num(settings.frameRate)
      },
      language: T.lang || "en",
      discreet: s.discreet,
      pending_fixes: s.pending.length
    };
    if (s.battery) status.battery = { level: num(s.battery.level), charging: !!s.battery.charging };
    var key = [status.mode, status.transport, status.permissions.camera, status.permissions.geolocation, status.language,
      status.discreet, status.camera.facing, status.camera.torch, status.camera.state, s.pending.length > 3].join("|");
    if (!changed && key === s.statusKey && now() - s.statusAt < STATUS_EVERY_MS) return;
    if (sendOnChannel(status)) { s.statusKey = key; s.statusAt = now(); return; }
    if (now() - s.statusAt < 3000 && key === s.statusKey) return;
    s.statusKey = key;
    s.statusAt = now();
    post("/status", status, undefined, 10000).catch(httpsFailed);
  }

  function watchDevice() {
    if (navigator.getBattery) {
      navigator.getBattery().then(function (b) {
        s.battery = b;
        b.addEventListener("levelchange", function () { sendStatus(false); });
        b.addEventListener("chargingchange", function () { sendStatus(true); });
      }, function () {});
    }
    if (navigator.permissions && navigator.permissions.query) {
      ["camera", "geolocation"].forEach(function (name) {
        navigator.permissions.query({ name: name }).then(function (p) {
          if (s.perm[name] === "unknown") s.perm[name] = p.state;
          p.onchange = function () {
            s.perm[name] = p.state;
            sendStatus(true);
            if (p.state === "granted" && name === "geolocation" && s.active) { hideNotice("location"); startLocation(); }
          };
        }, function () {});
      });
    }
    var c = navigator.connection;
    var lastType = c && c.type;
    if (c && c.addEventListener) {
      c.addEventListener("change", function () {
        // A new network (Wi-Fi to mobile): the old path is gone, make a new connection now.
        if (c.type && lastType && c.type !== lastType && s.active && !s.rtcBroken) reconnectNow();
        lastType = c.type;
        sendStatus(false);
      });
    }
    window.addEventListener("online", function () {
      s.offline = false;
      if (!s.active) return;
      if (!s.rtcUp) s.climbAt = 0;
      flushFixes(true);
      flushOutbox(true);
      showMode();
      sendStatus(true);
    });
    window.addEventListener("offline", function () {
      if (s.active) { showMode(); sendStatus(true); }
    });
  }

  // --- talking without a voice -----------------------------------------------------------------

  function showInstruction(msg) {
    if (!msg || !msg.id) return;
    if (s.shown && s.shown.id !== msg.id && s.shown.sent_at && msg.sent_at && msg.sent_at < s.shown.sent_at) {
      markSeen(msg.id);  // an older one arriving late: the newer stays on screen
      return;
    }
    s.shown = msg;
    var text = msg.phrase && T.phrases && T.phrases[msg.phrase] ? T.phrases[msg.phrase] : msg.text;
    $("instruction-text").textContent = text;
    $("instruction").dataset.id = msg.id;
    $("answers").hidden = !msg.ask;
    $("instruction").hidden = false;
    if (!s.discreet && navigator.vibrate) { try { navigator.vibrate(200); } catch (e) { /* no vibration */ } }
    markSeen(msg.id);
  }

  function markSeen(id) {
    if (s.seenIds[id]) return;
    s.seenIds[id] = true;
    var ref = "seen-" + id;
    if (!s.outbox.some(function (o) { return o.ref === ref; })) queue({ type: "seen", id: id }, ref);
  }

  function answer(value) {
    var about = s.shown ? s.shown.id : null;
    reply({ answer: value, in_reply_to: about });
    $("answers").hidden = true;
  }

  function reply(body) {
    body.type = "reply";
    body.ref = "r" + now().toString(36) + Math.floor(Math.random() * 1e6).toString(36);
    queue(body, body.ref);
    setText("reply-status", channelOpen() || navigator.onLine !== false ? "" : t("reply_waiting"));
  }

  // Replies and "seen" wait in an outbox (kept on the phone) until the gateway confirms them.
  function queue(body, ref) {
    s.outbox.push({ ref: ref, body: body, sentAt: 0 });
    store.set("outbox", s.outbox.map(function (o) { return { ref: o.ref, body: o.body }; }));
    flushOutbox(false);
  }

  function settleOutbox(ref) {
    if (ref && ref.charAt(0) === "r") setText("reply-status", t("reply_sent"));
    s.outbox = s.outbox.filter(function (o) { return o.ref !== ref; });
    store.set("outbox", s.outbox.map(function (o) { return { ref: o.ref, body: o.body }; }));
  }

  function flushOutbox(all) {
    if (!s.active) return;
    s.outbox.slice().forEach(function (o) {
      if (!all && o.sentAt && now() - o.sentAt < RESEND_AFTER_MS) return;
      o.sentAt = now();
      if (o.body.type === "seen" && sendOnChannel(o.body)) { settleOutbox(o.ref); return; }
      if (o.body.type === "reply" && sendOnChannel(o.body)) return;  // settled by "noted"
      post("/messages", o.body, undefined, 10000).then(function () { settleOutbox(o.ref); }, function (err) {
        if (err instanceof HttpError && err.status === 400) settleOutbox(o.ref);  // will never be taken
        else httpsFailed(err);
      });
    });
  }

  // Over HTTPS: instructions missed while the data channel was down, and the camera wishes.
  function poll() {
    s.polledAt = now();
    request("GET", "/messages", undefined, undefined, 10000).then(function (data) {
      var messages = data.messages || [];
      messages.forEach(function (m) {
        if (!m.seen && s.seenIds[m.id]) { s.seenIds[m.id] = false; markSeen(m.id); }
      });
      var unseen = messages.filter(function (m) { return !m.seen && !s.seenIds[m.id]; });
      if (unseen.length) {
        unseen.slice(0, -1).forEach(function (m) { markSeen(m.id); });
        showInstruction(unseen[unseen.length - 1]);
      } else if (!s.shown && messages.length) {
        showInstruction(messages[messages.length - 1]);  // after a reload: the last one again
      }
      var c = data.control;
      if (c && c.version > s.controlVersion) {
        s.controlVersion = c.version;
        if (c.facing && c.facing !== s.facing) switchCamera(c.facing);
        if (typeof c.torch === "boolean" && c.torch !== s.torch) setTorch(c.torch);
      }
    }, httpsFailed);
  }

  function setDiscreet(on) {
    s.discreet = on;
    var cover = $("cover");
    var box = $("instruction");
    if (on) { $("cover-slot").appendChild(box); }
    else { $("screen-sharing").insertBefore(box, $("screen-sharing").querySelector(".preview-wrap")); }
    cover.hidden = !on;
    if (on) $("uncover").focus();
    else $("discreet").focus();
    sendStatus(true);
  }

  // --- permissions refused: what the caller can do about it ------------------------------------

  var notice = null;  // "camera" or "location"
  function showNotice() {
    var which = s.cameraProblem ? "camera" : s.perm.geolocation === "denied" ? "location" : null;
    notice = which;
    $("notice").hidden = !which;
    if (!which) return;
    var denied = which === "location" || s.cameraProblem === "denied";
    $("notice-text").textContent = t(which === "location" ? "location_denied" : denied ? "camera_denied" : s.cameraProblem);
    if (s.cameraProblem === "camera_stopped") $("notice-help").textContent = "";
    $("notice-help").textContent = denied ? t("help_" + which + "_" + BROWSER.family) : "";
    $("notice-retry").textContent = t(which === "camera" ? "retry_camera" : "retry_location");
  }

  function hideNotice(which) {
    if (notice === which) { notice = null; showNotice(); }
  }

  function retryPermission() {
    if (notice === "location") { startLocation(); return; }
    if (notice === "camera") {
      getCamera(s.facing).then(function (stream) {
        useStream(stream);
        s.cameraProblem = null;
        showNotice();
        showPreview();
        $("camera-controls").hidden = false;
        // A new track needs a new offer: aiortc cannot renegotiate, so make a new connection.
        if (s.level === 3) setLevel(2);
        reconnectNow();
        sendStatus(true);
      }, function (err) {
        s.cameraProblem = cameraProblem(err);
        if (s.cameraProblem === "denied") s.perm.camera = "denied";
        showNotice();
      });
    }
  }

  // --- the clock -------------------------------------------------------------------------------

  var ticks = 0;
  function tick() {
    if (!s.active) return;
    ticks += 1;
    var t0 = now();
    flushFixes(false);
    flushOutbox(false);
    if (s.rtcUp && s.pingAt && t0 - s.pingAt > PING_SILENCE_MS) {
      // The gateway pings every second: silence means it (or the path to it) is gone, long before
      // ICE notices. A new connection is tried at once, then every second.
      rtcFailed();
    }
    if (!s.rtcUp && !s.pc && t0 >= s.climbAt) {
      s.climbAt = t0 + (s.level >= 2 ? s.climbDelay : 2000);
      connect();
    }
    if (s.level >= 2 && !s.rtcUp && s.stream && t0 - s.stillAt >= (s.level === 3 ? 30000 : STILL_EVERY_MS)) {
      s.stillAt = t0;
      sendStill();
    }
    if (t0 - s.polledAt >= (s.rtcUp ? POLL_CONNECTED_MS : POLL_FALLBACK_MS)) poll();
    if (ticks % 3 === 0) checkQuality();
    sendStatus(false);
  }

  // --- start and stop --------------------------------------------------------------------------

  function start() {
    if (s.active) return;
    if (!base) { fail(t("err_incomplete")); return; }
    if (window.isSecureContext === false) { fail(t("err_insecure")); return; }
    s.active = true;
    s.ending = false;
    s.level = 0;
    s.drops = [];
    s.rtcBroken = false;
    s.climbDelay = CLIMB_FIRST_MS;
    s.pending = (store.get("fixes", []) || []).map(function (m) { return { seq: m.seq, msg: m, sentAt: 0, addedAt: 0 }; });
    s.outbox = (store.get("outbox", []) || []).map(function (o) { return { ref: o.ref, body: o.body, sentAt: 0 }; });
    setText("connecting-step", t("step_asking"));
    show("connecting");
    // The language the consent screen was shown in: the record names the text the caller agreed to.
    post("/consent", { language: T.lang || "en" }).then(function (consent) {
      setIceServers(consent);
      store.set("sharing", true);
      store.set("touched", now());
      if (!s.active || LOCATION_ONLY) return null;
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        s.perm.camera = "unsupported";
        return null;
      }
      return getCamera("environment").then(useStream, function (err) {
        s.cameraProblem = cameraProblem(err);
        if (s.cameraProblem === "denied") s.perm.camera = "denied";
      });
    }).then(function () {
      if (!s.active) return;
      startLocation();
      $("camera-controls").hidden = !s.stream;
      showPreview();
      show("sharing");
      showNotice();
      showMode();
      keepScreenOn();
      s.climbAt = 0;
      s.polledAt = 0;
      s.ticker = setInterval(tick, 1000);
      tick();
    }, function (err) {
      if (linkUnusable(err)) fail(t("err_unusable"));
      else fail(err && err.message ? err.message : t("err_network"));
      if (LIVE_VIEW) setTimeout(start, 5000);  // nobody can tap "Try again" there
    });
  }

  function keepScreenOn() {
    if (navigator.wakeLock && navigator.wakeLock.request) {
      navigator.wakeLock.request("screen").then(function (lock) { s.wakeLock = lock; }, function () {});
    }
  }

  function cleanup() {
    s.active = false;
    s.ending = true;
    if (s.watchId !== null && navigator.geolocation) navigator.geolocation.clearWatch(s.watchId);
    s.watchId = null;
    clearInterval(s.ticker);
    clearTimeout(s.connectTimer);
    clearTimeout(s.graceTimer);
    s.ticker = null;
    closePeer();
    if (s.stream) s.stream.getTracks().forEach(function (tr) { tr.stop(); });
    s.stream = null;
    $("preview").srcObject = null;
    if (s.discreet) setDiscreet(false);
    if (s.wakeLock) { s.wakeLock.release().catch(function () {}); s.wakeLock = null; }
  }

  function stop() {
    $("stop").disabled = true;
    var wasActive = s.active;
    s.ending = true;
    // Stop the camera and location at once (the caller asked), but keep the connection open
    // until the gateway has recorded that the caller ended it, so it is not taken for a drop-out.
    if (s.stream) s.stream.getTracks().forEach(function (tr) { tr.stop(); });
    if (s.watchId !== null && navigator.geolocation) navigator.geolocation.clearWatch(s.watchId);
    s.watchId = null;
    var done = function () {
      $("stop").disabled = false;
      ended(t("ended_by_you"));
    };
    if (!wasActive) { done(); return; }
    post("/end", {}, undefined, 4000).then(done, done);
  }

  // --- the page opened in an app's own browser -------------------------------------------------

  function showInApp() {
    $("inapp-url").textContent = location.href;
    if (/Android/.test(UA)) {
      var open = $("open-browser");
      open.href = "intent://" + location.host + location.pathname + "#Intent;scheme=https;end";
      open.hidden = false;
    }
    show("inapp");
  }

  function copyLink() {
    var done = function () { $("copied").textContent = t("copied"); };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(location.href).then(done, function () { selectUrl(); });
    } else selectUrl();
  }

  function selectUrl() {
    var range = document.createRange();
    range.selectNodeContents($("inapp-url"));
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function init() {
    forgetOldCalls();
    applyStrings();
    $("start").addEventListener("click", start);
    $("retry").addEventListener("click", start);
    $("stop").addEventListener("click", stop);
    $("cancel").addEventListener("click", stop);
    $("switch-camera").addEventListener("click", function () { switchCamera(null); });
    $("torch").addEventListener("click", function () { setTorch(!s.torch); });
    $("discreet").addEventListener("click", function () { setDiscreet(true); });
    $("uncover").addEventListener("click", function () { setDiscreet(false); });
    $("notice-retry").addEventListener("click", retryPermission);
    $("yes").addEventListener("click", function () { answer("yes"); });
    $("no").addEventListener("click", function () { answer("no"); });
    $("lang").addEventListener("change", function () { loadLanguage($("lang").value); });
    $("copy-link").addEventListener("click", copyLink);
    $("try-here").addEventListener("click", function () { show("consent"); });
    $("reply-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = $("reply-text").value.replace(/\s+/g, " ").trim();
      if (!text) return;
      reply({ text: text.slice(0, 280), in_reply_to: s.shown ? s.shown.id : null });
      $("reply-text").value = "";
    });
    watchDevice();
    if (root.dataset.chosen !== "1") {
      var phone = phoneLanguage();
      if (phone !== T.lang) loadLanguage(phone);
    }
    if (LIVE_VIEW) {
      // Android's Emergency Location Service opens the link in a web view ("Live/" in the user
      // agent) where touch does not work: the caller agreed there, so start at once.
      document.body.classList.add("live-view");
      start();
    } else if (root.dataset.inapp) {
      showInApp();
    } else if (store.get("sharing", false)) {
      start();  // a reload (or a crash of the tab) while sharing: carry on without asking again
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
