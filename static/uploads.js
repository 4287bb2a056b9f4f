// The upload page: drag and drop, one request per file with its own progress bar, then an
// editable form per draft that PATCHes /api/uploads/{id}/ and publishes it. Everything the
// file said is untrusted: it is only ever put into the page with textContent and .value.
(function () {
  "use strict";

  var page = document.getElementById("upload-page");
  if (!page) return;
  var api = page.getAttribute("data-api");
  var list = document.getElementById("upload-list");
  var input = document.getElementById("upload-input");
  var zone = document.getElementById("dropzone");
  var csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  var FIELDS = [
    ["prompt", "Prompt", "textarea"], ["negative_prompt", "Negative prompt", "textarea"],
    ["model", "Model", "text"], ["model_hash", "Model hash", "text"],
    ["scheduler", "Sampler", "text"], ["steps", "Steps", "number"],
    ["cfg_scale", "CFG scale", "number"], ["seed", "Seed", "number"],
    ["width", "Width", "number"], ["height", "Height", "number"],
    ["clip_skip", "Clip skip", "number"]
  ];
  var NOTES = { reproducible: "Reproducible here", partial: "Partly reproducible", no: "Not reproducible" };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function send(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) throw new Error(data.detail || "Something went wrong (" + response.status + ").");
        return data;
      });
    });
  }

  function renderDraft(item, draft) {
    item.textContent = "";
    item.className = "upload-item";
    if (draft.preview_url) item.appendChild(el("img", { src: draft.preview_url, alt: "", width: "160" }));
    var form = el("form", { "class": "upload-form" });
    var meta = draft.metadata || {};
    form.appendChild(el("p", { "class": "muted" },
      (meta.generator ? "Read from " + meta.generator : "No generation settings found in the file") +
      " · " + (NOTES[draft.reproducibility] || draft.reproducibility)));
    (draft.near_duplicates || []).forEach(function (dup) {
      var p = el("p", { "class": "error" }, "Looks like an image already here ");
      if (dup.page_url) p.appendChild(el("a", { href: dup.page_url }, "(see it)"));
      form.appendChild(p);
    });
    FIELDS.forEach(function (field) {
      var label = el("label", {}, field[1]);
      var control = field[2] === "textarea" ? el("textarea", { name: field[0] }) :
        el("input", { name: field[0], type: field[2], step: field[0] === "cfg_scale" ? "0.1" : "1" });
      control.value = meta[field[0]] === null || meta[field[0]] === undefined ? "" : meta[field[0]];
      label.appendChild(control);
      form.appendChild(label);
    });
    var rating = el("label", {}, "Rating");
    var select = el("select", { name: "rating" });
    ["safe", "suggestive", "explicit"].forEach(function (value) {
      var option = el("option", { value: value }, value);
      if (draft.rating === value) option.selected = true;
      select.appendChild(option);
    });
    rating.appendChild(select);
    form.appendChild(rating);
    var status = el("p", { "class": "muted", role: "status" });
    var publish = el("button", { type: "submit" }, "Publish");
    form.appendChild(publish);
    form.appendChild(status);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = { rating: select.value };
      FIELDS.forEach(function (field) {
        var value = form.elements[field[0]].value;
        if (field[2] === "number") body[field[0]] = value === "" ? null : Number(value);
        else body[field[0]] = value;
      });
      publish.disabled = true;
      status.textContent = "Publishing…";
      send("PATCH", api + draft.id + "/", body)
        .then(function () { return send("POST", api + draft.id + "/publish/"); })
        .then(function (done) {
          item.textContent = "";
          var link = el("a", { href: done.image.page_url }, "Published: see your image");
          item.appendChild(link);
        })
        .catch(function (error) { status.textContent = error.message; publish.disabled = false; });
    });
    item.appendChild(form);
  }

  function uploadOne(file) {
    var item = el("li", { "class": "upload-item" });
    var name = el("p", {}, file.name);
    var bar = el("progress", { max: "100", value: "0", "class": "progress" });
    var status = el("p", { "class": "muted", role: "status" }, "Uploading…");
    item.appendChild(name);
    item.appendChild(bar);
    item.appendChild(status);
    list.appendChild(item);
    var data = new FormData();
    data.append("file", file);
    var request = new XMLHttpRequest();
    request.open("POST", api);
    request.setRequestHeader("X-CSRFToken", csrf);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) bar.value = Math.round(100 * event.loaded / event.total);
    });
    request.addEventListener("load", function () {
      var body = {};
      try { body = JSON.parse(request.responseText); } catch (e) { body = {}; }
      if (request.status === 201) { renderDraft(item, body); return; }
      bar.remove();
      status.className = "error";
      status.textContent = body.detail || "The upload failed (" + request.status + ").";
      if (body.page_url) status.appendChild(el("a", { href: body.page_url }, " See the existing image."));
    });
    request.addEventListener("error", function () { status.textContent = "The connection failed."; });
    request.send(data);
  }

  function uploadAll(files) { Array.prototype.forEach.call(files, uploadOne); }

  input.addEventListener("change", function () { uploadAll(input.files); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (type) {
    zone.addEventListener(type, function () { zone.classList.remove("over"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files) uploadAll(event.dataTransfer.files);
  });

  // Drafts left from an earlier visit come back, ready to finish.
  send("GET", api).then(function (drafts) {
    drafts.forEach(function (draft) {
      var item = el("li", { "class": "upload-item" });
      list.appendChild(item);
      renderDraft(item, draft);
    });
  }).catch(function () {});
})();
