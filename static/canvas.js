// The canvas page: paint a mask (brush, eraser, rectangle, undo/redo, shortcuts), extend the
// picture with handles, and post an inpaint or outpaint job to /api/jobs/.
//
// The mask canvas has the source image's own resolution (white strokes on transparent); the
// extended area is masked by the server, which also makes the real pre-fill. What the page
// shows of the extension (edges stretched and blurred) is a preview of that pre-fill.
(function () {
  "use strict";

  var page = document.getElementById("canvas-page");
  if (!page) return;

  var SIDES = ["left", "top", "right", "bottom"];
  var STEP = 64, MIN_EXTEND = 64, MAX_EXTEND = 512, HISTORY = 50;
  var width = parseInt(page.dataset.width, 10);
  var height = parseInt(page.dataset.height, 10);
  var maxSide = parseInt(page.dataset.maxSide, 10);
  var stage = document.getElementById("canvas-stage");
  var view = document.getElementById("canvas-view");
  var maskCanvas = document.getElementById("canvas-mask");
  var mask = maskCanvas.getContext("2d");
  var form = document.getElementById("canvas-form");
  var errorBox = document.getElementById("canvas-error");
  var sizeInput = document.getElementById("brush-size");
  var sizeOutput = document.getElementById("brush-size-value");
  var undoButton = document.getElementById("undo");
  var redoButton = document.getElementById("redo");
  var extend = { left: 0, top: 0, right: 0, bottom: 0 };
  var tool = "brush";
  var undoStack = [], redoStack = [];
  var painted = false;

  var image = new Image();
  image.onload = redraw;
  image.src = page.dataset.image;
  maskCanvas.width = width;
  maskCanvas.height = height;

  // --- extension and preview ------------------------------------------------------------

  function canvasSize() {
    return [width + extend.left + extend.right, height + extend.top + extend.bottom];
  }

  function redraw() {
    var size = canvasSize();
    view.width = size[0];
    view.height = size[1];
    var ctx = view.getContext("2d");
    ctx.clearRect(0, 0, size[0], size[1]);
    if (image.complete && image.naturalWidth) {
      var l = extend.left, t = extend.top, r = extend.right, b = extend.bottom;
      // Edge-stretched copy: each border row/column drawn out to the canvas edge, then blurred.
      var stretched = document.createElement("canvas");
      stretched.width = size[0];
      stretched.height = size[1];
      var s = stretched.getContext("2d");
      s.drawImage(image, 0, 0, 1, height, 0, t, l, height);
      s.drawImage(image, width - 1, 0, 1, height, l + width, t, r, height);
      s.drawImage(image, 0, 0, width, 1, l, 0, width, t);
      s.drawImage(image, 0, height - 1, width, 1, l, t + height, width, b);
      s.drawImage(image, 0, 0, 1, 1, 0, 0, l, t);
      s.drawImage(image, width - 1, 0, 1, 1, l + width, 0, r, t);
      s.drawImage(image, 0, height - 1, 1, 1, 0, t + height, l, b);
      s.drawImage(image, width - 1, height - 1, 1, 1, l + width, t + height, r, b);
      ctx.filter = "blur(" + Math.max(4, Math.round(Math.max(l, t, r, b) / 8)) + "px)";
      ctx.drawImage(stretched, 0, 0);
      ctx.filter = "none";
      ctx.drawImage(image, l, t);
    }
    // The mask layer sits over the source's area, in the stage's scaled coordinates.
    maskCanvas.style.left = (100 * extend.left / size[0]) + "%";
    maskCanvas.style.top = (100 * extend.top / size[1]) + "%";
    maskCanvas.style.width = (100 * width / size[0]) + "%";
    maskCanvas.style.height = (100 * height / size[1]) + "%";
    stage.classList.toggle("extended", isOutpaint());
    stage.style.setProperty("--extend-left", (100 * extend.left / size[0]) + "%");
    stage.style.setProperty("--extend-top", (100 * extend.top / size[1]) + "%");
    stage.style.setProperty("--extend-right", (100 * extend.right / size[0]) + "%");
    stage.style.setProperty("--extend-bottom", (100 * extend.bottom / size[1]) + "%");
    document.getElementById("canvas-size").textContent =
      size[0] + " × " + size[1] + (isOutpaint() ? " (outpaint)" : "");
    SIDES.forEach(function (side) {
      form.elements["extend_" + side].value = String(extend[side]);
    });
  }

  function isOutpaint() {
    return SIDES.some(function (side) { return extend[side] > 0; });
  }

  function setExtend(side, amount) {
    // Snap to the handles' grid: 0, or 64 to 512 in steps of 64.
    amount = Math.round(amount / STEP) * STEP;
    amount = amount < MIN_EXTEND ? 0 : Math.min(MAX_EXTEND, amount);
    var horizontal = side === "left" || side === "right";
    var other = horizontal ? extend[side === "left" ? "right" : "left"] : extend[side === "top" ? "bottom" : "top"];
    var base = horizontal ? width : height;
    while (amount > 0 && base + other + amount > maxSide) amount -= STEP;
    if (amount > 0 && amount < MIN_EXTEND) amount = 0;
    if (extend[side] === amount) return;
    extend[side] = amount;
    redraw();
  }

  SIDES.forEach(function (side) {
    form.elements["extend_" + side].addEventListener("change", function (event) {
      setExtend(side, parseInt(event.target.value, 10) || 0);
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll(".extend-handle"), function (handle) {
    var side = handle.dataset.side;
    handle.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      handle.setPointerCapture(event.pointerId);
      var startX = event.clientX, startY = event.clientY, start = extend[side];
      var scale = canvasSize()[0] / stage.getBoundingClientRect().width;
      function move(e) {
        var dx = (e.clientX - startX) * scale, dy = (e.clientY - startY) * scale;
        var outward = { left: -dx, right: dx, top: -dy, bottom: dy }[side];
        setExtend(side, start + outward);
      }
      function up() {
        handle.removeEventListener("pointermove", move);
        handle.removeEventListener("pointerup", up);
      }
      handle.addEventListener("pointermove", move);
      handle.addEventListener("pointerup", up);
    });
    handle.addEventListener("keydown", function (event) {
      // Arrow keys grow or shrink the side the handle is on.
      var grow = { left: "ArrowLeft", right: "ArrowRight", top: "ArrowUp", bottom: "ArrowDown" }[side];
      var shrink = { left: "ArrowRight", right: "ArrowLeft", top: "ArrowDown", bottom: "ArrowUp" }[side];
      if (event.key === grow) { setExtend(side, Math.max(MIN_EXTEND, extend[side] + STEP)); event.preventDefault(); }
      if (event.key === shrink) { setExtend(side, extend[side] - STEP); event.preventDefault(); }
    });
  });

  // --- painting ---------------------------------------------------------------------------

  function selectTool(name) {
    tool = name;
    Array.prototype.forEach.call(document.querySelectorAll("[data-tool]"), function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === name));
    });
    maskCanvas.dataset.tool = name;
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-tool]"), function (button) {
    button.addEventListener("click", function () { selectTool(button.dataset.tool); });
  });

  function brushSize() { return parseInt(sizeInput.value, 10) || 1; }

  function setBrushSize(value) {
    sizeInput.value = String(Math.max(1, Math.min(256, value)));
    sizeOutput.textContent = sizeInput.value;
  }
  sizeInput.addEventListener("input", function () { setBrushSize(brushSize()); });

  function snapshot() {
    undoStack.push(mask.getImageData(0, 0, width, height));
    if (undoStack.length > HISTORY) undoStack.shift();
    redoStack = [];
    updateHistoryButtons();
  }

  function restore(from, to) {
    if (!from.length) return;
    to.push(mask.getImageData(0, 0, width, height));
    mask.putImageData(from.pop(), 0, 0);
    updateHistoryButtons();
  }

  function updateHistoryButtons() {
    undoButton.disabled = !undoStack.length;
    redoButton.disabled = !redoStack.length;
  }

  undoButton.addEventListener("click", function () { restore(undoStack, redoStack); });
  redoButton.addEventListener("click", function () { restore(redoStack, undoStack); });
  document.getElementById("clear-mask").addEventListener("click", function () {
    snapshot();
    mask.clearRect(0, 0, width, height);
  });

  function toMask(event) {
    var box = maskCanvas.getBoundingClientRect();
    return [(event.clientX - box.left) * width / box.width, (event.clientY - box.top) * height / box.height];
  }

  var drawing = null;

  maskCanvas.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    maskCanvas.setPointerCapture(event.pointerId);
    snapshot();
    var at = toMask(event);
    drawing = { start: at, last: at, before: mask.getImageData(0, 0, width, height) };
    if (tool !== "rect") stroke(at, at);
  });

  maskCanvas.addEventListener("pointermove", function (event) {
    if (!drawing) return;
    var at = toMask(event);
    if (tool === "rect") {
      mask.putImageData(drawing.before, 0, 0);
      rectangle(drawing.start, at);
    } else {
      stroke(drawing.last, at);
    }
    drawing.last = at;
  });

  function finish() {
    if (drawing) painted = true;
    drawing = null;
  }
  maskCanvas.addEventListener("pointerup", finish);
  maskCanvas.addEventListener("pointercancel", finish);

  function stroke(from, to) {
    mask.globalCompositeOperation = tool === "eraser" ? "destination-out" : "source-over";
    mask.strokeStyle = "#fff";
    mask.lineWidth = brushSize();
    mask.lineCap = "round";
    mask.lineJoin = "round";
    mask.beginPath();
    mask.moveTo(from[0], from[1]);
    mask.lineTo(to[0], to[1]);
    mask.stroke();
    mask.globalCompositeOperation = "source-over";
  }

  function rectangle(a, b) {
    mask.fillStyle = "#fff";
    mask.fillRect(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]));
  }

  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.target.isContentEditable) return;
    var key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === "z") {
      event.preventDefault();
      if (event.shiftKey) restore(redoStack, undoStack); else restore(undoStack, redoStack);
      return;
    }
    if ((event.ctrlKey || event.metaKey) && key === "y") {
      event.preventDefault();
      restore(redoStack, undoStack);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (key === "b") selectTool("brush");
    else if (key === "e") selectTool("eraser");
    else if (key === "r") selectTool("rect");
    else if (key === "[") setBrushSize(brushSize() - Math.max(1, Math.round(brushSize() / 5)));
    else if (key === "]") setBrushSize(brushSize() + Math.max(1, Math.round(brushSize() / 5)));
    else return;
    event.preventDefault();
  });

  // --- submitting -------------------------------------------------------------------------

  function maskIsEmpty() {
    var data = mask.getImageData(0, 0, width, height).data;
    for (var i = 3; i < data.length; i += 4) if (data[i] > 127) return false;
    return true;
  }

  function maskDataUrl() {
    // White strokes over black, the convention of diffusers and A1111.
    var out = document.createElement("canvas");
    out.width = width;
    out.height = height;
    var ctx = out.getContext("2d");
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, width, height);
    ctx.drawImage(maskCanvas, 0, 0);
    return out.toDataURL("image/png");
  }

  function number(name) {
    var value = form.elements[name].value;
    return value === "" ? null : Number(value);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errorBox.textContent = "";
    var outpaint = isOutpaint();
    var empty = !painted || maskIsEmpty();
    if (!outpaint && empty) {
      errorBox.textContent = "Paint the area to change, or extend the picture, first.";
      return;
    }
    var body = {
      mode: outpaint ? "outpaint" : "inpaint",
      source_image: parseInt(page.dataset.source, 10),
      prompt: form.elements.prompt.value,
      negative_prompt: form.elements.negative_prompt.value,
      model: form.elements.model.value,
      scheduler: form.elements.scheduler.value,
      strength: number("strength"),
      steps: number("steps"),
      cfg_scale: number("cfg_scale"),
      seed: number("seed"),
      mask_blur: number("mask_blur"),
      only_masked: form.elements.only_masked.checked
    };
    if (!empty) body.mask = maskDataUrl();
    if (outpaint) body.extend = extend;
    var button = document.getElementById("canvas-submit");
    button.disabled = true;
    fetch(page.dataset.api, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": form.elements.csrfmiddlewaretoken.value
      },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) { return [response, data]; });
    }).then(function (pair) {
      if (pair[0].status === 201) {
        window.location.href = pair[1].page_url;
        return;
      }
      errorBox.textContent = pair[1].detail || ("The job was refused (" + pair[0].status + ").");
      button.disabled = false;
    }).catch(function () {
      errorBox.textContent = "The site could not be reached; try again.";
      button.disabled = false;
    });
  });

  selectTool("brush");
  setBrushSize(Math.max(4, Math.round(Math.min(width, height) / 16)));
  redraw();
})();
