// Accessibility probes run in the page by tests/browser/test_accessibility.py.
// Each is one arrow function (page.evaluate calls it); no page script is changed.
({
  ACCENT: "rgb(138, 180, 255)",  // --accent in static/atelier.css
  // What the keyboard focus is on now, and whether a person can see it there.
  focused() {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const visible = (node) => {
      const s = getComputedStyle(node);
      const ring = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 1 &&
        !/rgba\(.*, 0\)$/.test(s.outlineColor);
      return ring || s.boxShadow !== "none";
    };
    const rect = el.getBoundingClientRect();
    // A visually hidden control (the upload page's file input) shows focus on its label; a
    // control under an overlay (a gallery tile's link) may show it on the tile around it.
    const tiny = rect.width <= 2 || rect.height <= 2;
    const candidates = [];
    if (tiny) {
      const label = el.closest("label");
      if (label && label.matches(":focus-within") &&
          getComputedStyle(label).borderTopColor === this.ACCENT) candidates.push(label);
    } else {
      for (let node = el, up = 0; node && up < 3; node = node.parentElement, up++) {
        if ((node === el || node.matches(":focus-within")) && visible(node)) candidates.push(node);
      }
    }
    const uncovered = (node) => {
      const box = node.getBoundingClientRect();
      const x = Math.min(Math.max(box.left + box.width / 2, 0), innerWidth - 1);
      const y = Math.min(Math.max(box.top + Math.min(box.height / 2, 10), 0), innerHeight - 1);
      const top = document.elementFromPoint(x, y);
      return !!top && (node.contains(top) || top.contains(node));
    };
    const shown = candidates.find(uncovered) || candidates[0] || null;
    const target = shown || el;
    const box = target.getBoundingClientRect();
    return {
      key: el.id || (el.tagName + ":" + (el.getAttribute("href") || el.name || el.textContent.trim().slice(0, 30))),
      ring: !!shown,
      onScreen: box.bottom > 0 && box.top < innerHeight && box.right > 0 && box.left < innerWidth,
      uncovered: uncovered(target),
    };
  },
  // Every control a keyboard user should be able to reach on this page.
  controls: () => Array.from(document.querySelectorAll(
    "a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])"
  )).filter((el) => !el.disabled && el.type !== "hidden" && el.tabIndex >= 0 &&
      getComputedStyle(el).visibility !== "hidden" && el.getClientRects().length > 0 &&
      // A closed <details> keeps layout boxes for its content in Chromium (content-visibility),
      // but nothing in it except the summary can take focus until it is opened.
      !(el.closest("details:not([open])") && !el.closest("summary")) &&
      !el.closest(".tile-full"))
    .map((el) => el.id || (el.tagName + ":" + (el.getAttribute("href") || el.name || el.textContent.trim().slice(0, 30)))),
  // Text whose contrast with what is behind it is below WCAG AA (4.5:1, 3:1 for large text).
  lowContrast: () => {
    const parse = (c) => {
      const m = c.match(/rgba?\(([^)]+)\)/);
      if (!m) return [0, 0, 0, 0];
      const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    };
    const over = (top, under) => {
      const a = top[3];
      return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]);
    };
    const background = (el) => {
      const layers = [];
      for (let node = el; node; node = node.parentElement) {
        const bg = parse(getComputedStyle(node).backgroundColor);
        if (bg[3] > 0) layers.push(bg);
        if (bg[3] >= 1) break;
      }
      let colour = [255, 255, 255, 1];
      for (const layer of layers.reverse()) colour = over(layer, colour);
      return colour;
    };
    const luminance = (c) => {
      const [r, g, b] = c.slice(0, 3).map((v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const failures = [];
    let checked = 0;
    for (const el of document.querySelectorAll("body *")) {
      const text = Array.from(el.childNodes).filter((n) => n.nodeType === 3)
        .map((n) => n.textContent).join("").trim();
      if (!text || el.closest(".visually-hidden, [aria-hidden=true]") || el.disabled) continue;
      const s = getComputedStyle(el);
      if (s.visibility === "hidden" || parseFloat(s.opacity) === 0 || el.getClientRects().length === 0) continue;
      const bg = background(el);
      const fg = over(parse(s.color), bg);
      const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
      const ratio = (hi + 0.05) / (lo + 0.05);
      const size = parseFloat(s.fontSize);
      const large = size >= 24 || (size >= 18.66 && parseInt(s.fontWeight, 10) >= 700);
      checked += 1;
      if (ratio < (large ? 3 : 4.5)) {
        failures.push(`${el.tagName}.${el.className} "${text.slice(0, 40)}": ${ratio.toFixed(2)}`);
      }
    }
    return { checked, failures };
  },
})
