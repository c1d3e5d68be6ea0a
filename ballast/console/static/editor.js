// The spec editor: the object's manifest as YAML (the proxy converts, as kubectl edit does), saved only if its spec and
// labels are still those loaded; a refused edit is marked at the line of the field the API names, and nothing is written.

import { api } from "./api.js";
import { h } from "./dom.js";

export function specEditor({ path, label, onSaved }) {
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const text = h("textarea", { id: "spec-yaml", class: "code", spellcheck: "false", autocomplete: "off", rows: "22",
                               "aria-describedby": "spec-message", wrap: "off" });
  const message = h("div", { id: "spec-message", class: "field-message", role: "status", "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "primary", text: "Save" });
  const reload = h("button", { type: "button", text: "Reload" });
  const form = h("form", { class: "editor", "aria-label": label },
    h("label", { for: "spec-yaml", class: "editor-label", text: `${label} (YAML). Status and the server's fields are left out; a save is refused if the spec or labels changed since you loaded them.` }),
    h("div", { class: "editor-body" }, gutter, text),
    message,
    h("div", { class: "actions" }, save, reload));

  const numberLines = (errorLine = null) => {
    const count = text.value.split("\n").length;
    gutter.replaceChildren(...Array.from({ length: count }, (_, i) =>
      h("span", { class: i + 1 === errorLine ? "error" : null, text: String(i + 1) })));
    gutter.scrollTop = text.scrollTop;
  };
  const say = (tone, ...content) => {
    message.className = `field-message ${tone}`;
    message.replaceChildren(...content);
  };
  let loaded = null; // the ETag of what the editor shows
  const load = async () => {
    say("", "Loading…");
    const manifest = await api.getYaml(path);
    text.value = manifest.text;
    loaded = manifest.etag;
    numberLines();
    say("", "");
  };
  const pointAt = (line) => {
    const lines = text.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    text.focus();
    text.setSelectionRange(start, start + (lines[line - 1] || "").length);
    const lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 18;
    text.scrollTop = Math.max(0, (line - 4) * lineHeight);
    numberLines(line);
  };

  text.addEventListener("input", () => numberLines());
  text.addEventListener("scroll", () => { gutter.scrollTop = text.scrollTop; });
  reload.addEventListener("click", () => load().catch((error) => say("error", `Could not load the spec: ${error.message}`)));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    say("", "Saving…");
    try {
      const saved = await api.putYaml(path, text.value, loaded);
      say("ok", `Saved: resourceVersion ${saved.metadata.resourceVersion}, generation ${saved.metadata.generation}.`);
      await load().catch(() => {});
      say("ok", `Saved: resourceVersion ${saved.metadata.resourceVersion}, generation ${saved.metadata.generation}.`);
      onSaved?.(saved);
    } catch (error) {
      if (error.code === 409) {
        say("error", h("strong", { text: "Not saved: its spec or labels changed since you loaded them. " }),
            "Nothing was written. Reload to edit the current version (copy your changes first). ",
            h("button", { type: "button", class: "link", text: "Reload now", onclick: () => reload.click() }));
        numberLines();
      } else if (error.line) {
        const where = error.field && error.field !== "body" ? `${error.field} (line ${error.line})` : `Line ${error.line}${error.column ? `, column ${error.column}` : ""}`;
        say("error", h("strong", { text: `${where}: ` }), sentence(error.message.replace(`${error.field}: `, "")), " Nothing was written.");
        pointAt(error.line);
      } else {
        say("error", h("strong", { text: "Not saved: " }), sentence(`${error.message}${error.field && !error.message.includes(error.field) ? ` (field ${error.field})` : ""}`),
            " Nothing was written.");
        numberLines();
      }
    } finally {
      save.disabled = false;
    }
  });
  return { element: form, load, textarea: text };
}

function sentence(text) {
  return /[.!?]$/.test(text) ? text : `${text}.`;
}
