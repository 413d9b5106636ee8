// WebRTC helpers shared by the operator pages (the caller page carries its own ES2017 copies).

// aiortc does not trickle ICE: the offer must carry every candidate. Resolve once gathering is
// complete, or after timeoutMs (in some networks it never completes; what is there is used).
export function waitForIceGatheringComplete(pc, timeoutMs = 3000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

// Put the codecs with this MIME type (e.g. "video/VP8") first on the transceiver, keeping the
// others (and RTX/FEC) as fall-backs. Does nothing where setCodecPreferences is missing.
export function preferCodec(transceiver, mimeType) {
  if (!transceiver || typeof transceiver.setCodecPreferences !== "function") return false;
  const caps = (window.RTCRtpReceiver && RTCRtpReceiver.getCapabilities)
    ? RTCRtpReceiver.getCapabilities("video")
    : null;
  if (!caps || !caps.codecs) return false;
  const wanted = mimeType.toLowerCase();
  const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === wanted);
  if (!first.length) return false;
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== wanted);
  try {
    transceiver.setCodecPreferences(first.concat(rest));
    return true;
  } catch (err) {
    console.warn("setCodecPreferences failed", err);
    return false;
  }
}
