// One workload: what it is asked to do, what the controller saw and decided and why, its last hour as a chart, its
// events, and the user's levers: hold it at N replicas or hand it back to the autoscaler, and edit its spec.

import { api } from "./api.js";
import { stepChart } from "./chart.js";
import { specEditor } from "./editor.js";
import { age, backlogOf, clock, metricSummaries, reference } from "./format.js";
import { badge, cell, h, table } from "./dom.js";
import { collapse, conditionBadges, errorLine, eventRow, stamp } from "./parts.js";

const DECISION_REASONS = ["SuccessfulRescale", "DryRun", "FailedRescale", "FailedGetScale"];
const SERIES_EVERY_MS = 5000; // the chart's samples change once a tick (seconds), its stats once a minute
// The controller keeps an hour of samples; a burst of a few minutes reads better in a narrower window.
const WINDOWS = [["5m", "last 5 minutes"], ["15m", "last 15 minutes"], ["1h", "last hour"]];
const DEFAULT_WINDOW = "15m";

export function render(main, scope, { name }) {
  const path = `/workloads/${encodeURIComponent(name)}`;
  const title = h("h1", { tabindex: "-1", text: name });
  const subtitle = h("p", { class: "lede" });
  const cards = h("div", { class: "cards" });
  const charts = h("div", { class: "charts" }, h("p", { class: "muted", text: "Loading…" }));
  const windowSelect = h("select", { id: "chart-window" }, WINDOWS.map(([value, label]) =>
    h("option", { value, text: label, selected: value === DEFAULT_WINDOW })));
  const decisionBox = h("div", { class: "decision-box" });
  const conditions = table(`Conditions of ${name}`, ["Type", "Status", "Reason", "Message", "Since"], { empty: "No conditions yet." });
  const decisions = table(`Scale decisions of ${name}`, ["When", "From → to", "Reason", "Message"], { empty: "No scale decision in the events kept." });
  const events = table(`Events of ${name}`, ["Age", "Type", "Reason", "Message"], { empty: "No events." });
  const memory = h("dl", { class: "facts" });
  const specFacts = h("dl", { class: "facts" });
  const levers = scaleLevers(path, () => refresh());
  const editor = specEditor({ path, label: `Manifest of workload ${name}`, onSaved: () => refresh() });
  const editorBox = h("div", { hidden: true }, editor.element);
  const editButton = h("button", { type: "button", "aria-expanded": "false", "aria-controls": "spec-yaml", text: "Edit spec (YAML)" });
  editButton.addEventListener("click", async () => {
    const opening = editorBox.hidden;
    editorBox.hidden = !opening;
    editButton.setAttribute("aria-expanded", String(opening));
    editButton.textContent = opening ? "Close editor" : "Edit spec (YAML)";
    if (opening) await editor.load().catch((error) => editor.textarea.replaceWith(h("p", { class: "error", text: errorLine(error) })));
  });
  const missing = h("p", { class: "notice bad", hidden: true });

  main.append(
    h("nav", { class: "crumbs", "aria-label": "Breadcrumb" }, h("a", { href: "#/workloads", text: "Workloads" }), " / ", name),
    h("header", { class: "page-head" }, title, subtitle),
    missing,
    h("section", { class: "panel levers", "aria-label": "Scaling" }, levers.element),
    cards,
    h("section", { class: "panel", "aria-labelledby": "chart-title" },
      h("div", { class: "panel-head" }, h("h2", { id: "chart-title", text: "Backlog, replicas and nodes" }),
        h("span", { class: "filters" }, h("label", { for: "chart-window", text: "Window" }), windowSelect)),
      charts),
    h("div", { class: "columns" },
      h("section", { class: "panel", "aria-labelledby": "decision-title" }, h("h2", { id: "decision-title", text: "Decision" }), decisionBox,
        h("h3", { text: "Conditions" }), conditions.element),
      h("section", { class: "panel", "aria-labelledby": "memory-title" }, h("h2", { id: "memory-title", text: "Controller memory" }), memory)),
    h("section", { class: "panel", "aria-labelledby": "history-title" }, h("h2", { id: "history-title", text: "Decision history" }), decisions.element),
    h("section", { class: "panel", "aria-labelledby": "events-title" },
      h("h2", { id: "events-title" }, "Events ", h("a", { class: "small", href: `#/events?object=${encodeURIComponent(`Workload/${name}`)}`, text: "all events of this workload" })),
      events.element),
    h("section", { class: "panel", "aria-labelledby": "spec-title" },
      h("div", { class: "panel-head" }, h("h2", { id: "spec-title", text: "Spec" }), editButton), specFacts, editorBox));

  const refresh = scope.poll(async () => {
    let item;
    try {
      item = await api.get(path);
    } catch (error) {
      if (error.code === 404) {
        missing.hidden = false;
        missing.textContent = `Workload ${name} does not exist (or no longer does) in this namespace.`;
      }
      throw error;
    }
    missing.hidden = true;
    const status = item.status || {};
    subtitle.textContent = `${reference(item.spec.target)} · queue ${item.spec.queue?.name || "none"} · created ${age(item.metadata.creationTimestamp)} ago`;
    levers.show(item);
    cards.replaceChildren(...summaryCards(item));
    decisionBox.replaceChildren(...decisionFacts(status));
    conditions.show((status.conditions || []).map((c) => h("tr", {},
      cell(c.type), cell(conditionBadges([c], { label: c.status })), cell(c.reason), cell(c.message || ""), cell(stamp(c.lastTransitionTime)))));
    memory.replaceChildren(...memoryFacts(status));
    specFacts.replaceChildren(...specList(item.spec));
  }, undefined, (error) => conditions.failed(error));
  scope.poll(async () => {
    const list = await api.get("/events", { involvedObject: `Workload/${name}`, limit: "100" });
    events.show(collapse(list.items).map((group) => eventRow(group, { showObject: false })));
    decisions.show(collapse(list.items.filter((e) => DECISION_REASONS.includes(e.reason))).map(({ event: e, count }) => h("tr", {},
      cell(stamp(e.time)), cell(e.data && "from" in e.data ? `${e.data.from} → ${e.data.to}` : "—", { numeric: true }),
      cell([e.data?.reason || e.reason, count > 1 ? h("span", { class: "count" }, badge(`×${count}`, "neutral")) : null]),
      cell(e.message, { title: e.message }))));
  }, undefined, (error) => { events.failed(error); decisions.failed(error); });
  const refreshCharts = scope.poll(async () => {
    const series = await api.get(`${path}/series`, { since: windowSelect.value });
    if (charts.matches(":hover")) return; // the user is reading a moment off the charts: redraw once they leave
    charts.replaceChildren(...seriesCharts(series, charts.clientWidth || 720));
  }, SERIES_EVERY_MS, (error) => charts.replaceChildren(h("p", { class: "muted", text: `Not loaded: ${error.message}` })));
  windowSelect.addEventListener("change", () => refreshCharts());
}

function scaleLevers(path, refresh) {
  const input = h("input", { id: "pause-replicas", type: "number", min: "0", step: "1", inputmode: "numeric", required: true, class: "narrow" });
  const state = h("p", { class: "lever-state", role: "status", "aria-live": "polite" });
  const resume = h("button", { type: "button", text: "Resume autoscaling", hidden: true });
  const message = h("p", { class: "field-message", role: "alert" });
  const form = h("form", { class: "inline-form" },
    h("label", { for: "pause-replicas", text: "Hold at" }), input, h("span", { text: "replicas" }),
    h("button", { type: "submit", text: "Pause autoscaling" }));
  const act = async (work, done) => {
    message.textContent = "";
    try {
      await work();
      message.className = "field-message ok";
      message.textContent = done;
      refresh();
    } catch (error) {
      message.className = "field-message error";
      message.textContent = `Refused: ${errorLine(error)}`;
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const replicas = Number(input.value);
    act(() => api.put(`${path}/scale`, { spec: { replicas } }), `Paused at ${replicas} replicas.`);
  });
  resume.addEventListener("click", () => act(() => api.patch(path, { spec: { replicas: null } }), "Autoscaling resumed."));
  return {
    element: h("div", { class: "levers-row" }, state, form, resume, message),
    show(item) {
      const paused = item.spec.replicas !== undefined && item.spec.replicas !== null;
      state.replaceChildren(paused ? badge(`Paused at ${item.spec.replicas} replicas`, "warn") : badge("Autoscaling", "ok"),
                            " ", paused ? "the controller holds this count until you resume." : `between ${item.spec.minReplicas ?? 1} and ${item.spec.maxReplicas} replicas.`);
      resume.hidden = !paused;
      if (!input.value && document.activeElement !== input) input.value = String(item.status?.desiredReplicas ?? item.spec.minReplicas ?? 0);
    },
  };
}

function summaryCards(item) {
  const status = item.status || {};
  const backlog = backlogOf(status);
  const card = (label, value, note) => h("div", { class: "card" }, h("span", { class: "card-label", text: label }),
                                           h("span", { class: "card-value", text: value }), note ? h("span", { class: "card-note", text: note }) : null);
  return [
    card("Desired", String(status.desiredReplicas ?? "—"), `min ${item.spec.minReplicas ?? 1}, max ${item.spec.maxReplicas}`),
    card("Running", String(status.currentReplicas ?? 0), `${status.readyReplicas ?? 0} ready, ${status.pendingReplicas ?? 0} pending`),
    card("Backlog", backlog === null ? "—" : String(backlog),
         status.backlog ? `${status.backlog.visible} visible, ${status.backlog.inFlight} in flight` : "queue not read yet"),
    card("Metrics", metricSummaries(item.spec, status).join(", ") || "<none>"),
    card("Last scale", status.lastScaleTime ? `${age(status.lastScaleTime)} ago` : "never", status.lastScaleTime ? clock(status.lastScaleTime) : null),
  ];
}

function decisionFacts(status) {
  if (!status.reason) return [h("p", { class: "muted", text: "The controller has not reconciled this workload yet." })];
  return [h("p", { class: "decision-reason" }, h("strong", { text: status.reason }), ": ", status.message || ""),
          status.metric ? h("p", { class: "muted", text: `Winning metric: ${status.metric}` }) : null,
          status.dryRun ? h("p", {}, badge("dry run", "warn"), " decisions are recorded, no scaling call is made") : null].filter(Boolean);
}

function memoryFacts(status) {
  const history = status.history || {};
  const fact = (term, value) => [h("dt", { text: term }), h("dd", {}, value)];
  const kept = history.recommendations || [];
  const recent = kept.length ? `${kept.slice(-8).map((r) => r.replicas).join(", ")} (${kept.length} kept, newest ${age(kept[kept.length - 1].at)} ago)` : "";
  return [
    fact("Recommendations (stabilisation window)", recent || "none"),
    fact("Scale-ups remembered", String((history.scale_up_events || []).length)),
    fact("Scale-downs remembered", String((history.scale_down_events || []).length)),
    fact("Throughput learned", history.throughput_per_s ? `${history.throughput_per_s.toFixed(2)} items/s per replica` : "not yet"),
    fact("Start-up measured", status.startupSeconds !== undefined && status.startupSeconds !== null ? `${status.startupSeconds.toFixed(1)} s` : "not yet"),
    fact("Arrivals", status.arrivalPerSecond ? `${status.arrivalPerSecond.toFixed(2)}/s over the last minute` : "none lately"),
    fact("Queue last non-empty", history.queue_last_nonempty_at ? stamp(history.queue_last_nonempty_at) : "—"),
  ].flat();
}

function specList(spec) {
  const fact = (term, value) => [h("dt", { text: term }), h("dd", { text: value })];
  const rules = (direction) => {
    const r = spec.behavior?.[direction] || {};
    const policies = (r.policies || []).map((p) => `${p.value} ${p.type} per ${p.periodSeconds}s`).join(", ");
    return `window ${r.stabilizationWindowSeconds}s, select ${r.selectPolicy}: ${policies}`;
  };
  return [
    fact("Target", reference(spec.target)),
    fact("Queue", spec.queue?.name || "none"),
    fact("Resources", `${spec.resources?.cpuMillicores}m CPU, ${spec.resources?.memoryMiB} MiB`),
    fact("Replicas", `min ${spec.minReplicas ?? 1}, max ${spec.maxReplicas}${spec.replicas !== undefined && spec.replicas !== null ? `, held at ${spec.replicas}` : ""}`),
    fact("Metrics", (spec.metrics || []).map((m) => m.type).join(", ") || "none"),
    fact("Cooldown", `${spec.cooldownSeconds ?? 300}s`),
    fact("Scale up", rules("scaleUp")),
    fact("Scale down", rules("scaleDown")),
    fact("Node pools", (spec.nodePools || []).join(", ") || "none (Fargate)"),
  ].flat();
}

function seriesCharts(series, width) {
  const since = new Date(series.since), now = new Date(series.now);
  const steps = (points, field) => points.map((p) => ({ time: p.time, value: p[field] }));
  const pools = Object.entries(series.nodes || {});
  const nodes = pools.length === 1 ? steps(pools[0][1], "current") : sumSteps(pools.map(([, points]) => points), "current");
  const marks = (series.scaleEvents || []).map((e) => ({
    time: e.time, label: `${clock(e.time)} ${e.involvedObject.kind}/${e.involvedObject.name} ${e.reason}: ${e.message}` }));
  if (!series.replicas.length && !series.stats.length) {
    return [h("p", { class: "muted", text: "Nothing recorded in this window yet: the charts fill in as the controller ticks." })];
  }
  return [
    stepChart({ title: "Backlog (messages) and images finished per minute", since, now, width,
                series: [{ label: "Backlog", tone: "c-backlog", area: true, points: steps(series.replicas, "backlog") }],
                bars: { label: "Finished per minute", tone: "c-done", points: series.stats.map((m) => ({ time: m.minute, value: (m.done || 0) + (m.failed || 0) })) } }),
    stepChart({ title: "Replicas and nodes", since, now, width, marks,
                // Drawn widest first, so lines that run together (desired = running = nodes) all stay visible.
                series: [{ label: pools.length ? `Nodes (${pools.map(([pool]) => pool).join(", ")})` : "Nodes (none: Fargate)", tone: "c-nodes", points: nodes },
                         { label: "Running replicas", tone: "c-running", points: steps(series.replicas, "current") },
                         { label: "Desired replicas", tone: "c-desired", dashed: true, points: steps(series.replicas, "desired") }] }),
  ];
}

// Several pools' step series as one: at each change of any pool, the sum of what each holds then.
function sumSteps(seriesList, field) {
  const times = [...new Set(seriesList.flat().map((p) => p.time))].sort();
  return times.map((time) => ({ time, value: seriesList.reduce((total, points) => {
    const held = points.filter((p) => p.time <= time).pop();
    return total + (held ? held[field] : 0);
  }, 0) }));
}
