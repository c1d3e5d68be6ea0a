// Events: the controller's decisions and warnings as a stream, newest first, filtered by object and type on the server.

import { api } from "./api.js";
import { h, table } from "./dom.js";
import { collapse, eventKey, eventRow } from "./parts.js";

const TYPES = ["", "Normal", "Warning"];

export function render(main, scope, { query }) {
  const filters = { object: query.get("object") || "", type: query.get("type") || "" };
  const seen = new Set(filters.object ? [filters.object] : []);
  const object = h("select", { id: "event-object" });
  const type = h("select", { id: "event-type" }, TYPES.map((t) => h("option", { value: t, text: t || "All types", selected: t === filters.type })));
  const count = h("p", { class: "muted", role: "status", "aria-live": "polite" });
  const stream = table("Events, newest first", ["Age", "Type", "Reason", "Object", "Message"], { empty: "No events match." });
  let known = null;

  const fillObjects = () => {
    const options = ["", ...[...seen].sort()];
    if (object.options.length === options.length) return;
    object.replaceChildren(...options.map((o) => h("option", { value: o, text: o || "All objects", selected: o === filters.object })));
  };
  const refresh = scope.poll(async () => {
    const list = await api.get("/events", { involvedObject: filters.object, type: filters.type, limit: "200" });
    for (const e of list.items) seen.add(`${e.involvedObject.kind}/${e.involvedObject.name}`);
    fillObjects();
    const keys = new Set(list.items.map(eventKey));
    // Rows that arrived since the last answer are marked for a moment; on the first answer nothing is new.
    stream.show(collapse(list.items).map((group) => eventRow(group, { fresh: known !== null && !known.has(eventKey(group.event)) })));
    known = keys;
    count.textContent = `${list.items.length} event${list.items.length === 1 ? "" : "s"}${list.items.length === 200 ? " (the newest 200)" : ""}`;
  }, undefined, (error) => stream.failed(error));
  const change = () => {
    filters.object = object.value;
    filters.type = type.value;
    known = null;
    const params = new URLSearchParams(Object.entries(filters).filter(([, v]) => v));
    history.replaceState(null, "", `#/events${params.size ? `?${params}` : ""}`);
    refresh();
  };
  object.addEventListener("change", change);
  type.addEventListener("change", change);
  fillObjects();

  main.append(
    h("header", { class: "page-head" },
      h("h1", { tabindex: "-1", text: "Events" }),
      h("p", { class: "lede", text: "Every scale decision with its reason, and every warning, as the controller recorded them." })),
    h("section", { class: "panel" },
      h("form", { class: "filters", "aria-label": "Filter events", onsubmit: (e) => e.preventDefault() },
        h("label", { for: "event-object", text: "Object" }), object,
        h("label", { for: "event-type", text: "Type" }), type,
        count),
      stream.element));
}
