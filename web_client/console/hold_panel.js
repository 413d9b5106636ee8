// Legal hold on the open incident (supervisors and admins): placed and lifted with a reason, both
// audited; while held, the retention purge leaves the incident whole. Contract: docs/api.md.

import { api } from "/static/common/api.js";
import { fmtTime } from "/static/common/format.js";

const $ = (id) => document.getElementById(id);
const MAY_HOLD = new Set(["supervisor", "admin"]);

let incidentId = null;
let held = null;

function render() {
  $("hold-state").textContent = held
    ? `Held since ${fmtTime(held.held_at)} by ${held.held_by}: ${held.reason}. The retention purge leaves this incident whole.`
    : "Not held. Its contents are purged at the end of their retention period.";
  $("hold-toggle").textContent = held ? "Lift legal hold" : "Place legal hold";
  $("hold-reason").value = "";
}

/** Show the panel for ``rec`` if ``role`` may place holds. */
export function load(rec, role) {
  $("hold-panel").hidden = !MAY_HOLD.has(role);
  incidentId = rec.id;
  held = rec.legal_hold || null;
  $("hold-error").hidden = true;
  render();
}

export function init() {
  $("hold-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const reason = $("hold-reason").value.trim();
    const error = $("hold-error");
    error.hidden = true;
    if (!reason) {
      error.textContent = "Give a reason: it goes into the audit log.";
      error.hidden = false;
      return;
    }
    const mine = incidentId;
    try {
      const answer = await api(held ? "DELETE" : "PUT", `/api/incidents/${encodeURIComponent(mine)}/hold`, { reason });
      if (mine !== incidentId) return;
      held = answer.legal_hold;
      render();
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
}
