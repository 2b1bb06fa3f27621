// Dissection: units with their concept, IoU, icon and top dataset examples; hovering a unit
// (or selecting its channel elsewhere) shows where it fires on its examples.

import { FLOW, heat } from "../colors.js";
import { clear, fmt, h } from "../dom.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { read } from "../picture.js";

const THUMB = 64;

export function dissection(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const icons = new IconBook(scope);
  let s = null;

  const show = () => {
    if (!s) return;
    const channel = model.get("unit");
    s.rows.forEach((row, i) => {
      const on = row.unit === channel;
      s.elements[i].classList.toggle("nb-selected", on);
      for (const [j, canvas] of s.overlays[i].entries()) {
        canvas.style.visibility = on ? "visible" : "hidden";
        if (!on) continue;
        const size = THUMB * THUMB;
        const values = Float32Array.from(s.maps.values.subarray((i * s.k + j) * size, (i * s.k + j + 1) * size), (v) => (v / 255 > s.cutoffs.values[i] ? 1 : 0));
        canvas.getContext("2d").putImageData(new ImageData(heat(values, FLOW, 1), THUMB, THUMB), 0, 0);
      }
    });
  };

  const build = () => {
    clear(f.body);
    icons.forget();
    const maps = read(model, "maps");
    if (!maps) return;
    f.setTitle(`Dissection · ${model.get("layer")}`);
    f.note(model.get("summary"));
    s = { rows: model.get("rows"), maps, cutoffs: read(model, "cutoffs"), k: maps.shape[1], elements: [], overlays: [] };
    const list = h("div", { class: "nb-list" });
    s.rows.forEach((row, i) => {
      const examples = [];
      const overlays = [];
      for (let j = 0; j < s.k; j++) {
        const img = h("img", { alt: "", style: { objectFit: "none", objectPosition: `-${j * THUMB}px 0` }, src: scope.url(model.get("strips")[i]) });
        const canvas = h("canvas", { width: String(THUMB), height: String(THUMB), style: { visibility: "hidden" } });
        overlays.push(canvas);
        examples.push(h("div", { class: "nb-example" }, img, canvas));
      }
      const element = h("div", { class: "nb-dissection-row", "data-unit": String(row.unit) },
        icons.tile(`${model.get("layer")}:${row.unit}`, `unit ${row.unit}`, 56),
        h("div", { class: "nb-dissection-label" },
          h("div", { text: `unit ${row.unit}` }),
          h("div", { class: "nb-caption", text: row.label || `(${row.concept}?)` }),
          h("div", { class: "nb-value", text: `IoU ${fmt(row.iou)}` })),
        ...examples);
      scope.listen(element, "mouseenter", () => scope.select("unit", row.unit));
      scope.listen(element, "mouseleave", () => scope.select("unit", null));
      s.elements.push(element);
      s.overlays.push(overlays);
      list.append(element);
    });
    f.body.append(list);
    show();
  };

  scope.on("change:maps", build);
  scope.on("change:unit", show);
  build();
}
