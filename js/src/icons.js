// Feature-visualization icons as they stream in: a placeholder until the kernel sends a
// preview, then the preview, then the final render at the view's quick budget, then (for icons
// on screen, which the book reports to the kernel) the render at the full budget. Batches arrive as messages with binary
// buffers while they render; the finished set arrives in the `icons` trait (which is also what
// a view displayed again, or an exported page, starts from).

import { isBinary } from "./arrays.js";
import { fmt, h } from "./dom.js";

// Whether a render could not raise its objective ([first, last] step values): the icon shows a
// unit that barely responds to any image, not what it detects.
export function barelyResponds(response) {
  if (!response) return false;
  const [first, last] = response;
  return last - first <= 1e-6 * Math.max(1, Math.abs(first));
}

// `fn` run once `ms` after the last call; `scope` clears a pending run when the view goes.
function debounce(scope, fn, ms) {
  let timer = 0;
  scope.undo.push(() => clearTimeout(timer));
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
  };
}

export class IconBook {
  constructor(scope, onChange = () => {}) {
    this.scope = scope;
    this.onChange = onChange;
    this.live = new Map(); // key → {png, stage}, from messages
    this.tiles = new Map(); // key → [img element]
    this.urls = new Map(); // key → [signature, url]
    this.seen = new Set(); // keys on screen, not yet reported
    this.reported = new Set(); // keys reported since the view's content last changed
    this.onScreen = new Set(); // watched elements now in view
    this.report = debounce(scope, () => {
      const keys = [...this.seen].filter((k) => !this.reported.has(k));
      this.seen.clear();
      if (!keys.length) return;
      for (const k of keys) this.reported.add(k);
      scope.model.send({ action: "visible", keys });
    }, 400);
    this.strips = []; // exemplar strips drawn, repainted when the kernel sends them
    this.labels = []; // unit label lines drawn
    scope.on("change:exemplars", () => {
      this.strips = this.strips.filter((img) => img.isConnected);
      for (const img of this.strips) this.paintStrip(img);
    });
    scope.on("change:unit_labels", () => {
      this.labels = this.labels.filter((line) => line.isConnected);
      for (const line of this.labels) this.paintLabel(line);
    });
    this.drawn = new Map(); // element drawing many icons (a canvas) → the keys it draws
    this.watch = typeof IntersectionObserver === "undefined" || scope.model.offline ? null : new IntersectionObserver((entries) => {
      for (const e of entries) {
        if (e.isIntersecting) this.onScreen.add(e.target);
        else this.onScreen.delete(e.target);
      }
      this.look();
    });
    if (this.watch) scope.undo.push(() => this.watch.disconnect());
    // Hosts differ: JupyterLab hands buffers over as DataViews, Colab as Uint8Arrays, and some
    // paths drop them. An icon whose bytes did not come is skipped; the `icons` trait brings it.
    scope.on("msg:custom", (content, buffers) => {
      if (!content || !content.icons) return;
      for (const [key, { stage, response, buffer }] of Object.entries(content.icons)) {
        const png = buffers && buffers[buffer];
        if (isBinary(png)) this.live.set(key, { png, stage, response });
      }
      this.refresh();
    });
    scope.on("change:icons", () => {
      const stored = this.scope.model.get("icons") || {};
      if (!Object.keys(stored).length) {
        this.live.clear(); // the view recomputed: start over
        this.reported.clear();
      }
      for (const key of Object.keys(stored)) this.live.delete(key);
      this.refresh();
    });
  }

  // The unit's top dataset crops (the `exemplars` trait), kept current; hidden until the kernel has them.
  exemplars(key) {
    const img = h("img", { class: "nb-exemplars", alt: "", "data-key": key });
    this.strips.push(img);
    this.paintStrip(img);
    return img;
  }

  paintStrip(img) {
    const found = (this.scope.model.get("exemplars") || {})[img.dataset.key];
    img.style.display = found && isBinary(found.png) ? "" : "none";
    if (!found || !isBinary(found.png)) return;
    const signature = `${img.dataset.key}:${found.png.byteLength}`;
    if (img.dataset.signature !== signature) {
      img.dataset.signature = signature;
      img.src = this.scope.url(found.png);
    }
    img.title = found.title;
  }

  // A line with the unit's label by the library's one rule (the `unit_labels` trait), its
  // evidence in the tooltip; empty until the kernel has it.
  label(key, prefix = "") {
    const line = h("span", { class: "nb-unit-label", "data-key": key, "data-prefix": prefix });
    this.labels.push(line);
    this.paintLabel(line);
    return line;
  }

  paintLabel(line) {
    const found = (this.scope.model.get("unit_labels") || {})[line.dataset.key];
    line.textContent = found ? `${line.dataset.prefix}${found.text}` : "";
    line.title = found ? `${found.source ? `labelled by ${found.source}` : "no evidence strong enough for a label"} — ${found.evidence}` : "";
    line.dataset.source = found ? found.source : "";
  }

  // Queue the keys of what is on screen for the kernel, which refines them to the full budget.
  look() {
    for (const el of this.onScreen) {
      if (!el.isConnected) {
        this.onScreen.delete(el);
        continue;
      }
      const keys = this.drawn.has(el) ? this.drawn.get(el)() : [el.dataset.key];
      for (const key of keys) if (this.get(key) && this.get(key).stage !== "full") this.seen.add(key);
    }
    if (this.seen.size) this.report();
  }

  // Report `keys()` as on screen whenever `element` (a canvas drawing many icons) comes into view.
  watchDrawn(element, keys) {
    this.drawn.set(element, keys);
    if (this.watch) this.watch.observe(element);
  }

  get(key) {
    return this.live.get(key) || (this.scope.model.get("icons") || {})[key] || null;
  }

  keys() {
    return new Set([...Object.keys(this.scope.model.get("icons") || {}), ...this.live.keys()]);
  }

  // An <img> for `key`, kept current; `label` names it while it is a placeholder.
  tile(key, label, size = 56) {
    // No alt text: a placeholder is the hatched box itself, not a broken-image label.
    const img = h("img", { class: "nb-icon", alt: "", title: label, "data-key": key, "data-label": label, style: { width: `${size}px`, height: `${size}px` } });
    if (!this.tiles.has(key)) this.tiles.set(key, []);
    this.tiles.get(key).push(img);
    this.paint(key, img);
    if (this.watch) this.watch.observe(img);
    return img;
  }

  // An object URL of the icon's PNG, or null while it has not arrived.
  source(key) {
    const icon = this.get(key);
    if (!icon) return null;
    // Every sync brings new byte views of the same icons: compare what they hold.
    const signature = `${icon.stage}:${icon.png.byteLength}`;
    const known = this.urls.get(key);
    if (known && known[0] === signature) return known[1];
    const url = this.scope.url(icon.png);
    this.urls.set(key, [signature, url]);
    return url;
  }

  paint(key, img) {
    const icon = this.get(key);
    img.dataset.stage = icon ? icon.stage : "placeholder";
    img.classList.toggle("nb-icon-preview", !!icon && icon.stage === "preview");
    const flat = icon && barelyResponds(icon.response);
    img.classList.toggle("nb-icon-flat", !!flat);
    if (flat) img.title = `${img.dataset.label}: barely responds (its render moved the objective from ${fmt(icon.response[0])} to ${fmt(icon.response[1])})`;
    else img.title = img.dataset.label;
    if (icon) img.src = this.source(key);
    else img.removeAttribute("src");
  }

  refresh() {
    for (const [key, imgs] of this.tiles) {
      const live = imgs.filter((img) => img.isConnected);
      this.tiles.set(key, live);
      for (const img of live) this.paint(key, img);
    }
    this.look(); // icons that arrived on screen
    this.onChange();
  }

  forget() {
    this.tiles.clear();
    this.strips = [];
    this.labels = [];
  }
}
