// How values read on the page: kubectl's AGE, the TARGETS column of `ballast get workloads`, sizes and times.

export function age(stamp, now = new Date()) {
  if (!stamp) return "—";
  const seconds = Math.max(0, Math.floor((now - new Date(stamp)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60), hours = Math.floor(seconds / 3600), days = Math.floor(seconds / 86400);
  if (hours < 1) return minutes < 10 ? `${minutes}m${seconds % 60}s` : `${minutes}m`;
  if (days < 1) return hours < 10 ? `${hours}h${minutes % 60}m` : `${hours}h`;
  return `${days}d`;
}

export function clock(stamp) {
  return stamp ? new Date(stamp).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "—";
}

export function bytes(n) {
  if (n === undefined || n === null) return "—";
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB"];
  let value = n / 1024, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const shown = (value, unit = "") => (value === undefined || value === null ? "<unknown>" : `${value}${unit}`);

// status.currentMetrics is written in the spec's order; until the controller has read them, each is unknown.
export function metricSummaries(spec, status = {}) {
  const metrics = spec.metrics || [];
  let currents = status.currentMetrics || [];
  if (currents.length !== metrics.length) currents = metrics.map(() => ({}));
  return metrics.map((metric, i) => metricSummary(metric, currents[i] || {}));
}

// Each metric type's block in spec.metrics[] and status.currentMetrics[], as the HPA names them.
const BLOCKS = {Backlog: "backlog", Resource: "resource", ContainerResource: "containerResource", External: "external",
                Pods: "pods", Object: "object", Deadline: "deadline"};

function metricSummary(metric, current) {
  const key = BLOCKS[metric.type];
  const block = metric[key] || {};
  const now = (current[key] || {}).current || {};
  if (metric.type === "Backlog") return `${shown(now.averageValue)}/${block.targetPerReplica} (backlog/replica)`;
  if (metric.type === "Deadline") return `${shown(now.value)} queued/drain within ${block.seconds}s`;
  const target = block.target || {};
  if (metric.type === "Resource" || metric.type === "ContainerResource") {
    const name = metric.type === "Resource" ? block.name : `${block.container}/${block.name}`;
    if (target.type === "Utilization") return `${name}: ${shown(now.averageUtilization, "%")}/${target.averageUtilization}%`;
    return `${name}: ${shown(now.averageValue)}/${target.averageValue}`;
  }
  const name = block.metric?.name ?? metric.type;  // External, Pods, Object
  if (target.type === "AverageValue") return `${name}: ${shown(now.averageValue)}/${target.averageValue} (avg)`;
  return `${name}: ${shown(now.value)}/${target.value}`;
}

export function reference(target) {
  return target.kind === "ECSService" ? `ECSService/${target.service}` : `Deployment/${target.namespace}/${target.name}`;
}

export function backlogOf(status = {}) {
  const depth = status.backlog;
  return depth ? depth.visible + depth.inFlight + depth.delayed : null;
}
