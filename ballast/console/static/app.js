// The console's shell: the hash router (one view at a time, its polls stopped on leaving), the connection banner and
// the "last updated" mark that every answer of the API refreshes.

import { consoleInfo, onHealth, setNamespace } from "./api.js";
import { h } from "./dom.js";
import { Scope } from "./poll.js";
import * as events from "./events.js";
import * as nodepools from "./nodepools.js";
import * as photos from "./photos.js";
import * as workload from "./workload.js";
import * as workloads from "./workloads.js";

const ROUTES = [
  { pattern: /^\/workloads\/([^/]+)$/, section: "workloads", view: workload, title: (m) => decodeURIComponent(m[1]) },
  { pattern: /^\/workloads$/, section: "workloads", view: workloads, title: () => "Workloads" },
  { pattern: /^\/nodepools$/, section: "nodepools", view: nodepools, title: () => "Node pools" },
  { pattern: /^\/events$/, section: "events", view: events, title: () => "Events" },
  { pattern: /^\/photos$/, section: "photos", view: photos, title: () => "Photos" },
];
const STALE_AFTER_MS = 10000;

let scope = null;
let endpoint = "";

function route() {
  const [path, search = ""] = (window.location.hash.replace(/^#/, "") || "/workloads").split("?");
  const found = ROUTES.map((r) => ({ r, match: r.pattern.exec(path) })).find((x) => x.match);
  if (!found) {
    window.location.replace("#/workloads");
    return;
  }
  scope?.stop();
  scope = new Scope();
  const main = document.getElementById("main");
  main.replaceChildren();
  for (const link of document.querySelectorAll("nav.sections a")) {
    if (link.dataset.section === found.r.section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${found.r.title(found.match)} · Ballast console`;
  found.r.view.render(main, scope, { name: found.match[1] && decodeURIComponent(found.match[1]), query: new URLSearchParams(search) });
  // Keyboard and screen-reader users land on the new page's heading, not on the link they left.
  if (document.activeElement?.closest("nav.sections")) main.querySelector("h1")?.focus({ preventScroll: true });
}

function showHealth({ state, message }) {
  const banner = document.getElementById("banner");
  const texts = {
    unreachable: [`The Ballast API${endpoint ? ` at ${endpoint}` : ""} is unreachable. `, message,
                  " The console keeps trying and recovers by itself when it answers again."],
    "console-down": ["The console's own server does not answer: is ", h("code", { text: "ballast dashboard" }),
                     " still running? The page retries by itself."],
    unauthorized: ["The API refused your AWS credentials: ", message, h("br"), "Renew them (", h("code", { text: "aws sso login" }),
                   ", with ", h("code", { text: "--profile NAME" }), " if you use a profile), or start ", h("code", { text: "ballast dashboard" }),
                   " with working ones (", h("code", { text: "AWS_PROFILE" }), " or ", h("code", { text: "AWS_ACCESS_KEY_ID" }),
                   "). The console retries every few seconds."],
    "no-session": ["This page has no session with the console. Open the address ", h("code", { text: "ballast dashboard" }),
                   " printed: it carries the console's token."],
  };
  banner.hidden = state === "ok";
  banner.className = `banner ${state}`;
  if (state !== "ok") banner.replaceChildren(h("strong", { text: state === "unauthorized" ? "Not authorized. " : "Connection lost. " }), ...texts[state]);
  document.body.dataset.health = state;
}

function tickFreshness(last) {
  const mark = document.getElementById("freshness");
  const at = last.at;
  const stale = !at || Date.now() - at > STALE_AFTER_MS || last.state !== "ok";
  mark.className = `freshness ${stale ? "stale" : "live"}`;
  mark.querySelector(".freshness-text").textContent = !at ? "Waiting for the API…"
    : last.state === "ok" && !stale ? `Live · updated ${Math.round((Date.now() - at) / 1000)}s ago`
    : `Last updated ${at.toLocaleTimeString()}`;
  mark.querySelector("time").setAttribute("datetime", at ? at.toISOString() : "");
}

async function start() {
  let last = { state: "ok", at: null };
  onHealth((health) => {
    last = health;
    showHealth(health);
    tickFreshness(last);
  });
  setInterval(() => tickFreshness(last), 1000);
  try {
    const info = await consoleInfo();
    endpoint = info.endpoint;
    setNamespace(info.namespace);
    document.getElementById("context").textContent = `${info.endpoint} · namespace ${info.namespace}`;
  } catch {
    // The banner says why (no session, or no console); the views still try, and say so too.
  }
  window.addEventListener("hashchange", route);
  route();
}

start();
