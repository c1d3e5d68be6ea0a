// Building the page from data without innerHTML: every value the API sends becomes text, never markup.

export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") element.className = value;
    else if (key === "text") element.textContent = value;
    else if (key.startsWith("on")) element.addEventListener(key.slice(2).toLowerCase(), value);
    else if (key in element && !key.includes("-") && typeof value !== "string") element[key] = value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

// An SVG element (the charts): attributes only, no properties.
export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value !== undefined && value !== null) element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

// Replaces a table body only when its rows changed, and gives focus back to the row control that had it: a live
// table refreshed every two seconds must not throw a keyboard user back to the top of the page.
const signatures = new WeakMap();

export function updateRows(tbody, rows) {
  const signature = rows.map((row) => row.outerHTML).join("\n");
  if (signatures.get(tbody) === signature) return false;
  const focused = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;
  tbody.replaceChildren(...rows);
  signatures.set(tbody, signature);
  if (focused) tbody.querySelector(`[data-focus-key="${CSS.escape(focused)}"]`)?.focus();
  return true;
}

export function table(caption, headers, { wide = [], empty = "Nothing yet." } = {}) {
  const tbody = h("tbody");
  const element = h("table", { class: "grid" },
    h("caption", { class: "visually-hidden", text: caption }),
    h("thead", {}, h("tr", {}, headers.map((label, i) => h("th", { scope: "col", class: wide.includes(i) ? "wide" : null, text: label })))),
    tbody);
  const note = h("p", { class: "empty", text: "Loading…" });
  const wrap = h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption }, element, note);
  element.hidden = true;
  let loaded = false;
  return {
    element: wrap, tbody, wide,
    show(rows) {
      loaded = true;
      // Each cell carries its column's name, which a phone-width screen shows beside it (rows become cards there).
      for (const row of rows) [...row.children].forEach((td, i) => { td.dataset.label = headers[i] ?? ""; });
      note.textContent = empty;
      note.hidden = rows.length > 0;
      element.hidden = rows.length === 0;
      return updateRows(tbody, rows);
    },
    // Until a first answer, the table says why it is empty; after one, it keeps the rows it has (the banner says more).
    failed(error) {
      if (!loaded) note.textContent = `Not loaded yet: ${error.message}`;
    },
  };
}

export function cell(content, { wide = false, numeric = false, title, class: extra = "" } = {}) {
  return h("td", { class: [wide ? "wide" : "", numeric ? "num" : "", extra].join(" ").trim() || null, title }, content);
}

export function badge(text, tone = "neutral", title) {
  return h("span", { class: `badge ${tone}`, title, text });
}
