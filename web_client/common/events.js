// A WebSocket to one of the gateway's live-event streams that reconnects by itself.
//
//   const feed = connectEvents("/api/events", {onEvent(ev) {...}, onOpen() {...}, onStatus(s) {...}});
//   feed.close();
//
// onOpen runs on every (re)connection: reload whatever state might have been missed meanwhile.
// onStatus gets "connecting", "open" or "closed" (for a small connection indicator).

export function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return scheme + "//" + location.host + path;
}

export function connectEvents(path, handlers) {
  const h = handlers || {};
  let ws = null;
  let closed = false;
  let delay = 500;
  let timer = null;

  function status(s) {
    if (h.onStatus) h.onStatus(s);
  }

  function open() {
    if (closed) return;
    status("connecting");
    ws = new WebSocket(wsUrl(path));
    ws.onopen = () => {
      delay = 500;
      status("open");
      if (h.onOpen) h.onOpen();
    };
    ws.onmessage = (msg) => {
      let ev;
      try {
        ev = JSON.parse(msg.data);
      } catch (err) {
        console.warn("ignoring a live event that is not JSON", msg.data);
        return;
      }
      try {
        if (h.onEvent) h.onEvent(ev);
      } catch (err) {
        console.error("live event handler failed", ev, err);
      }
    };
    ws.onclose = () => {
      ws = null;
      if (closed) return;
      status("closed");
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
    ws.onerror = () => {
      // onclose follows and schedules the reconnection.
    };
  }

  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      if (ws) ws.close();
      status("closed");
    },
  };
}
