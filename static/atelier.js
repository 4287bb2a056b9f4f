// Atelier's few behaviours: copy buttons, keyboard navigation between images.
(function () {
  "use strict";

  function toast(text) {
    var el = document.getElementById("toast");
    if (!el) return;
    el.textContent = text;
    el.classList.add("show");
    window.clearTimeout(el._timer);
    el._timer = window.setTimeout(function () { el.classList.remove("show"); }, 1500);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-http deployments: the older execCommand path still works there.
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    event.preventDefault();
    copyText(button.getAttribute("data-copy")).then(
      function () { toast("Copied"); },
      function () { toast("Copy failed: select the text and copy it by hand"); }
    );
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) return;
    var rel = event.key === "ArrowLeft" ? "prev" : event.key === "ArrowRight" ? "next" : null;
    if (!rel) return;
    var link = document.querySelector('a[rel="' + rel + '"]');
    if (link) { window.location.href = link.href; }
  });

  // Likes: flip the button at once (optimistic), let the server's fragment confirm or correct
  // it, and flip back if the request fails.
  function flipLike(form) {
    var button = form.querySelector("button.like");
    var count = form.querySelector(".like-count");
    if (!button || !count) return;
    var liked = button.getAttribute("aria-pressed") === "true";
    button.setAttribute("aria-pressed", liked ? "false" : "true");
    button.classList.toggle("liked", !liked);
    count.textContent = String(Math.max(0, parseInt(count.textContent, 10) + (liked ? -1 : 1)));
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.target.closest && event.target.closest(".like-form");
    if (form) flipLike(form);
  });
  ["htmx:responseError", "htmx:sendError"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var form = event.target.closest && event.target.closest(".like-form");
      if (form) { flipLike(form); toast("Could not save your like"); }
    });
  });

  // Blurred mature images: one click (or Enter/Space on the button) shows the image.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-unblur]");
    if (!button) return;
    event.preventDefault();
    var box = button.closest(".blurred");
    if (box) box.classList.remove("blurred");
    button.remove();
  });

  // Forms that destroy something ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target.closest("[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
  });
})();
