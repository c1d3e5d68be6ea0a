// Photos: drop or choose many files for an operation, watch each upload and then its job (queued → processing → done
// or failed with the reason), the batch's progress, and the user's images with a preview of original and result,
// download, delete.

import { api } from "./api.js";
import { bytes } from "./format.js";
import { cell, h, table } from "./dom.js";
import { errorLine, phaseBadge, stamp } from "./parts.js";
import { uploadAll } from "./upload.js";

const DEFAULT_OPERATIONS = ["grayscale", "thumbnail", "watermark"];
const LIST_LIMIT = "500";
// Every two seconds while something moves (an upload of this page, or a job still queued or processing); else every
// ten: a long list read every two seconds costs the store reads for nothing once all is done.
const BUSY_MS = 2000, QUIET_MS = 10000;
const UPLOAD_STATES = { waiting: "Waiting", asking: "Asking for an upload URL", uploading: "Uploading", uploaded: "Uploaded",
                        refused: "Refused", failed: "Upload failed" };

export function render(main, scope) {
  const op = h("select", { id: "upload-op" }, DEFAULT_OPERATIONS.map((o) => h("option", { value: o, text: o })));
  // The button opens the file picker; the input itself stays out of the tab order (one stop, not two).
  const input = h("input", { id: "upload-files", type: "file", multiple: true, accept: "image/jpeg,image/png", class: "visually-hidden",
                             tabindex: "-1", "aria-label": "Photos to upload" });
  const zone = h("div", { class: "dropzone", "data-testid": "dropzone" },
    h("p", { class: "dropzone-title", text: "Drop photos here" }),
    h("p", { class: "muted", text: "JPEG or PNG, up to 50 MiB each; many at once." }),
    h("button", { type: "button", class: "primary", text: "Choose photos…", onclick: () => input.click() }),
    input);
  const batchBox = h("div", { class: "batches" });
  const images = table("Your images", ["Name", "Operation", "Phase", "Reason", "Uploaded", "Finished", "Actions"],
                       { wide: [4, 5], empty: "No images yet: drop some above." });
  const phaseFilter = h("select", { id: "phase-filter" }, ["", "Queued", "Processing", "Done", "Failed"].map((p) => h("option", { value: p, text: p || "All phases" })));
  const listNote = h("p", { class: "muted", role: "status" });
  const dialog = h("dialog", { class: "preview", "aria-labelledby": "preview-title" });
  const batches = []; // this visit's, newest first
  let listed = [];

  const start = (files) => {
    if (!files.length) return;
    const batch = { number: batches.length + 1, started: new Date(), op: op.value };
    Object.assign(batch, uploadAll(files, op.value, () => showBatches()));
    batches.unshift(batch);
    showBatches();
    batch.done.then(() => refreshList());
  };
  input.addEventListener("change", () => { start([...input.files]); input.value = ""; });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); start([...(e.dataTransfer?.files || [])]); });
  phaseFilter.addEventListener("change", () => showList());

  // Progress events come many times a second per file: the batches are drawn at most once a frame.
  let drawing = false;
  function showBatches() {
    if (drawing) return;
    drawing = true;
    requestAnimationFrame(() => {
      drawing = false;
      batchBox.replaceChildren(...batches.slice(0, 5).map(batchPanel));
    });
  }

  function batchPanel(batch) {
    const phases = batch.items.map((item) => phaseOf(item, batch));
    const count = (phase) => phases.filter((p) => p === phase).length;
    const finished = count("Done") + count("Failed") + count("Refused") + count("Upload failed");
    const total = batch.items.length;
    const title = `batch-${batch.number}-title`;
    return h("section", { class: "panel batch", "aria-labelledby": title },
      h("h2", { id: title, text: `Batch ${batch.number}: ${total} file${total === 1 ? "" : "s"} for ${batch.op}, started ${batch.started.toLocaleTimeString()}` }),
      h("progress", { max: String(total), value: String(finished), "aria-label": `${finished} of ${total} finished` }),
      h("p", { class: "batch-summary", role: "status", "aria-live": "polite", "data-testid": "batch-summary" },
        `${count("Done")} done · ${count("Failed")} failed · ${count("Processing")} processing · ${count("Queued") + count("Uploaded")} queued · `
        + `${count("Uploading") + count("Waiting")} uploading · ${count("Refused") + count("Upload failed")} refused, out of ${total}`),
      h("ul", { class: "files" }, batch.items.map((item, i) => fileRow(item, phases[i]))));
  }

  function phaseOf(item, batch) {
    if (item.state !== "uploaded") return item.state === "refused" ? "Refused" : item.state === "failed" ? "Upload failed"
      : item.state === "uploading" || item.state === "asking" ? "Uploading" : "Waiting";
    return listed.find((image) => image.key === item.key && new Date(image.uploadedAt) >= batch.started - 60000)?.phase || "Uploaded";
  }

  function fileRow(item, phase) {
    const image = listed.find((i) => i.key === item.key);
    const note = item.message || (phase === "Failed" ? image?.reason : phase === "Uploaded" ? "waiting for its job" : "");
    return h("li", { class: `file ${phase.toLowerCase().replace(" ", "-")}`, "data-name": item.name },
      h("span", { class: "file-name", text: item.name }),
      h("span", { class: "muted", text: bytes(item.size) }),
      item.state === "uploading" ? h("progress", { max: "1", value: String(item.progress), "aria-label": `Upload of ${item.name}` }) : phaseBadge(phase),
      note ? h("span", { class: phase === "Refused" || phase === "Failed" || phase === "Upload failed" ? "file-error" : "muted", text: note }) : null);
  }

  const refreshList = scope.poll(async () => {
    const list = await api.get("/images", { limit: LIST_LIMIT });
    listed = list.items.sort((a, b) => (b.uploadedAt || "").localeCompare(a.uploadedAt || ""));
    listNote.textContent = list.continue ? `Showing ${listed.length} images, the first ${LIST_LIMIT} the API listed.` : `${listed.length} images.`;
    showList();
    showBatches();
  }, () => (busy() ? BUSY_MS : QUIET_MS), (error) => images.failed(error));

  function busy() {
    return listed.some((image) => image.phase === "Queued" || image.phase === "Processing")
      || batches.some((batch) => batch.items.some((item) => item.state !== "refused" && item.state !== "failed" && phaseOf(item, batch) !== "Done" && phaseOf(item, batch) !== "Failed"));
  }

  function showList() {
    const wanted = phaseFilter.value;
    images.show(listed.filter((i) => !wanted || i.phase === wanted).map((image) => h("tr", { "data-key": image.key },
      cell(h("button", { type: "button", class: "link", "data-focus-key": `preview:${image.key}`, text: image.name, onclick: () => preview(image) })),
      cell(image.op),
      cell(phaseBadge(image.phase)),
      cell(image.reason || "", { title: image.reason || undefined }),
      cell(stamp(image.uploadedAt), { wide: true }),
      cell(image.finishedAt ? stamp(image.finishedAt) : "—", { wide: true }),
      cell(h("span", { class: "row-actions" },
        h("button", { type: "button", "data-focus-key": `download:${image.key}`, disabled: image.phase !== "Done",
                      text: "Download", "aria-label": `Download the result of ${image.name}`, onclick: () => download(image) }),
        h("button", { type: "button", class: "danger", "data-focus-key": `delete:${image.key}`, text: "Delete",
                      "aria-label": `Delete ${image.name}`, onclick: () => confirmDelete(image) }))))));
  }

  async function preview(image) {
    dialog.replaceChildren(h("p", { text: "Loading…" }));
    dialog.showModal();
    try {
      const full = await api.get(`/images/${encodeURIComponent(image.op)}/${encodeURIComponent(image.name)}`);
      const side = (label, part) => h("figure", { class: "preview-side" },
        h("figcaption", {}, h("strong", { text: label }), part ? ` · ${bytes(part.bytes)}${part.width ? ` · ${part.width}×${part.height}` : ""}` : ""),
        part ? h("img", { src: part.url, alt: `${label} of ${image.name}` }) : h("p", { class: "muted", text: full.phase === "Failed" ? `No result: ${full.reason}` : "No result yet." }),
        part ? h("a", { class: "button", href: part.download, download: image.name, text: `Download ${label.toLowerCase()}` }) : null);
      dialog.replaceChildren(
        h("div", { class: "dialog-head" }, h("h2", { id: "preview-title", text: `${image.op} / ${image.name}` }), phaseBadge(full.phase),
          h("button", { type: "button", class: "close", "aria-label": "Close", text: "×", onclick: () => dialog.close() })),
        h("div", { class: "preview-pair" }, side("Original", full.original), side("Result", full.output)));
    } catch (error) {
      dialog.replaceChildren(h("p", { class: "error", text: errorLine(error) }), h("button", { type: "button", text: "Close", onclick: () => dialog.close() }));
    }
  }

  async function download(image) {
    try {
      const full = await api.get(`/images/${encodeURIComponent(image.op)}/${encodeURIComponent(image.name)}`);
      if (full.output) window.location.assign(full.output.download);
    } catch (error) {
      listNote.textContent = `Download of ${image.name} failed: ${errorLine(error)}`;
    }
  }

  function confirmDelete(image) {
    const message = h("p", { class: "field-message", role: "alert" });
    const yes = h("button", { type: "button", class: "danger", text: "Delete" });
    yes.addEventListener("click", async () => {
      yes.disabled = true;
      try {
        const gone = await api.delete(`/images/${encodeURIComponent(image.op)}/${encodeURIComponent(image.name)}`);
        listNote.textContent = `Deleted ${image.op}/${image.name}: original, result and ${gone.deleted.jobs} job record(s).`;
        dialog.close();
        refreshList();
      } catch (error) {
        message.textContent = `Not deleted: ${errorLine(error)}`;
        yes.disabled = false;
      }
    });
    dialog.replaceChildren(
      h("h2", { id: "preview-title", text: `Delete ${image.name}?` }),
      h("p", { text: `Its original, its ${image.op} result and its job record are removed; this cannot be undone.` }),
      message,
      h("div", { class: "actions" }, yes, h("button", { type: "button", text: "Cancel", onclick: () => dialog.close() })));
    dialog.showModal();
  }

  main.append(
    h("header", { class: "page-head" },
      h("h1", { tabindex: "-1", text: "Photos" }),
      h("p", { class: "lede", text: "Uploads go straight to S3 with presigned POSTs; each becomes a job for its operation's workers." })),
    h("section", { class: "panel upload", "aria-label": "Upload" },
      h("div", { class: "upload-options" }, h("label", { for: "upload-op", text: "Operation" }), op), zone),
    batchBox,
    h("section", { class: "panel" },
      h("div", { class: "panel-head" }, h("h2", { id: "images-title", text: "Your images" }),
        h("span", { class: "filters" }, h("label", { for: "phase-filter", text: "Phase" }), phaseFilter)),
      listNote, images.element),
    dialog);

  // The pipeline's operations, from its workloads' op labels where they carry one. The answer may come after the
  // user chose one: that choice stays when the pipeline has it.
  api.get("/workloads", { labelSelector: "app=photos" }).then((list) => {
    const ops = [...new Set(list.items.map((w) => w.metadata.labels?.op).filter(Boolean))].sort();
    const chosen = op.value;
    if (ops.length) op.replaceChildren(...ops.map((o) => h("option", { value: o, text: o, selected: o === chosen })));
  }).catch(() => {});
}

