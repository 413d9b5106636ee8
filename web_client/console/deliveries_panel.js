// Deliveries to other systems (supervisors and admins): how many webhook deliveries are queued and
// how many gave up, each dead one with its error and a retry by hand (audited under the
// supervisor's name). Contract: docs/api.md, "Webhooks".

import { ApiError, get, post } from "/static/common/api.js";
import { fmtTime } from "/static/common/format.js";

const $ = (id) => document.getElementById(id);
const MAY_SEE = new Set(["supervisor", "admin"]);
const EVERY_MS = 10000;

function row(delivery) {
  const li = document.createElement("li");
  li.className = "delivery";
  li.dataset.deliveryId = delivery.delivery_id;
  const what = document.createElement("span");
  what.textContent = `${delivery.event_type} to ${delivery.endpoint}, ${delivery.attempts} attempt(s), ` +
    `first queued ${fmtTime(delivery.created_at)}`;
  const why = document.createElement("span");
  why.className = "muted";
  why.textContent = delivery.last_error ? ` (${delivery.last_error})` : "";
  const retry = document.createElement("button");
  retry.type = "button";
  retry.className = "btn btn-quiet";
  retry.textContent = "Retry";
  retry.addEventListener("click", async () => {
    retry.disabled = true;
    try {
      await post(`/api/webhooks/deliveries/${encodeURIComponent(delivery.delivery_id)}/retry`, {});
    } catch (err) {
      $("deliveries-error").textContent = err instanceof ApiError ? err.message : String(err);
      $("deliveries-error").hidden = false;
    }
    await refresh();
  });
  li.append(what, why, retry);
  return li;
}

async function refresh() {
  try {
    const [overview, dead] = await Promise.all([
      get("/api/webhooks"), get("/api/webhooks/deliveries?state=dead"),
    ]);
    const counts = overview.counts;
    $("deliveries-counts").textContent = overview.endpoints.length
      ? `${counts.pending} queued, ${counts.dead} gave up, ${counts.delivered} delivered`
      : "No receivers configured.";
    $("deliveries-dead").replaceChildren(...dead.deliveries.map(row));
    $("deliveries-panel").dataset.dead = String(counts.dead);
    $("deliveries-panel").classList.toggle("alert", counts.dead > 0);
  } catch (err) {
    $("deliveries-error").textContent = err instanceof ApiError ? err.message : String(err);
    $("deliveries-error").hidden = false;
  }
}

/** Show the panel to those who may see deliveries, and keep it current. */
export function init(role) {
  if (!MAY_SEE.has(role)) return;
  $("deliveries-panel").hidden = false;
  $("deliveries-refresh").addEventListener("click", () => {
    $("deliveries-error").hidden = true;
    refresh();
  });
  refresh();
  setInterval(refresh, EVERY_MS);
}
