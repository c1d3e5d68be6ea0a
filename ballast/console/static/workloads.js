// Workloads: the table `ballast get workloads -o wide` prints, live.

import { api } from "./api.js";
import { age, backlogOf, metricSummaries, reference } from "./format.js";
import { badge, cell, h, table } from "./dom.js";
import { conditionBadges, decision } from "./parts.js";

const HEADERS = ["Name / target", "Metrics (current/target)", "Min", "Max", "Desired", "Running", "Ready", "Backlog",
                 "Last decision", "Conditions", "Age"];
const WIDE = [2, 3, 6, 9, 10]; // the columns a phone-width screen leaves out

export function render(main, scope) {
  const grid = table("Workloads", HEADERS, { wide: WIDE, empty: "No workloads yet: create one with `ballast apply -f workload.yaml`." });
  main.append(
    h("header", { class: "page-head" },
      h("h1", { tabindex: "-1", text: "Workloads" }),
      h("p", { class: "lede", text: "What each workload runs, what its metrics read against their targets, and what the controller last decided and why." })),
    h("section", { class: "panel" }, grid.element));
  scope.poll(async () => {
    const list = await api.get("/workloads", { limit: "500" });
    grid.show(list.items.map(row));
  }, undefined, (error) => grid.failed(error));
}

export function row(item) {
  const { spec, metadata } = item;
  const status = item.status || {};
  const paused = spec.replicas !== undefined && spec.replicas !== null;
  const backlog = backlogOf(status);
  const depth = status.backlog;
  const link = h("a", { href: `#/workloads/${encodeURIComponent(metadata.name)}`, "data-focus-key": `workload:${metadata.name}`,
                        text: metadata.name });
  return h("tr", { "data-name": metadata.name },
    cell([link, h("span", { class: "sub", text: reference(spec.target) })], { class: "name" }),
    cell(metricSummaries(spec, status).join(", ") || "<none>"),
    cell(String(spec.minReplicas ?? 1), { numeric: true, wide: true }),
    cell(String(spec.maxReplicas), { numeric: true, wide: true }),
    cell(String(status.desiredReplicas ?? "—"), { numeric: true }),
    cell([String(status.currentReplicas ?? 0), paused ? [" ", badge(`paused at ${spec.replicas}`, "warn")] : null], { numeric: true }),
    cell(String(status.readyReplicas ?? 0), { numeric: true, wide: true }),
    cell(backlog === null ? "—" : String(backlog), {
      numeric: true, title: depth ? `${depth.visible} visible, ${depth.inFlight} in flight, ${depth.delayed} delayed` : undefined }),
    cell(decision(status)),
    cell(conditionBadges(status.conditions), { wide: true }),
    cell(age(metadata.creationTimestamp), { wide: true }));
}
