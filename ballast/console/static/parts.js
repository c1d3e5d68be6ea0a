// Pieces several views show the same way: conditions as badges, the controller's decision, events, job phases.

import { age, clock } from "./format.js";
import { badge, cell, h } from "./dom.js";

// HPA's conditions: AbleToScale and ScalingActive are good when True; ScalingLimited is a warning when True. A table
// shows them short (Able, Active, Limited); the full condition is the badge's title and accessible name.
const SHORT = { AbleToScale: "Able", ScalingActive: "Active", ScalingLimited: "Limited" };

export function conditionBadges(conditions = [], { short = true, label } = {}) {
  if (!conditions.length) return h("span", { class: "muted", text: "—" });
  return h("span", { class: "badges" }, conditions.map((c) => {
    const on = c.status === "True";
    const limited = c.type === "ScalingLimited";
    const tone = limited ? (on ? "warn" : "neutral") : on ? "ok" : "bad";
    const symbol = limited ? (on ? "!" : "·") : on ? "✓" : "✕";
    const text = `${c.type}=${c.status}: ${c.reason}${c.message ? ` (${c.message})` : ""}`;
    const shown = label ?? (short ? SHORT[c.type] || c.type : c.type);
    return h("span", { class: `badge ${tone}`, title: text, "aria-label": text, "data-condition": c.type },
             h("span", { "aria-hidden": "true", text: `${symbol} ${shown}` }));
  }));
}

export function decision(status = {}) {
  if (!status.reason) return h("span", { class: "muted", text: "no decision yet" });
  return h("span", { class: "decision" }, h("strong", { text: status.reason }), " ",
           h("span", { class: "message", title: status.message || "", text: status.message || "" }));
}

export function eventType(type) {
  return badge(type, type === "Warning" ? "bad" : "neutral");
}

// Events in a row that say the same thing (a target that stays unreadable warns every tick) are shown once with their
// count, as kubectl shows "4x over 6s": [{event (the newest), count, oldest}], newest first.
export function collapse(events) {
  const groups = [];
  for (const event of events) {
    const last = groups[groups.length - 1];
    if (last && sameSaying(last.event, event)) {
      last.count += 1;
      last.oldest = event;
    } else {
      groups.push({ event, count: 1, oldest: event });
    }
  }
  return groups;
}

function sameSaying(a, b) {
  return a.type === b.type && a.reason === b.reason && a.message === b.message
    && a.involvedObject.kind === b.involvedObject.kind && a.involvedObject.name === b.involvedObject.name;
}

export function eventRow({ event, count = 1, oldest = event }, { showObject = true, fresh = false } = {}) {
  const object = `${event.involvedObject.kind}/${event.involvedObject.name}`;
  const href = event.involvedObject.kind === "Workload" ? `#/workloads/${encodeURIComponent(event.involvedObject.name)}` : "#/nodepools";
  const repeated = count > 1 ? badge(`×${count} over ${age(oldest.time, new Date(event.time))}`, "neutral",
                                     `${count} times since ${new Date(oldest.time).toLocaleString()}`) : null;
  return h("tr", { class: fresh ? "fresh" : null },
    cell(h("time", { datetime: event.time, title: new Date(event.time).toLocaleString(), text: age(event.time) })),
    cell(eventType(event.type)),
    cell([event.reason, repeated ? h("span", { class: "count" }, repeated) : null]),
    showObject ? cell(h("a", { href, "data-focus-key": `event:${object}:${event.time}`, text: object }), { class: "object" }) : null,
    cell(event.message, { title: event.message }));
}

export function eventKey(event) {
  return `${event.involvedObject.kind}/${event.involvedObject.name}#${event.time}#${event.reason}`;
}

const PHASE_TONES = { Queued: "info", Processing: "info", Done: "ok", Failed: "bad", Uploading: "info", Refused: "bad" };

export function phaseBadge(phase) {
  return badge(phase || "Unknown", PHASE_TONES[phase] || "neutral");
}

export function errorLine(error) {
  return `${error.message}${error.field && !error.message.includes(error.field) ? ` (field ${error.field})` : ""}`;
}

export function stamp(value) {
  return value ? h("time", { datetime: value, title: new Date(value).toLocaleString(), text: `${age(value)} ago` }) : "—";
}

export { clock };
