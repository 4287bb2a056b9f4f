// The remix tray: collect 2-5 images, combine their prompts, send the result to the generator.
// The tray lives in localStorage (it survives page changes); the combined prompt travels to the
// generate page in sessionStorage, with the sources the job records as the images' parents.
(function () {
  "use strict";

  var KEY = "atelier-remix-tray";
  var HANDOFF = "atelier-remix-handoff";
  var MAX = 5;

  function load() {
    try { return JSON.parse(window.localStorage.getItem(KEY) || "[]"); } catch (e) { return []; }
  }
  function save(items) { window.localStorage.setItem(KEY, JSON.stringify(items.slice(0, MAX))); }

  function csrf() {
    var headers = document.body.getAttribute("hx-headers");
    try { return JSON.parse(headers)["X-CSRFToken"]; } catch (e) { return ""; }
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  function render() {
    var tray = document.getElementById("remix-tray");
    if (!tray) return;
    var items = load();
    tray.hidden = items.length === 0;
    var list = tray.querySelector(".tray-items");
    list.textContent = "";
    items.forEach(function (item, index) {
      var li = el("li", { "data-image-id": item.id });
      var img = el("img", { src: item.thumb, alt: "Image " + item.id, width: "48", height: "48" });
      var label = el("span", { "class": "tray-label" }, String.fromCharCode(65 + index));
      var remove = el("button", { type: "button", "class": "tray-remove", "aria-label": "Remove image " + item.id }, "×");
      li.appendChild(label); li.appendChild(img); li.appendChild(remove);
      list.appendChild(li);
    });
    tray.querySelector(".tray-count").textContent = items.length + " / " + MAX;
    var weights = tray.querySelector(".tray-weights");
    weights.textContent = "";
    items.forEach(function (item, index) {
      var label = el("label", {}, String.fromCharCode(65 + index) + " ");
      var slider = el("input", { type: "range", min: "0", max: "2", step: "0.1", value: "1", "data-index": index });
      label.appendChild(slider);
      weights.appendChild(label);
    });
    var strategy = tray.querySelector("[name=strategy]").value;
    weights.hidden = strategy !== "weighted" && strategy !== "blend";
    tray.querySelector(".tray-combine").disabled = items.length < 2;
    reserveSpace(tray);
    document.querySelectorAll(".tray-add").forEach(function (button) {
      var inTray = items.some(function (i) { return String(i.id) === button.getAttribute("data-image-id"); });
      button.setAttribute("aria-pressed", inTray ? "true" : "false");
      button.textContent = inTray ? "In remix tray" : "Add to remix tray";
    });
  }

  // The tray is fixed over the bottom of the page (up to 45% of a phone's height): the page gets
  // as much room below its content, or its last controls (the Generate button) stay under it.
  function reserveSpace(tray) {
    document.body.style.paddingBottom = tray.hidden ? "" : tray.offsetHeight + "px";
  }

  function add(id, thumb) {
    var items = load();
    if (items.some(function (i) { return String(i.id) === String(id); })) {
      save(items.filter(function (i) { return String(i.id) !== String(id); }));
    } else if (items.length >= MAX) {
      window.alert("The remix tray holds at most " + MAX + " images.");
      return;
    } else {
      items.push({ id: parseInt(id, 10), thumb: thumb });
      save(items);
    }
    render();
  }

  var lastResult = null;

  function combine() {
    var tray = document.getElementById("remix-tray");
    var items = load();
    var strategy = tray.querySelector("[name=strategy]").value;
    var body = { sources: items.map(function (i) { return i.id; }), strategy: strategy };
    var budget = parseInt(tray.querySelector("[name=token_budget]").value, 10);
    if (budget > 0) body.token_budget = budget;
    if (strategy === "weighted" || strategy === "blend") {
      body.weights = Array.prototype.map.call(tray.querySelectorAll(".tray-weights input"), function (s) { return parseFloat(s.value); });
    }
    var status = tray.querySelector(".tray-status");
    status.textContent = "Combining…";
    fetch("/api/prompts/combine/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return { ok: response.ok, data: data }; });
    }).then(function (reply) {
      if (!reply.ok) { status.textContent = reply.data.detail || "The combine failed."; return; }
      lastResult = { data: reply.data, strategy: strategy };
      status.textContent = reply.data.tokens + " tokens" + (reply.data.dropped.length ? ", " + reply.data.dropped.length + " phrases left out to fit" : "");
      tray.querySelector("[name=result_prompt]").value = reply.data.prompt;
      tray.querySelector(".tray-copy").setAttribute("data-copy", reply.data.prompt);
      tray.querySelector("[name=result_negative]").value = reply.data.negative_prompt;
      var phrases = tray.querySelector(".tray-phrases");
      phrases.textContent = "";
      reply.data.phrases.forEach(function (p) {
        var index = reply.data.sources.indexOf(p.source);
        var span = el("span", { "class": "phrase role-" + p.role, title: p.role + " from image " + p.source }, p.text);
        span.appendChild(el("sub", {}, String.fromCharCode(65 + index)));
        phrases.appendChild(span);
      });
      var blendNote = tray.querySelector(".tray-blend");
      blendNote.hidden = !reply.data.blend.length;
      blendNote.querySelector("span").textContent = reply.data.blend.map(function (part) {
        return String.fromCharCode(65 + reply.data.sources.indexOf(part.source)) + " " + Math.round(part.weight * 100) + "%";
      }).join(", ");
      tray.querySelector(".tray-result").hidden = false;
      reserveSpace(tray);
    }, function () { status.textContent = "The combine failed: is the site reachable?"; });
  }

  function sendToGenerator() {
    var tray = document.getElementById("remix-tray");
    if (!lastResult) return;
    var handoff = {
      prompt: tray.querySelector("[name=result_prompt]").value,
      negative_prompt: tray.querySelector("[name=result_negative]").value,
      remix: {
        sources: lastResult.data.sources.filter(function (s) { return typeof s === "number"; }),
        strategy: lastResult.strategy,
        phrases: lastResult.data.phrases.map(function (p) { return { text: p.text, source: p.source }; })
      }
    };
    if (lastResult.data.blend.length) {
      handoff.remix.blend = lastResult.data.blend.map(function (part) { return { prompt: part.prompt, weight: part.weight }; });
    }
    window.sessionStorage.setItem(HANDOFF, JSON.stringify(handoff));
    window.location.href = "/generate/?remix=1";
  }

  function fillGenerateForm() {
    if (window.location.pathname !== "/generate/" || window.location.search.indexOf("remix=1") < 0) return;
    var raw = window.sessionStorage.getItem(HANDOFF);
    if (!raw) return;
    var handoff = JSON.parse(raw);
    var form = document.querySelector("form.gen-form");
    if (!form) return;
    form.querySelector("[name=prompt]").value = handoff.prompt;
    form.querySelector("[name=negative_prompt]").value = handoff.negative_prompt;
    form.querySelector("[name=remix]").value = JSON.stringify(handoff.remix);
    var note = document.getElementById("remix-note");
    if (note) {
      note.hidden = false;
      note.querySelector("span").textContent = handoff.remix.sources.join(", ") || "(prompts only)";
      note.querySelector(".remix-blend").hidden = !handoff.remix.blend;
    }
  }

  document.addEventListener("click", function (event) {
    var addButton = event.target.closest(".tray-add");
    if (addButton) { event.preventDefault(); add(addButton.getAttribute("data-image-id"), addButton.getAttribute("data-thumb")); return; }
    var remove = event.target.closest(".tray-remove");
    if (remove) { add(remove.closest("li").getAttribute("data-image-id")); return; }
    if (event.target.closest(".tray-combine")) { combine(); return; }
    if (event.target.closest(".tray-send")) { sendToGenerator(); return; }
    if (event.target.closest(".tray-clear")) { save([]); lastResult = null; render(); return; }
    var modifier = event.target.closest(".modifier");
    if (modifier) { addModifier(modifier.getAttribute("data-modifier")); }
  });
  // The enhancer page: a click on a modifier adds it to the draft prompt.
  function syncDraft() {
    var draft = document.getElementById("enhance-draft");
    if (!draft) return;
    document.getElementById("enhance-copy").setAttribute("data-copy", draft.value);
    document.getElementById("enhance-open").href = "/generate/?prompt=" + encodeURIComponent(draft.value);
  }
  function addModifier(text) {
    var draft = document.getElementById("enhance-draft");
    if (!draft) return;
    var value = draft.value.replace(/[\s,]+$/, "");
    draft.value = value ? value + ", " + text : text;
    syncDraft();
  }

  document.addEventListener("input", function (event) {
    if (event.target.id === "enhance-draft") syncDraft();
    if (event.target.matches("#remix-tray [name=result_prompt]")) {
      document.querySelector("#remix-tray .tray-copy").setAttribute("data-copy", event.target.value);
    }
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches("#remix-tray [name=strategy]")) render();
  });
  document.addEventListener("htmx:afterSwap", render);
  document.addEventListener("DOMContentLoaded", function () { render(); fillGenerateForm(); });
})();
