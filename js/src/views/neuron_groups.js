// Neuron groups: coloured group masks over the image, one icon per group with its attribution
// to the chosen classes. Hovering a group (or a cell, which selects its strongest group) shows
// that group's mask alone, and so does a position chosen in a linked view (its strongest group);
// the menu changes what the factorization prioritises (kernel work).

import { BLUE, ORANGE, css, groupMasks } from "../colors.js";
import { deletionReadout } from "../deletion.js";
import { clear, fmt, h, name } from "../dom.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { logitRows } from "../logits.js";
import { Picture, read, className } from "../picture.js";
import { onGrid } from "../ranking.js";

const PRIORITIES = ["activations", "gradients", "attributions"];

export function neuronGroups(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const icons = new IconBook(scope);
  const menu = h("select", { class: "nb-select" }, ...PRIORITIES.map((p) => h("option", { value: p, text: `prioritise ${p}` })));
  const logits = h("div", { class: "nb-logits" });
  let s = null;

  const classLabel = (i) => className(model, i);

  // The group strongest at a cell of the grid (null off the grid, or where no group is on).
  const strongest = (cell) => {
    const [k, rows, cols] = s.masks.shape;
    if (!onGrid(cell, rows, cols)) return null;
    let best = null;
    let strength = 0;
    for (let g = 0; g < k; g++) {
      const v = s.masks.values[(g * rows + cell[0]) * cols + cell[1]];
      if (v > strength) [best, strength] = [g, v];
    }
    return best;
  };

  // The chosen group's mask alone; else, with a position chosen (here or in a linked view), the
  // mask of the group strongest there; else every mask.
  const showGroup = () => {
    if (!s) return;
    const g = model.get("group");
    const position = model.get("position");
    const only = g != null && g < s.k ? g : strongest(position);
    s.picture.mark(position);
    s.picture.setHeat(groupMasks(s.masks.values, s.k, s.colors.values, only));
    for (const tile of f.body.querySelectorAll(".nb-group")) tile.classList.toggle("nb-selected", tile.dataset.group === String(only));
  };

  const build = () => {
    clear(f.body);
    icons.forget();
    const masks = read(model, "masks");
    if (!masks) return;
    const [k, rows, cols] = masks.shape;
    s = { k, masks, colors: read(model, "colors"), attributions: read(model, "attributions") };
    f.setTitle(`Neuron groups · ${model.get("layer")} · ${k} groups by ${model.get("found_by")} (${(100 * model.get("error_fraction")).toFixed(0)}% unexplained)`);
    menu.value = model.get("prioritize");
    menu.hidden = model.get("method") === "units"; // given units (a dictionary's latents) prioritise nothing
    s.picture = new Picture(scope, model.get("picture"), { width: 240 });
    s.picture.setGrid(rows, cols);
    s.picture.onHover((cell) => {
      scope.select("position", cell);
      scope.select("group", strongest(cell));
    });
    const classes = model.get("classes");
    const nc = classes.length;
    const peak = Math.max(...Array.from(s.attributions.values, Math.abs)) || 1;
    const tiles = [];
    for (let g = 0; g < k; g++) {
      const colour = css(Array.from(s.colors.values.subarray(g * 3, g * 3 + 3)));
      const bars = classes.map((c, j) => {
        const v = s.attributions.values[g * nc + j];
        return h("div", { class: "nb-legend-row" },
          name(classLabel(c)),
          h("span", { class: "nb-bar-track" }, h("span", { class: "nb-bar", style: { width: `${(100 * Math.abs(v)) / peak}%`, background: css(j === 0 ? ORANGE : BLUE, v < 0 ? 0.4 : 1) } })),
          h("span", { class: "nb-value", text: fmt(v) }));
      });
      const off = (model.get("ablated") || []).includes(g);
      const button = h("button", { class: `nb-toggle ${off ? "nb-off" : ""}`, "data-ablate": String(g), text: off ? "off" : "on", title: off ? "switch back on" : "switch off (ablate)" });
      scope.listen(button, "click", () => {
        const now = model.get("ablated") || [];
        scope.recompute("ablated", off ? now.filter((k) => k !== g) : [...now, g], f.note);
      });
      const tile = h("div", { class: `nb-group ${off ? "nb-group-off" : ""}`, "data-group": String(g), style: { borderColor: colour } },
        icons.tile(`${model.get("layer")}:g${g}`, `group ${g}`, 72),
        icons.exemplars(`${model.get("layer")}:g${g}`),
        h("div", { class: "nb-caption" }, icons.label(`${model.get("layer")}:g${g}`), " ", button),
        h("div", { class: "nb-caption", text: "attribution to the logit of:" }), ...bars);
      scope.listen(tile, "mouseenter", () => scope.select("group", g));
      scope.listen(tile, "mouseleave", () => scope.select("group", null));
      tiles.push(tile);
    }
    s.readout = h("div", {});
    f.body.append(h("div", { class: "nb-panel" }, s.picture.el, h("div", { class: "nb-controls" }, menu), logits, s.readout), h("div", { class: "nb-groups" }, ...tiles));
    showGroup();
    showLogits();
    showReadout();
  };

  const showReadout = () => {
    if (!s) return;
    clear(s.readout);
    s.readout.append(deletionReadout(model.get("faithfulness"), [ORANGE, BLUE]));
  };

  const showLogits = () => {
    clear(logits);
    logits.append(...logitRows(model, model.get("classes"), classLabel));
  };

  scope.listen(menu, "change", () => scope.recompute("prioritize", menu.value, f.note) || (menu.value = model.get("prioritize")));
  scope.on("change:masks", build);
  scope.on("change:group", showGroup);
  scope.on("change:position", showGroup);
  scope.on("change:logits", showLogits);
  scope.on("change:ablated", build);
  scope.on("change:faithfulness", showReadout);
  build();
}
