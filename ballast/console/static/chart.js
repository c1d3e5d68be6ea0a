// A workload's recent past drawn as SVG by the page (no charting library: two small step charts do not earn one).
// Samples are steps: each value holds until the next sample, as the controller recorded them (status.samples).

import { h, svg } from "./dom.js";

const MARGIN = { top: 14, right: 14, bottom: 26, left: 44 };

// series: [{label, tone, points: [{time, value}], dashed, area}]; bars: {label, tone, points: [{time, value}]} or null;
// marks: [{time, label}] drawn as ticks on the top edge (the scale events).
export function stepChart({ title, since, now, series, bars = null, marks = [], width, height = 190 }) {
  const x0 = MARGIN.left, x1 = Math.max(width - MARGIN.right, x0 + 10), y0 = height - MARGIN.bottom, y1 = MARGIN.top;
  const t0 = since.getTime(), t1 = Math.max(now.getTime(), t0 + 1);
  const x = (time) => x0 + ((Math.min(Math.max(new Date(time).getTime(), t0), t1) - t0) / (t1 - t0)) * (x1 - x0);
  const values = [...series.flatMap((s) => s.points.map((p) => p.value)), ...(bars ? bars.points.map((p) => p.value) : [])];
  const top = niceCeiling(Math.max(1, ...values.filter((v) => v !== null && v !== undefined)));
  const y = (value) => y0 - (value / top) * (y0 - y1);

  const chart = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
                             "aria-label": `${title}: ${summary(series, bars)}` }, svg("title", {}, title));
  for (const tick of ticks(top)) {
    chart.append(svg("line", { class: "gridline", x1: x0, x2: x1, y1: y(tick), y2: y(tick) }),
                 svg("text", { class: "axis", x: x0 - 6, y: y(tick) + 4, "text-anchor": "end" }, String(tick)));
  }
  for (const tick of timeTicks(t0, t1)) {
    chart.append(svg("line", { class: "gridline vertical", x1: x(tick), x2: x(tick), y1: y1, y2: y0 }),
                 svg("text", { class: "axis", x: x(tick), y: height - 8, "text-anchor": "middle" },
                     new Date(tick).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
  }
  if (bars) {
    const slot = Math.max(2, ((x1 - x0) * 60000) / (t1 - t0) - 2);
    for (const point of bars.points) {
      if (!point.value || new Date(point.time).getTime() < t0) continue;
      // A bar spans its minute; the minute under way is cut at now.
      chart.append(svg("rect", { class: `bar ${bars.tone}`, x: x(point.time), y: y(point.value), width: Math.max(1, Math.min(slot, x1 - x(point.time))),
                                 height: Math.max(0, y0 - y(point.value)) }, svg("title", {}, `${bars.label}: ${point.value}`)));
    }
  }
  for (const line of series) {
    const path = stepPath(line.points, x, y, x1);
    if (!path) continue;
    if (line.area) chart.append(svg("path", { class: `area ${line.tone}`, d: `${path} V ${y0} H ${x(line.points[0].time)} Z` }));
    chart.append(svg("path", { class: `line ${line.tone}${line.dashed ? " dashed" : ""}`, d: path }));
  }
  for (const mark of marks) {
    const at = x(mark.time);
    chart.append(svg("path", { class: "mark", d: `M ${at - 4} ${y1 - 8} L ${at + 4} ${y1 - 8} L ${at} ${y1 - 2} Z` },
                     svg("title", {}, mark.label)));
  }
  chart.append(svg("line", { class: "axisline", x1: x0, x2: x1, y1: y0, y2: y0 }));

  const entry = (s, text) => h("li", {}, h("span", { class: `swatch ${s.tone}${s.dashed ? " dashed" : ""}`, "aria-hidden": "true" }), text);
  const legend = h("ul", { class: "legend" },
    series.map((s) => entry(s, latest(s) === null ? s.label : `${s.label}: ${latest(s)}`)),
    bars ? entry(bars, bars.label) : null);
  const figure = h("figure", { class: "chart-figure", "data-since": since.toISOString() }, h("figcaption", { text: title }), chart, legend);
  hover(figure, chart, { x0, x1, y0, y1, t0, t1, series, bars });
  return figure;
}

// A pointer over the plot shows what each series held at that moment (its aria-label already says the summary).
function hover(figure, chart, { x0, x1, y0, y1, t0, t1, series, bars }) {
  const cursor = svg("line", { class: "cursor", y1, y2: y0, visibility: "hidden" });
  const tip = h("div", { class: "chart-tip", hidden: true, "aria-hidden": "true" });
  chart.append(cursor);
  figure.append(tip);
  chart.addEventListener("pointermove", (event) => {
    const box = chart.getBoundingClientRect();
    const px = event.clientX - box.left;
    if (px < x0 || px > x1) return hide();
    const at = t0 + ((px - x0) / (x1 - x0)) * (t1 - t0);
    const held = (points) => points.filter((p) => new Date(p.time).getTime() <= at).pop();
    const minute = bars?.points.find((p) => { const t = new Date(p.time).getTime(); return t <= at && at < t + 60000; });
    const lines = [h("strong", { text: new Date(at).toLocaleTimeString() }),
                   ...series.map((s) => h("span", { text: `${s.label}: ${held(s.points)?.value ?? "—"}` }))];
    if (bars) lines.push(h("span", { text: `${bars.label}: ${minute?.value ?? 0}` }));
    tip.replaceChildren(...lines);
    cursor.setAttribute("x1", px);
    cursor.setAttribute("x2", px);
    cursor.setAttribute("visibility", "visible");
    tip.hidden = false; // shown before it is measured: a hidden tip has no width
    const fitsRight = px + 12 + tip.offsetWidth <= box.width;
    tip.style.left = `${fitsRight ? px + 12 : Math.max(0, px - 12 - tip.offsetWidth)}px`;
  });
  const hide = () => { cursor.setAttribute("visibility", "hidden"); tip.hidden = true; };
  chart.addEventListener("pointerleave", hide);
}

function stepPath(points, x, y, right) {
  let d = "";
  let drawing = false;
  for (const point of points) {
    if (point.value === null || point.value === undefined) {
      drawing = false;
      continue;
    }
    d += drawing ? ` H ${x(point.time).toFixed(1)} V ${y(point.value).toFixed(1)}`
                 : `${d ? " " : ""}M ${x(point.time).toFixed(1)} ${y(point.value).toFixed(1)}`;
    drawing = true;
  }
  return d && drawing ? `${d} H ${right.toFixed(1)}` : d;
}

function latest(series) {
  const known = series.points.filter((p) => p.value !== null && p.value !== undefined);
  return known.length ? known[known.length - 1].value : null;
}

function summary(series, bars) {
  return [...series, ...(bars ? [bars] : [])].map((s) => {
    const known = s.points.map((p) => p.value).filter((v) => v !== null && v !== undefined);
    return known.length ? `${s.label} peak ${Math.max(...known)}, last ${known[known.length - 1]}` : `${s.label} no data`;
  }).join("; ");
}

function niceCeiling(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (value <= step * power) return Math.max(1, Math.ceil(step * power));
  return value;
}

function ticks(top) {
  const step = top <= 4 ? 1 : top / 4;
  const found = [];
  for (let v = 0; v <= top + 1e-9; v += step) found.push(Math.round(v * 100) / 100);
  return found;
}

function timeTicks(t0, t1) {
  const span = t1 - t0;
  const step = [60e3, 5 * 60e3, 10 * 60e3, 15 * 60e3, 30 * 60e3, 3600e3, 6 * 3600e3].find((s) => span / s <= 7) || 6 * 3600e3;
  const found = [];
  for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) found.push(t);
  return found;
}
