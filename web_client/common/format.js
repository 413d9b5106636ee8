// Small formatting helpers shared by the operator pages.

export function fmtTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (isNaN(d.getTime())) return String(iso);
  return d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function fmtAge(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
  if (!isFinite(seconds)) return "";
  if (seconds < 5) return "just now";
  if (seconds < 90) return seconds + " s ago";
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return minutes + " min ago";
  return Math.round(minutes / 60) + " h ago";
}

export function fmtNumber(value, digits) {
  return typeof value === "number" && isFinite(value) ? value.toFixed(digits) : "—";
}

export function fmtMetres(value) {
  return typeof value === "number" && isFinite(value) ? Math.round(value) + " m" : "—";
}

// document.createElement with attributes and children, so no HTML is ever built from strings.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}
