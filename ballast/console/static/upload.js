// Uploads go straight from the browser to S3: the images API grants each file a presigned POST for exactly its key,
// type and size (or refuses it with its reason), and the file is posted to S3 with its progress. Four at a time; a
// refused or failed file never stops the others.

import { api } from "./api.js";
import { errorLine } from "./parts.js";

export const CONCURRENCY = 4;

// items: [{file, name, size, state: waiting|asking|uploading|uploaded|refused|failed, progress 0..1, message, key}]
export function uploadAll(files, op, changed) {
  const items = [...files].map((file) => ({ file, name: file.name, size: file.size, state: "waiting", progress: 0, message: "", key: null }));
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++];
      await uploadOne(item, op, () => changed(item));
    }
  };
  const done = Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
  return { items, done };
}

async function uploadOne(item, op, changed) {
  item.state = "asking";
  changed();
  let grant;
  try {
    grant = await api.post("/images", { op, name: item.name, contentType: item.file.type, size: item.size });
  } catch (error) {
    item.state = "refused";
    item.message = errorLine(error);
    changed();
    return;
  }
  item.key = grant.key;
  item.state = "uploading";
  changed();
  try {
    await postToS3(grant, item.file, (fraction) => {
      item.progress = fraction;
      changed();
    });
    item.state = "uploaded";
    item.progress = 1;
  } catch (error) {
    item.state = "failed";
    item.message = error.message;
  }
  changed();
}

// A browser form POST as S3 takes it: the policy's fields first, the file last.
function postToS3(grant, file, progress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(grant.fields)) form.append(name, value);
    form.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", grant.url);
    request.upload.addEventListener("progress", (event) => event.lengthComputable && progress(event.loaded / event.total));
    request.addEventListener("load", () => (request.status < 300 ? resolve() : reject(new Error(s3Refusal(request)))));
    request.addEventListener("error", () => reject(new Error("S3 could not be reached, or the bucket's CORS rules refuse this page")));
    request.send(form);
  });
}

function s3Refusal(request) {
  const xml = new DOMParser().parseFromString(request.responseText || "", "application/xml");
  const code = xml.querySelector("Code")?.textContent;
  const message = xml.querySelector("Message")?.textContent;
  return `S3 refused the upload (${request.status}${code ? ` ${code}` : ""})${message ? `: ${message}` : ""}`;
}
