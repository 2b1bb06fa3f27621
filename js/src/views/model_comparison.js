// Model comparison: the CKA heatmap of two models' layers; clicking a cell lists that pair of
// layers' best-matched units (both icons, the correlation), and the list stays while the pointer
// crosses other cells on its way there; clicking a pair of units selects its channels in the
// linked views of each model, when those views show that pair's layers (a unit index means
// nothing in another layer). Positions hovered in A's linked view are mapped to B's grid here,
// in the browser, and back.

import { css, ORANGE } from "../colors.js";
import { clear, fmt, h } from "../dom.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { read } from "../picture.js";
import { rescale, samePosition } from "../ranking.js";

export function modelComparison(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const icons = new IconBook(scope);
  const pairsBox = h("div", { class: "nb-list nb-pairs" });
  let s = null;

  const showPairs = () => {
    if (!s) return;
    clear(pairsBox);
    const cell = model.get("cell");
    for (const td of f.body.querySelectorAll(".nb-cka-cell")) td.classList.toggle("nb-selected", !!cell && td.dataset.cell === cell.join(","));
    if (!cell) {
      pairsBox.append(h("div", { class: "nb-hint", text: "Click a cell to see the two layers' best-matched units." }));
      return;
    }
    const [i, j] = cell;
    const [la, lb] = [s.layersA[i], s.layersB[j]];
    const [nb, k] = [s.layersB.length, s.pairs.shape[2]];
    const [nameA, nameB] = model.get("names");
    pairsBox.append(h("div", { class: "nb-legend-title", text: `${nameA} ${la} ↔ ${nameB} ${lb} · CKA ${fmt(s.cka.values[i * nb + j])} · matched units (null mean r ${fmt(s.nullMeans.values[i * nb + j])})` }));
    for (let p = 0; p < k; p++) {
      const at = (i * nb + j) * k + p;
      const [a, b] = [s.pairs.values[at * 2], s.pairs.values[at * 2 + 1]];
      const selected = model.get("unit") === a && model.get("unit_b") === b;
      const entry = h("div", { class: `nb-entry nb-clickable nb-pair${selected ? " nb-selected" : ""}`, "data-pair": `${a},${b}` },
        icons.tile(`A:${la}:${a}`, `${nameA} ${la} unit ${a}`, 48),
        icons.tile(`B:${lb}:${b}`, `${nameB} ${lb} unit ${b}`, 48),
        h("div", { class: "nb-entry-text" }, h("div", { text: `${a} ↔ ${b}` }), h("div", { class: "nb-value", text: `r = ${fmt(s.values.values[at])}` })));
      scope.listen(entry, "click", () => {
        const linked = model.get("linked_layers") || [];
        if (linked.length && (linked[0] !== la || linked[1] !== lb)) {
          f.note(`Pair ${a} ↔ ${b} is of ${nameA} ${la} ↔ ${nameB} ${lb}; the linked views show ${nameA} ${linked[0]} ↔ ${nameB} ${linked[1]}: pick a pair of that cell.`);
          return;
        }
        f.note(model.get("summary"));
        scope.select("unit", a);
        scope.select("unit_b", b);
      });
      pairsBox.append(entry);
    }
  };

  const build = () => {
    clear(f.body);
    icons.forget();
    const cka = read(model, "cka");
    if (!cka) return;
    const [nameA, nameB] = model.get("names");
    f.setTitle(`Model comparison · ${nameA} (rows) and ${nameB} (columns)`);
    f.note(model.get("summary"));
    s = { cka, null: read(model, "null"), pairs: read(model, "pairs"), values: read(model, "pair_values"), nullMeans: read(model, "null_means"),
          layersA: model.get("layers_a"), layersB: model.get("layers_b") };
    const nb = s.layersB.length;
    const head = h("tr", {}, h("th", {}), ...s.layersB.map((l) => h("th", { class: "nb-cka-col", text: l })));
    const rows = s.layersA.map((la, i) => h("tr", {}, h("th", { text: la }), ...s.layersB.map((lb, j) => {
      const v = cka.values[i * nb + j];
      const chance = v <= s.null.values[i * nb + j];
      const td = h("td", { class: "nb-cka-cell", "data-cell": `${i},${j}`, title: `${la} ↔ ${lb}: CKA ${fmt(v)}${chance ? " (within chance)" : ""}`,
        style: { background: css(ORANGE, Math.max(0, Math.min(1, v))) }, text: fmt(v) });
      if (chance) td.classList.add("nb-cka-chance");
      scope.listen(td, "click", () => scope.select("cell", [i, j]));
      return td;
    })));
    f.body.append(h("table", { class: "nb-cka" }, head, ...rows), pairsBox);
    showPairs();
  };

  // Positions between the linked views' grids: A's `position` ↔ B's `position_b`.
  const grids = () => {
    const [a, b] = [model.get("grid_a"), model.get("grid_b")];
    return a && a.length && b && b.length ? [a, b] : null;
  };
  scope.on("change:position", () => {
    const g = grids();
    if (!g) return;
    const [here, there] = [model.get("position"), model.get("position_b")];
    if (there && samePosition(rescale(there, g[1], g[0]), here)) return; // already shown there
    const mapped = rescale(here, g[0], g[1]);
    if (!samePosition(mapped, there)) scope.select("position_b", mapped);
  });
  scope.on("change:position_b", () => {
    const g = grids();
    if (!g) return;
    const [here, there] = [model.get("position_b"), model.get("position")];
    if (there && samePosition(rescale(there, g[0], g[1]), here)) return;
    const mapped = rescale(here, g[1], g[0]);
    if (!samePosition(mapped, there)) scope.select("position", mapped);
  });

  scope.on("change:cka", build);
  for (const name of ["cell", "unit", "unit_b"]) scope.on(`change:${name}`, showPairs);
  build();
}
