// Node pools: desired, ready and booting nodes, the tasks placed on them and those still waiting, and why the
// cluster autoscaler chose this size; below, which workload's tasks they are.

import { api } from "./api.js";
import { age } from "./format.js";
import { badge, cell, h, table } from "./dom.js";
import { conditionBadges, decision } from "./parts.js";

const HEADERS = ["Name / provider", "Instance", "Min–max", "Desired", "Current", "Ready", "Booting", "Tasks placed",
                 "Tasks pending", "Decision", "Conditions", "Age"];

export function render(main, scope) {
  const pools = table("Node pools", HEADERS, { wide: [1, 2, 10, 11], empty: "No node pools: Fargate workloads need none." });
  const tasks = table("Tasks by workload", ["Workload", "Node pools", "Desired", "Running", "Pending"],
                      { empty: "No workload runs on a node pool." });
  let workloads = [];
  main.append(
    h("header", { class: "page-head" },
      h("h1", { tabindex: "-1", text: "Node pools" }),
      h("p", { class: "lede", text: "Nodes are added only for tasks that cannot be placed, and removed once unneeded for the pool's time." })),
    h("section", { class: "panel" }, pools.element),
    h("section", { class: "panel" }, h("h2", { id: "tasks-title", text: "Tasks by workload" }), tasks.element));
  const refreshPools = scope.poll(async () => {
    const list = await api.get("/nodepools", { limit: "500" });
    pools.show(list.items.map((pool) => row(pool, workloads)));
  }, undefined, (error) => pools.failed(error));
  scope.poll(async () => {
    workloads = (await api.get("/workloads", { limit: "500" })).items.filter((w) => (w.spec.nodePools || []).length);
    tasks.show(workloads.map((w) => h("tr", {},
      cell(h("a", { href: `#/workloads/${encodeURIComponent(w.metadata.name)}`, "data-focus-key": `tasks:${w.metadata.name}`, text: w.metadata.name })),
      cell(w.spec.nodePools.join(", ")),
      cell(String(w.status?.desiredReplicas ?? "—"), { numeric: true }),
      cell(String(w.status?.currentReplicas ?? 0), { numeric: true }),
      cell(String(w.status?.pendingReplicas ?? 0), { numeric: true }))));
    refreshPools();
  }, undefined, (error) => tasks.failed(error));
}

function row(pool, workloads) {
  const { spec, metadata } = pool;
  const status = pool.status || {};
  const provider = spec.provider;
  const group = provider.autoScalingGroupName || provider.nodegroup || "—";
  const current = status.currentNodes ?? 0;
  const booting = Math.max(0, current - (status.readyNodes ?? 0));
  // A task waits on this pool when its workload runs here and has fewer tasks running than desired.
  const pending = workloads.filter((w) => w.spec.nodePools.includes(metadata.name)).reduce((n, w) => n + (w.status?.pendingReplicas ?? 0), 0);
  return h("tr", { "data-name": metadata.name },
    cell([h("strong", { text: metadata.name }), h("span", { class: "sub", text: `${provider.kind}/${group}` })], { class: "name" }),
    cell(`${spec.instance.type || "—"} ${spec.instance.cpuMillicores}m/${spec.instance.memoryMiB}Mi`, { wide: true }),
    cell(`${spec.minNodes ?? 0}–${spec.maxNodes}`, { numeric: true, wide: true }),
    cell(String(status.desiredNodes ?? "—"), { numeric: true }),
    cell(String(current), { numeric: true }),
    cell(String(status.readyNodes ?? 0), { numeric: true }),
    cell(booting ? badge(String(booting), "info") : "0", { numeric: true }),
    cell(String(status.tasks ?? 0), { numeric: true }),
    cell(pending ? badge(String(pending), "warn") : "0", { numeric: true }),
    cell(decision(status)),
    cell(conditionBadges(status.conditions), { wide: true }),
    cell(age(metadata.creationTimestamp), { wide: true }));
}
