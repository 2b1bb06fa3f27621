// The logits an ablation moves: each listed class's logit with the units switched off, and its
// change from the logit with all units on.

import { fmt, h, name } from "./dom.js";
import { read } from "./picture.js";

export function logitRows(model, classes, classLabel) {
  const after = read(model, "logits");
  const before = read(model, "base_logits");
  if (!after || !before) return [];
  const off = (model.get("ablated") || []).length;
  return classes.map((k) =>
    h("div", { class: "nb-legend-row", "data-class": String(k) },
      name(`logit ${classLabel(k)}`),
      h("span", { class: "nb-value nb-logit", text: fmt(after.values[k]) }),
      off ? h("span", { class: "nb-value", text: `(${fmt(after.values[k] - before.values[k])} with ${off} off)` }) : null));
}
