// The input image with overlays: a heat canvas at the layer's resolution (the browser scales
// it smoothly) and a grid canvas for cell outlines and the hovered cell; below it, the note
// saying how an input that is not RGB is drawn. A token layer's prefix tokens (class, register)
// are not on the image: they are cells in a strip above it, position [-1, p].

import { unpackArray } from "./arrays.js";
import { clear, h } from "./dom.js";
import { cellAt, prefixToken, samePosition } from "./ranking.js";

export class Picture {
  constructor(scope, picture, { width = 280 } = {}) {
    const height = Math.round((width * picture.height) / picture.width);
    this.width = width;
    this.height = height;
    this.img = h("img", { class: "nb-picture-img", src: scope.url(picture.png), alt: "input image" });
    this.heat = h("canvas", { class: "nb-picture-heat" });
    this.grid = h("canvas", { class: "nb-picture-grid", width: String(width), height: String(height) });
    const frame = h("div", { class: "nb-picture", style: { width: `${width}px`, height: `${height}px` } }, this.img, this.heat, this.grid);
    // How an input that is not RGB was drawn (grayscale, or which channels as which colours).
    this.note = picture.note ? h("div", { class: "nb-picture-note", text: picture.note }) : null;
    this.strip = h("div", { class: "nb-prefix-strip", style: { display: "none" } });
    this.prefixCells = [];
    this.el = h("div", { class: "nb-panel" }, this.strip, frame, this.note);
    this.rows = 0;
    this.cols = 0;
    this.hovered = null;
    this.marked = null;
    this.scope = scope;
  }

  setGrid(rows, cols) {
    this.rows = rows;
    this.cols = cols;
    this.drawGrid();
  }

  // rgba: (rows × cols × 4) bytes; null clears the overlay.
  setHeat(rgba, rows = this.rows, cols = this.cols) {
    if (rgba == null) {
      this.heat.style.visibility = "hidden";
      return;
    }
    this.heat.width = cols;
    this.heat.height = rows;
    this.heat.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(rgba), cols, rows), 0, 0);
    this.heat.style.visibility = "visible";
  }

  // Cells for a token layer's prefix tokens, labelled (e.g. ["CLS"]); [] for none.
  setPrefix(labels) {
    clear(this.strip);
    this.prefixCells = labels.map((label, p) => h("div", { class: "nb-prefix-cell", "data-prefix": String(p), "data-label": label, title: `prefix token ${p}`, text: label }));
    this.strip.append(...this.prefixCells);
    this.strip.style.display = labels.length ? "" : "none";
  }

  // Colours of the prefix cells as (P × 4) RGBA bytes, like setHeat's; null clears them.
  setPrefixHeat(rgba) {
    this.prefixCells.forEach((cell, p) => {
      cell.style.background = rgba ? `rgba(${rgba[4 * p]}, ${rgba[4 * p + 1]}, ${rgba[4 * p + 2]}, ${rgba[4 * p + 3] / 255})` : "";
    });
  }

  mark(position) {
    if (samePosition(position, this.marked)) return;
    this.marked = position;
    const p = prefixToken(position, this.prefixCells.length);
    this.prefixCells.forEach((cell, i) => cell.classList.toggle("nb-marked", i === p));
    this.drawGrid();
  }

  drawGrid() {
    const ctx = this.grid.getContext("2d");
    ctx.clearRect(0, 0, this.width, this.height);
    if (!this.rows) return;
    const ch = this.height / this.rows;
    const cw = this.width / this.cols;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.25)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let y = 1; y < this.rows; y++) ctx.moveTo(0, y * ch), ctx.lineTo(this.width, y * ch);
    for (let x = 1; x < this.cols; x++) ctx.moveTo(x * cw, 0), ctx.lineTo(x * cw, this.height);
    ctx.stroke();
    if (this.marked && this.marked[0] >= 0) {
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 2;
      ctx.strokeRect(this.marked[1] * cw + 1, this.marked[0] * ch + 1, cw - 2, ch - 2);
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 1;
      ctx.strokeRect(this.marked[1] * cw, this.marked[0] * ch, cw, ch);
    }
  }

  // fn([y, x] | null) when the hovered cell changes; click(cell) on clicks.
  onHover(fn) {
    const at = (event) => {
      const r = this.grid.getBoundingClientRect();
      return cellAt(event.clientX - r.left, event.clientY - r.top, r.width, r.height, this.rows, this.cols);
    };
    this.scope.listen(this.grid, "mousemove", (event) => {
      const cell = at(event);
      if (!samePosition(cell, this.hovered)) fn((this.hovered = cell));
    });
    this.scope.listen(this.grid, "mouseleave", () => {
      if (this.hovered !== null) fn((this.hovered = null));
    });
    this.scope.listen(this.strip, "mouseover", (event) => {
      const cell = event.target.closest(".nb-prefix-cell");
      const position = cell ? [-1, Number(cell.dataset.prefix)] : null;
      if (position && !samePosition(position, this.hovered)) fn((this.hovered = position));
    });
    this.scope.listen(this.strip, "mouseleave", () => {
      if (this.hovered !== null) fn((this.hovered = null));
    });
  }
}

// Decode a {dtype, shape, data} trait, or null when it is empty.
export function read(model, name) {
  const value = model.get(name);
  return value && value.data ? unpackArray(value) : null;
}

// Decode a top-entries trait ({index, value} arrays), or null when it is empty.
export function readTop(model, name) {
  const value = model.get(name);
  return value && value.index ? { index: unpackArray(value.index), value: unpackArray(value.value) } : null;
}

// The name of class i, from the view's `class_names` ({index: label}).
export function className(model, i) {
  return (model.get("class_names") || {})[String(i)] ?? `class ${i}`;
}
