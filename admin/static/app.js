// Daka admin: confirmations, the live punch feed and the API docs page. Plain JS, no libraries.
"use strict";

document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  return td;
}

function startFeed(table) {
  if (!window.EventSource) return;
  const body = table.querySelector("tbody");
  const source = new EventSource(table.dataset.events);
  source.addEventListener("punch", (event) => {
    const p = JSON.parse(event.data);
    const tr = document.createElement("tr");
    tr.className = "new";
    [p.time, p.staff_no, p.name, p.source_text || p.source].forEach((v) => tr.appendChild(cell(v)));
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > 50) body.deleteRow(body.rows.length - 1);
    const count = document.getElementById("punches-today");
    if (count) count.textContent = String(Number(count.textContent) + 1);
  });
}

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  if (text != null) node.textContent = text;
  return node;
}

function example(schema) {
  if (!schema) return null;
  if (schema.example !== undefined) return schema.example;
  if (schema.type === "object") {
    const out = {};
    Object.entries(schema.properties || {}).forEach(([k, v]) => { out[k] = example(v); });
    return out;
  }
  if (schema.type === "array") return [];
  return "";
}

function renderEndpoint(container, path, method, op) {
  const words = container.dataset;  // the page's language, from the template
  const box = el("section", { class: "card endpoint" });
  const head = el("h2");
  head.appendChild(el("span", { class: "method" }, method));
  head.appendChild(document.createTextNode(path));
  if (op.deprecated) head.appendChild(el("span", { class: "badge" }, words.deprecated || "deprecated"));
  box.appendChild(head);
  box.appendChild(el("p", {}, op.summary || ""));
  const params = op.parameters || [];
  const inputs = {};
  params.forEach((p) => {
    const label = el("label", {}, p.name + " ");
    const input = el("input", { value: (p.schema && p.schema.example) || "" });
    inputs[p.name] = input;
    label.appendChild(input);
    box.appendChild(label);
  });
  const content = op.requestBody && op.requestBody.content;
  let textarea = null, fileInput = null;
  if (content && content["application/json"]) {
    textarea = el("textarea");
    textarea.value = JSON.stringify(example(content["application/json"].schema), null, 2);
    box.appendChild(textarea);
  } else if (content && content["multipart/form-data"]) {
    fileInput = el("input", { type: "file", multiple: "multiple" });
    box.appendChild(fileInput);
  }
  const button = el("button", { type: "button" }, words.try || "Try it");
  const output = el("pre");
  button.addEventListener("click", async () => {
    const url = new URL(path, window.location.origin);
    Object.entries(inputs).forEach(([k, input]) => url.searchParams.set(k, input.value));
    const headers = { Authorization: "Bearer " + document.getElementById("docs-token").value };
    const init = { method: method.toUpperCase(), headers };
    if (textarea) { headers["Content-Type"] = "application/json"; init.body = textarea.value; }
    if (fileInput) {
      const form = new FormData();
      Array.from(fileInput.files).forEach((f) => form.append("files[]", f, f.name));
      init.body = form;
    }
    const response = await fetch(url, init);
    const type = response.headers.get("Content-Type") || "";
    const text = type.includes("json") ? JSON.stringify(await response.json(), null, 2) : `(${type}, ${(await response.blob()).size} bytes)`;
    output.textContent = `${response.status}\n${text}`;
  });
  box.appendChild(button);
  box.appendChild(output);
  const responses = el("details");
  responses.appendChild(el("summary", {}, words.responses || "responses"));
  responses.appendChild(el("pre", {}, JSON.stringify(op.responses, null, 2)));
  box.appendChild(responses);
  container.appendChild(box);
}

async function startDocs(container) {
  const spec = await (await fetch(container.dataset.spec)).json();
  container.appendChild(el("p", {}, spec.info.description));
  Object.entries(spec.paths).forEach(([path, ops]) => {
    Object.entries(ops).forEach(([method, op]) => renderEndpoint(container, path, method, op));
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const feed = document.getElementById("feed");
  if (feed) startFeed(feed);
  const docs = document.getElementById("docs");
  if (docs) startDocs(docs);
});
