// The administration page: list operators, API tokens and embed links, and revoke them. Every
// button is one POST to /api/admin/...; the gateway audits each action under the admin's name.
import { ApiError, get, logout, post, whoAmI } from "/static/common/api.js";

const $ = (id) => document.getElementById(id);

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text instanceof Node) td.append(text); else td.textContent = text == null ? "–" : String(text);
  return td;
}

function pill(text, kind) {
  const span = document.createElement("span");
  span.className = "pill" + (kind ? " pill-" + kind : "");
  span.textContent = text;
  return span;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" }) : "–";
}

function button(label, danger, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "btn " + (danger ? "btn-danger" : "btn-quiet");
  b.textContent = label;
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await onClick(); } catch (err) { notice(err instanceof ApiError ? err.message : String(err)); }
    finally { b.disabled = false; await refresh(); }
  });
  return b;
}

function notice(text) {
  const p = $("notice");
  p.textContent = text;
  p.hidden = !text;
}

function actionsCell(buttons) {
  const row = document.createElement("div");
  row.className = "row-actions";
  row.append(...buttons);
  return cell(row);
}

function rowsOrNone(rows, columns, what) {
  if (rows.length) return rows;
  const tr = document.createElement("tr");
  const td = cell(`No ${what}.`, "muted");
  td.colSpan = columns;
  tr.append(td);
  return [tr];
}

async function operatorAction(name, action, confirmText) {
  if (confirmText && !confirm(confirmText)) return;
  const done = await post(`/api/admin/operators/${encodeURIComponent(name)}/${action}`);
  if (done.one_time_password) {
    notice(`One-time password for ${name}: ${done.one_time_password} (shown once; it must be changed at sign-in).`);
  } else {
    notice(`${name}: ${action} done` + (done.sessions_ended ? `, ${done.sessions_ended} session(s) ended.` : "."));
  }
}

function renderOperators(operators, me) {
  $("operators").replaceChildren(...operators.map((o) => {
    const tr = document.createElement("tr");
    tr.dataset.username = o.username;
    const state = o.disabled_at ? pill("disabled", "off") : o.must_change_password ? pill("must change password", "warn") : pill("active");
    const buttons = [];
    if (o.username !== me) {
      buttons.push(o.disabled_at
        ? button("Enable", false, () => operatorAction(o.username, "enable"))
        : button("Disable", true, () => operatorAction(o.username, "disable", `Disable ${o.username} and sign them out?`)));
      buttons.push(button("Reset password", false, () => operatorAction(o.username, "reset-password", `Reset ${o.username}'s password?`)));
    }
    if (o.sessions) buttons.push(button("Sign out everywhere", false, () => operatorAction(o.username, "logout")));
    tr.append(cell(o.username), cell(o.role), cell(state), cell(o.sessions), actionsCell(buttons));
    return tr;
  }));
}

function renderTokens(tokens) {
  $("tokens").replaceChildren(...rowsOrNone(tokens.map((t) => {
    const tr = document.createElement("tr");
    tr.dataset.name = t.name;
    const state = t.active ? pill("active") : pill(t.revoked_at ? "revoked" : "expired", "off");
    const buttons = t.active ? [button("Revoke", true, async () => {
      if (!confirm(`Revoke the token ${t.name}? Clients using it stop at once.`)) return;
      await post(`/api/admin/tokens/${encodeURIComponent(t.name)}/revoke`);
      notice(`Token ${t.name} revoked.`);
    })] : [];
    tr.append(cell(t.name), cell(t.role), cell(when(t.created_at)), cell(t.expires_at ? when(t.expires_at) : "never"), cell(state), actionsCell(buttons));
    return tr;
  }), 6, "API tokens"));
}

function renderEmbeds(embeds) {
  $("embeds").replaceChildren(...rowsOrNone(embeds.map((e) => {
    const tr = document.createElement("tr");
    tr.dataset.id = e.id;
    const state = e.active ? pill("active") : pill(e.revoked_at ? "withdrawn" : "expired", "off");
    const buttons = e.active ? [button("Withdraw", true, async () => {
      await post(`/api/admin/embeds/${encodeURIComponent(e.id)}/revoke`);
      notice(`Embedded view ${e.id} withdrawn.`);
    })] : [];
    tr.append(cell(e.id, "mono"), cell(e.incident_id, "mono"), cell(e.created_by), cell(when(e.expires_at)), cell(state), actionsCell(buttons));
    return tr;
  }), 6, "embedded live views"));
}

let me = null;

async function refresh() {
  const [operators, tokens, embeds] = await Promise.all([
    get("/api/admin/operators"), get("/api/admin/tokens"), get("/api/admin/embeds"),
  ]);
  renderOperators(operators.operators, me);
  renderTokens(tokens.tokens);
  renderEmbeds(embeds.embeds);
}

async function start() {
  const who = await whoAmI();
  me = who.username;
  $("me").textContent = `${who.username} (${who.role})`;
  $("logout").addEventListener("click", logout);
  await refresh();
  document.body.dataset.ready = "1";
}

start().catch((err) => notice(err instanceof ApiError ? err.message : String(err)));
