// Activation atlas: the cells of a dataset's layout drawn as icons, faded by density. Zoom (the
// buttons or the wheel) steps through the resolutions already in the browser; hovering a cell
// shows its icon large, its count, top classes and the dataset patches its vectors came from;
// a linked position of one image is marked where its vector lies on the atlas.

import { unpackArray } from "../arrays.js";
import { clear, fmt, h } from "../dom.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { cellUnder, density, indexLevel, unitColor, placeOf } from "../atlas_cells.js";
import { entries } from "../ranking.js";
import { read } from "../picture.js";

const SIDE = 480;
const BACKGROUND = "#f4f4f4";

export function activationAtlas(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const canvas = h("canvas", { class: "nb-atlas-canvas", width: String(SIDE), height: String(SIDE) });
  const details = h("div", { class: "nb-atlas-details" });
  const zoomOut = h("button", { class: "nb-button", "data-zoom": "out", text: "−" });
  const zoomIn = h("button", { class: "nb-button", "data-zoom": "in", text: "+" });
  const zoomLabel = h("span", { class: "nb-caption nb-atlas-resolution" });
  const filter = h("select", { class: "nb-atlas-filter" });
  const summary = h("div", { class: "nb-caption nb-atlas-summary" });
  const images = new Map(); // icon key → [url, Image]
  let levels = [];
  let samples = null;
  let places = null;
  let hovered = -1;
  let paintStarted = 0;

  const level = () => levels.find((l) => l.size === model.get("resolution")) || levels[0];
  const key = (m) => `${level().size}:${m}`;
  const topClass = (lv, m) => entries(lv.top, m).find((e) => e.value > 0);

  const iconImage = (k) => {
    const url = icons.source(k);
    if (!url) return null;
    const known = images.get(k);
    if (known && known[0] === url) return known[1].complete ? known[1] : null;
    const img = new Image();
    img.onload = redraw;
    img.src = url;
    images.set(k, [url, img]);
    return null;
  };

  const draw = () => {
    const lv = level();
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = BACKGROUND; // light: a sparse cell's icon fades towards paper, not into black
    ctx.fillRect(0, 0, SIDE, SIDE);
    if (!lv) return;
    const cell = SIDE / lv.size;
    const only = model.get("class_filter");
    for (let m = 0; m < lv.counts.shape[0]; m++) {
      const [row, col] = [lv.where.values[2 * m], lv.where.values[2 * m + 1]];
      const top = topClass(lv, m);
      const dimmed = only != null && (!top || top.index !== only);
      ctx.globalAlpha = dimmed ? 0.08 : density(lv.counts.values[m], lv.max);
      const img = iconImage(key(m));
      if (img) ctx.drawImage(img, col * cell, row * cell, cell, cell);
      else {
        ctx.fillStyle = "#c8c8c8";
        ctx.fillRect(col * cell + 1, row * cell + 1, cell - 2, cell - 2);
      }
    }
    ctx.globalAlpha = 1;
    if (lv.leading) {
      // Each cell framed in its leading unit's colour; the hovered cell's unit, in bold everywhere.
      const lead = hovered >= 0 ? lv.leading.values[hovered] : -1;
      for (let m = 0; m < lv.counts.shape[0]; m++) {
        const k = lv.leading.values[m];
        if (k < 0) continue;
        const [row, col] = [lv.where.values[2 * m], lv.where.values[2 * m + 1]];
        ctx.strokeStyle = unitColor(k);
        ctx.lineWidth = k === lead ? 3 : 1;
        ctx.strokeRect(col * cell + 1, row * cell + 1, cell - 2, cell - 2);
      }
    }
    if (hovered >= 0) {
      const [row, col] = [lv.where.values[2 * hovered], lv.where.values[2 * hovered + 1]];
      ctx.strokeStyle = "#111";
      ctx.lineWidth = 2;
      ctx.strokeRect(col * cell + 1, row * cell + 1, cell - 2, cell - 2);
    }
    const place = placeOf(places, model.get("position"));
    canvas.dataset.marked = place ? place.map((v) => v.toFixed(3)).join(",") : "";
    if (place) {
      ctx.strokeStyle = "#ff7f0e";
      ctx.lineWidth = 3;
      ctx.beginPath();
      ctx.arc(place[0] * SIDE, place[1] * SIDE, 9, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (paintStarted) {
      // Hover latency, painted: from the pointer event to the end of the frame that shows it.
      const started = paintStarted;
      paintStarted = 0;
      requestAnimationFrame(() => (canvas.dataset.paintMs = (performance.now() - started).toFixed(2)));
    }
  };
  const redraw = scope.perFrame(draw);
  const icons = new IconBook(scope, redraw);

  // `shown`: an example's index among the samples sent (the shown ones), its tile in the sprite.
  const patch = (shown) => {
    const sprite = model.get("sprite");
    const side = sprite.side;
    const [r, c] = [Math.floor(shown / sprite.columns), shown % sprite.columns];
    const [y, x] = [samples.positions.values[2 * shown], samples.positions.values[2 * shown + 1]];
    const [gh, gw] = [samples.grids.values[2 * shown], samples.grids.values[2 * shown + 1]];
    const box = h("div", { class: "nb-atlas-patch", style: { width: `${side}px`, height: `${side}px`, backgroundImage: `url(${spriteUrl})`, backgroundPosition: `-${c * side}px -${r * side}px` } });
    return h("figure", { class: "nb-atlas-example", "data-image": String(samples.images.values[shown]) }, box,
      h("figcaption", { text: `image ${samples.images.values[shown]} · [${y}, ${x}] of ${gh}×${gw}` }));
  };

  const showDetails = () => {
    clear(details);
    const lv = level();
    details.dataset.cell = hovered >= 0 ? String(hovered) : "";
    if (!lv || hovered < 0) {
      details.append(h("div", { class: "nb-hint", text: "Hover a cell: its icon, how many vectors it holds, the classes it supports and the dataset patches they came from." }));
      return;
    }
    const labels = model.get("labels");
    const list = h("ol", { class: "nb-atlas-classes" });
    for (const e of entries(lv.top, hovered)) list.append(h("li", { text: `${labels[e.index] ?? `class ${e.index}`} ${fmt(e.value)}` }));
    const strip = h("div", { class: "nb-atlas-examples" });
    for (let j = 0; j < lv.examples.shape[1]; j++) {
      const shown = lv.examples.values[hovered * lv.examples.shape[1] + j];
      if (shown >= 0) strip.append(patch(shown));
    }
    const [row, col] = [lv.where.values[2 * hovered], lv.where.values[2 * hovered + 1]];
    const ranked = lv.top.index.shape[1] > 0; // an aligned atlas's cells have no class attribution
    const k = lv.leading ? lv.leading.values[hovered] : -1;
    const latent = k < 0 ? null : h("div", { class: "nb-entry nb-atlas-latent", "data-latent": String(k) },
      icons.tile(`${model.get("unit_key")}:${k}`, `${model.get("noun")} ${k}`),
      h("div", { class: "nb-entry-text" },
        h("div", { style: { color: unitColor(k) }, text: `${model.get("noun")} ${k}` }),
        h("div", { class: "nb-value", text: `mean code ${fmt(lv.leadingCode.values[hovered])}` })));
    details.append(
      icons.tile(key(hovered), `cell [${row}, ${col}]`, 128),
      h("div", { class: "nb-atlas-count", text: `cell [${row}, ${col}] of ${lv.size}×${lv.size} · ${lv.counts.values[hovered]} vectors` }),
      latent ? h("div", { class: "nb-caption", text: `leading ${model.get("noun")} (${model.get("found_by")})` }) : null, latent,
      ranked ? h("div", { class: "nb-caption", text: "top classes (attribution)" }) : null, ranked ? list : null, strip,
    );
  };

  const zoomTo = (step) => {
    const i = levels.indexOf(level()) + step;
    if (i < 0 || i >= levels.length) return;
    hovered = -1;
    scope.select("resolution", levels[i].size); // the kernel streams that resolution's icons
  };

  const showLevel = () => {
    const lv = level();
    zoomLabel.textContent = lv ? `${lv.size}×${lv.size} · ${lv.counts.shape[0]} cells` : "";
    canvas.dataset.resolution = lv ? String(lv.size) : "";
    zoomOut.disabled = !lv || levels.indexOf(lv) === 0;
    zoomIn.disabled = !lv || levels.indexOf(lv) === levels.length - 1;
    clear(filter);
    filter.append(h("option", { value: "", text: "all classes" }));
    const labels = model.get("labels");
    const present = new Set();
    for (let m = 0; lv && m < lv.counts.shape[0]; m++) {
      const top = topClass(lv, m);
      if (top) present.add(top.index);
    }
    for (const c of [...present].sort((a, b) => a - b)) filter.append(h("option", { value: String(c), text: labels[c] ?? `class ${c}` }));
    filter.style.display = present.size ? "" : "none"; // nothing to filter by: no menu
    filter.value = model.get("class_filter") == null ? "" : String(model.get("class_filter"));
    showDetails();
    redraw();
  };

  let spriteUrl = "";
  const build = () => {
    const raw = model.get("levels") || [];
    if (!raw.length) return;
    levels = raw.map((l) => indexLevel(l, unpackArray));
    const s = model.get("samples");
    samples = { images: unpackArray(s.images), positions: unpackArray(s.positions), grids: unpackArray(s.grids) };
    spriteUrl = scope.url(model.get("sprite").jpeg, "image/jpeg");
    places = read(model, "places");
    f.setTitle(`Activation atlas · ${model.get("name") ? `${model.get("name")} · ` : ""}${model.get("layer")}`);
    summary.textContent = model.get("summary");
    clear(f.body);
    f.body.append(
      h("div", { class: "nb-panel" }, h("div", { class: "nb-atlas-controls" }, zoomOut, zoomIn, zoomLabel, filter), canvas, summary),
      details,
    );
    showLevel();
  };

  scope.listen(canvas, "mousemove", (event) => {
    const r = canvas.getBoundingClientRect();
    const m = cellUnder(level(), ((event.clientX - r.left) * SIDE) / r.width, ((event.clientY - r.top) * SIDE) / r.height, SIDE);
    if (m === hovered) return;
    paintStarted = performance.now();
    hovered = m;
    showDetails();
    draw();
  });
  scope.listen(canvas, "mouseleave", () => {
    hovered = -1;
    showDetails();
    redraw();
  });
  scope.listen(canvas, "wheel", (event) => {
    event.preventDefault();
    zoomTo(event.deltaY < 0 ? 1 : -1);
  }, { passive: false });
  scope.listen(zoomIn, "click", () => zoomTo(1));
  scope.listen(zoomOut, "click", () => zoomTo(-1));
  scope.listen(filter, "change", () => scope.select("class_filter", filter.value === "" ? null : Number(filter.value)));

  scope.on("change:levels", build);
  scope.on("change:places", () => { places = read(model, "places"); redraw(); });
  scope.on("change:resolution", showLevel);
  scope.on("change:class_filter", redraw);
  scope.on("change:position", redraw);
  build();
}
