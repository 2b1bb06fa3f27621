// Unit browser: every unit of a layer with its icon, label, IoU, peak activation, the classes it
// supports and its top dataset examples; hovering a unit shows where it fires on them, search
// and sort run here, and clicking a unit selects its channel (or, for directions such as neuron
// groups, its group) for the linked views.

import { FLOW, heat } from "../colors.js";
import { clear, fmt, h } from "../dom.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { read, readTop } from "../picture.js";
import { entries } from "../ranking.js";
import { matches, order } from "../unit_order.js";

const THUMB = 64;

export function unitBrowser(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const icons = new IconBook(scope);
  const search = h("input", { class: "nb-unit-search", type: "search", placeholder: "search: label or unit number" });
  const sort = h("select", { class: "nb-select nb-unit-sort" },
    h("option", { value: "unit", text: "by unit" }), h("option", { value: "iou", text: "by IoU" }), h("option", { value: "peak", text: "by activation" }));
  const list = h("div", { class: "nb-list nb-unit-list" });
  let rows = [];
  let maps = null;
  const elements = new Map(); // unit → {element, overlays}

  const overlay = (unit, on) => {
    const { overlays } = elements.get(unit);
    const k = maps.shape[1];
    overlays.forEach((canvas, j) => {
      canvas.style.visibility = on ? "visible" : "hidden";
      if (!on) return;
      const size = THUMB * THUMB;
      const values = Float32Array.from(maps.values.subarray((unit * k + j) * size, (unit * k + j + 1) * size), (v) => v / 255);
      canvas.getContext("2d").putImageData(new ImageData(heat(values, FLOW, 1), THUMB, THUMB), 0, 0);
    });
  };

  const selects = model.get("selects");
  const showSelected = () => {
    const selected = model.get(selects);
    for (const [unit, { element }] of elements) element.classList.toggle("nb-selected", unit === selected);
  };

  const arrange = () => {
    clear(list);
    const shown = order(rows, sort.value).filter((row) => matches(row, search.value));
    list.dataset.count = String(shown.length);
    for (const row of shown) list.append(elements.get(row.unit).element);
    if (!shown.length) list.append(h("div", { class: "nb-hint", text: `No unit matches “${search.value}”.` }));
  };

  const build = () => {
    clear(f.body);
    icons.forget();
    elements.clear();
    maps = read(model, "maps");
    if (!maps) return;
    rows = model.get("rows");
    const support = readTop(model, "support");
    const labels = model.get("labels");
    const noun = model.get("noun");
    f.setTitle(`Unit browser · ${model.get("layer")}`);
    f.note(model.get("summary"));
    for (const row of rows) {
      const overlays = [];
      const examples = [];
      for (let j = 0; j < maps.shape[1]; j++) {
        const img = h("img", { alt: "", style: { objectFit: "none", objectPosition: `-${j * THUMB}px 0` }, src: scope.url(model.get("strips")[row.unit]) });
        const canvas = h("canvas", { width: String(THUMB), height: String(THUMB), style: { visibility: "hidden" } });
        overlays.push(canvas);
        examples.push(h("div", { class: "nb-example" }, img, canvas));
      }
      const raw = support ? entries(support, row.unit).map((e) => `${labels[e.index] ?? `class ${e.index}`} ${fmt(e.value)}`).join(", ") : "";
      const supported = (row.supports || []).map(([c, v]) => `${labels[c] ?? `class ${c}`} ${fmt(v)}`).join(" · ");
      const classes = support ? (supported ? `supports ${supported}` : "supports no class strongly") : "";
      const element = h("div", { class: "nb-dissection-row nb-unit", "data-unit": String(row.unit) },
        icons.tile(`${model.get("unit_key")}:${row.unit}`, `${noun} ${row.unit}`, 56),
        h("div", { class: "nb-dissection-label" },
          h("div", { text: `${noun} ${row.unit}` }),
          h("div", { class: "nb-caption nb-unit-label", "data-source": row.source || "", text: row.label || "no clear label", title: row.evidence || "" }),
          h("div", { class: "nb-value", text: `${row.iou == null ? "" : `dissection IoU ${fmt(row.iou)} · `}peak activation ${fmt(row.peak)}`, title: "its best IoU with a concept's masks; its highest activation over the dataset" }),
          h("div", { class: "nb-caption nb-unit-classes", text: classes, title: raw ? `its summed attribution to its top classes: ${raw}` : "" })),
        ...examples);
      scope.listen(element, "mouseenter", () => overlay(row.unit, true));
      scope.listen(element, "mouseleave", () => overlay(row.unit, false));
      scope.listen(element, "click", () => scope.select(selects, model.get(selects) === row.unit ? null : row.unit));
      elements.set(row.unit, { element, overlays });
    }
    f.body.append(h("div", { class: "nb-atlas-controls nb-unit-controls" }, search, sort), list);
    arrange();
    showSelected();
  };

  scope.listen(search, "input", arrange);
  scope.listen(sort, "change", arrange);
  scope.on("change:maps", build);
  scope.on(`change:${selects}`, showSelected);
  build();
}
