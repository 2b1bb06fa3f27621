// Activation grid: each position drawn as the icon of its activation vector (cell area scaled
// by the vector's length when `scale` is on), or the overview: the image coloured by the first
// three principal components. Cells without an icon yet are neutral gray placeholders.

import { clear, h } from "../dom.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { Picture, read } from "../picture.js";
import { prefixToken } from "../ranking.js";

const SIDE = 320;
const PLACEHOLDER = "#3a3a3a";

export function activationGrid(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const icons = new IconBook(scope, () => loadIcons());
  const canvas = h("canvas", { class: "nb-grid-canvas", width: String(SIDE), height: String(SIDE) });
  icons.watchDrawn(canvas, () => [...icons.keys()]);
  const modeButton = h("button", { class: "nb-button" });
  const scaleBox = h("input", { type: "checkbox" });
  const controls = h("div", { class: "nb-controls" }, modeButton, h("label", {}, scaleBox, " scale by magnitude"));
  const hovered = h("div", { class: "nb-grid-exemplars" }); // the hovered cell's dataset crops, once the kernel has them
  let picture = null;
  let mags = null;
  let colours = null;
  let maxMag = 1;
  const images = new Map(); // "y,x" → loaded icon

  const draw = () => {
    if (!mags) return;
    const [rows, cols] = mags.shape;
    const ctx = canvas.getContext("2d");
    const cw = SIDE / cols;
    const ch = SIDE / rows;
    ctx.fillStyle = "#111";
    ctx.fillRect(0, 0, SIDE, SIDE);
    const overview = model.get("mode") === "overview";
    if (overview) ctx.drawImage(picture.img, 0, 0, SIDE, SIDE);
    let pending = 0; // cells still drawn as placeholders, waiting for an icon
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        const p = y * cols + x;
        if (overview) {
          const [r, g, b] = colours.values.subarray(p * 3, p * 3 + 3);
          ctx.fillStyle = `rgba(${r}, ${g}, ${b}, 0.75)`;
          ctx.fillRect(x * cw, y * ch, cw, ch);
          continue;
        }
        const k = model.get("scale") ? Math.sqrt(mags.values[p] / maxMag) : 1;
        const [w, hh] = [cw * k, ch * k];
        const [x0, y0] = [x * cw + (cw - w) / 2, y * ch + (ch - hh) / 2];
        const icon = images.get(`${y},${x}`);
        if (icon && icon.complete && icon.naturalWidth) ctx.drawImage(icon, x0, y0, w, hh);
        else {
          pending += mags.values[p] > 0 ? 1 : 0;
          ctx.fillStyle = PLACEHOLDER; // neutral until its icon comes (the status line counts them)
          ctx.fillRect(x0, y0, w, hh);
        }
      }
    }
    const pos = model.get("position");
    picture.mark(prefixToken(pos, picture.prefixCells.length) != null ? pos : null);
    const key = pos ? pos.join(",") : "";
    // Room for the strip whenever the view has crops, so nothing below moves as the pointer does.
    hovered.classList.toggle("nb-grid-exemplars-on", Object.keys(model.get("exemplars") || {}).length > 0);
    if (hovered.dataset.key !== key) {
      hovered.dataset.key = key;
      hovered.replaceChildren(...(pos ? [icons.exemplars(key)] : []));
    }
    if (pos && pos[0] >= 0 && pos[0] < rows && pos[1] < cols) {
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 2;
      ctx.strokeRect(pos[1] * cw + 1, pos[0] * ch + 1, cw - 2, ch - 2);
    }
    if (!overview) f.root.dataset.pending = String(pending);
    modeButton.textContent = overview ? "show icons" : "show overview";
    scaleBox.checked = model.get("scale");
  };
  const redraw = scope.perFrame(draw);

  const loadIcons = () => {
    for (const key of icons.keys()) {
      const src = icons.source(key);
      if (images.get(key)?.src === src) continue;
      const img = new Image();
      img.onload = redraw;
      img.src = src;
      images.set(key, img);
      // A prefix token's icon sits in its cell of the strip above the grid.
      const cell = key.startsWith("-1,") ? picture.prefixCells[Number(key.slice(3))] : null;
      if (cell) cell.replaceChildren(img, cell.dataset.label);
    }
    redraw();
  };

  const build = () => {
    clear(f.body);
    images.clear();
    mags = read(model, "magnitudes");
    colours = read(model, "overview");
    if (!mags) return;
    f.setTitle(`Activation grid · ${model.get("layer")}${model.get("found_by") ? ` · strongest ${model.get("noun")} of ${model.get("found_by")}` : ""}`);
    maxMag = mags.values.reduce((m, v) => Math.max(m, v), 0) || 1;
    picture = new Picture(scope, model.get("picture"), { width: SIDE });
    picture.img.onload = redraw;
    // The picture is drawn on the canvas; its grid layer only serves hovering.
    picture.setGrid(mags.shape[0], mags.shape[1]);
    picture.setPrefix(model.get("prefix_labels"));
    picture.onHover((cell) => scope.select("position", cell));
    const stack = h("div", { class: "nb-picture", style: { width: `${SIDE}px`, height: `${SIDE}px` } }, canvas, picture.grid);
    f.body.append(h("div", {}, picture.strip, stack, picture.note, controls, hovered));
    loadIcons();
  };

  scope.listen(modeButton, "click", () => scope.select("mode", model.get("mode") === "overview" ? "icons" : "overview"));
  scope.listen(scaleBox, "change", () => scope.select("scale", scaleBox.checked));
  scope.on("change:magnitudes", build);
  for (const name of ["position", "mode", "scale", "exemplars"]) scope.on(`change:${name}`, draw);
  build();
}
