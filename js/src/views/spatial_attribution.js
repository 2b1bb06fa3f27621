// Spatial attribution: two layers, two classes. Each panel shows where the image supports the
// first class (orange) and the second (blue). Hovering a higher cell shows, below, the cells
// that fed it, in purple (the key and the panel's caption say so); hovering a lower cell shows,
// above, the cells it feeds; a legend gives the hovered cell's attribution to the two classes
// (in their colours) and then the other classes it supports most (gray). All from matrices already in the browser, which
// arrive in order of use: the class maps, then the flow, then the legend (first ranked among the
// top classes, then among all); until a part is there, the view says it is coming. Beside the
// key, the deletion curves of the lower layer's maps say how far to trust them. Given
// units of either layer (a trained dictionary's latents, …), a hovered cell of that layer also lists its units that
// matter most to the two classes, each with its icon and its attribution to each class.

import { BLUE, FLOW, ORANGE, OTHER, css, heat, pairHeat } from "../colors.js";
import { deletionReadout } from "../deletion.js";
import { clear, fmt, h, name } from "../dom.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { Picture, read, readTop, className } from "../picture.js";
import { col, entries, largest, onGrid, prefixToken, row, slice } from "../ranking.js";

export function spatialAttribution(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const legend = h("div", { class: "nb-legend nb-spatial-legend" });
  const icons = new IconBook(scope);
  let s = null; // unpacked state

  const classLabel = (i) => className(model, i);

  // A position's atom: row-major on the grid, then the prefix tokens (as Python's to_classes); -1 if neither.
  const atom = (pos, maps, prefix) => {
    const [, rows, cols] = maps.shape;
    const p = prefixToken(pos, prefix ? prefix.shape[1] : 0);
    if (p != null) return rows * cols + p;
    return onGrid(pos, rows, cols) ? pos[0] * cols + pos[1] : -1;
  };

  // Heat over the grid and the prefix tokens at one scale: `rgba` holds the grid's cells, then the prefix tokens'.
  const splitHeat = (panel, rgba, maps) => {
    const cells = maps.shape[1] * maps.shape[2];
    panel.setHeat(rgba.subarray(0, 4 * cells));
    panel.setPrefixHeat(rgba.length > 4 * cells ? rgba.subarray(4 * cells) : null);
  };

  const withPrefix = (grid, prefix, k) => (prefix ? Float32Array.from([...grid, ...slice(prefix, k)]) : grid);

  const restingHeat = (panel, maps, prefix) => splitHeat(panel, pairHeat(withPrefix(slice(maps, 0), prefix, 0), withPrefix(slice(maps, 1), prefix, 1)), maps);

  const flowHeat = (panel, values, maps) => splitHeat(panel, heat(values, FLOW), maps);

  const mapsOf = (which) => (which === "lower" ? s.lowerMaps : s.upperMaps);

  // Atom i's attribution to chosen class k (0: orange, 1: blue), from the maps (grid, then prefix tokens).
  const chosen = (which, i, k) => {
    const maps = mapsOf(which);
    const cells = maps.shape[1] * maps.shape[2];
    return i < cells ? slice(maps, k)[i] : slice(which === "lower" ? s.lowerPrefix : s.upperPrefix, k)[i - cells];
  };

  const showLegend = (which, pos) => {
    clear(legend);
    const i = which === "lower" ? atom(pos, s.lowerMaps, s.lowerPrefix) : atom(pos, s.upperMaps, s.upperPrefix);
    if (i < 0) {
      legend.append(h("div", { class: "nb-hint", text: "Hover a cell: the other layer shows what it fed or was fed by, and here the classes it supports most." }));
      return;
    }
    const table = which === "lower" ? s.lowerLegend : s.upperLegend;
    const layer = which === "lower" ? model.get("layer") : model.get("upper");
    const [a, b] = model.get("classes");
    // One scale for the layer: its largest support of any class (while the legend is coming, its largest on the two maps).
    const peak = table ? largest(table.value.values) : largest(Float32Array.from([...slice(mapsOf(which), 0), ...slice(mapsOf(which), 1)]));
    const bar = (value, colour) => h("span", { class: "nb-bar-track" }, h("span", { class: "nb-bar", style: { width: `${Math.max(0, (100 * value) / peak)}%`, background: css(colour) } }));
    const row = (c, value, colour, kind) => h("div", { class: `nb-legend-row ${kind}`, "data-class": String(c) }, name(classLabel(c)), bar(value, colour), h("span", { class: "nb-value", text: fmt(value) }));
    legend.append(
      h("div", { class: "nb-legend-title", text: `${layer} [${pos}]: attribution to each logit`, title: `activation × gradient of the class's logit, summed over the cell's channels; bars: share of the largest support of any cell of this layer (${fmt(peak)})` }),
      row(a, chosen(which, i, 0), ORANGE, "nb-chosen"),
      row(b, chosen(which, i, 1), BLUE, "nb-chosen"),
    );
    if (!table) {
      legend.append(h("div", { class: "nb-hint", text: "The other classes each cell supports are still being computed." }));
      showListed(which, i);
      return;
    }
    legend.append(h("div", { class: "nb-caption", text: "the classes it supports most" }));
    for (const e of entries(table, i)) if (e.index !== a && e.index !== b) legend.append(row(e.index, e.value, OTHER, "nb-ranked"));
    const note = model.get("legend_note");
    if (note) legend.append(h("div", { class: "nb-hint", text: note }));
    showListed(which, i);
  };

  // The units at cell `i` of their layer, with their attribution to each class.
  const showListed = (which, i) => {
    const layer = which === "lower" ? model.get("layer") : model.get("upper");
    const maps = which === "lower" ? s.lowerMaps : s.upperMaps;
    if (!s.listed || model.get("unit_layer") !== layer || i >= maps.shape[1] * maps.shape[2]) return;
    const [, cells, n] = s.listed.value.shape;
    const [a, b] = model.get("classes");
    legend.append(h("div", { class: "nb-legend-title", text: `${model.get("noun")}s here, for ${classLabel(a)} / ${classLabel(b)}` }));
    for (let j = 0; j < n; j++) {
      const m = s.listed.index.values[i * n + j];
      const [va, vb] = [s.listed.value.values[i * n + j], s.listed.value.values[(cells + i) * n + j]];
      legend.append(
        h("div", { class: "nb-entry nb-latent", "data-latent": String(m) },
          icons.tile(`${model.get("unit_key")}:${m}`, `${model.get("noun")} ${m}`),
          icons.exemplars(`${model.get("unit_key")}:${m}`),
          h("div", { class: "nb-entry-text" }, h("div", { text: `${model.get("noun")} ${m}` }),
            h("div", {}, h("span", { class: "nb-value", style: { color: css(ORANGE) }, text: fmt(va) }), " ", h("span", { class: "nb-value", style: { color: css(BLUE) }, text: fmt(vb) })))));
    }
  };

  const update = () => {
    if (!s) return;
    const low = model.get("position");
    const high = model.get("upper_position");
    const lowAtom = atom(low, s.lowerMaps, s.lowerPrefix);
    const highAtom = atom(high, s.upperMaps, s.upperPrefix);
    s.lower.mark(lowAtom >= 0 ? low : null);
    s.upper.mark(highAtom >= 0 ? high : null);
    const [lower, upper] = [model.get("layer"), model.get("upper")];
    const flowing = s.flow && (highAtom >= 0 || lowAtom >= 0);
    s.lowerCaption.textContent = flowing && highAtom >= 0 ? `${lower}: what fed ${upper} [${high}] (purple)` : lower;
    s.upperCaption.textContent = flowing && highAtom < 0 ? `${upper}: what ${lower} [${low}] feeds (purple)` : upper;
    if (highAtom >= 0) {
      if (s.flow) flowHeat(s.lower, row(s.flow, highAtom), s.lowerMaps);
      else restingHeat(s.lower, s.lowerMaps, s.lowerPrefix);
      restingHeat(s.upper, s.upperMaps, s.upperPrefix);
      showLegend("upper", high);
    } else if (lowAtom >= 0) {
      if (s.flow) flowHeat(s.upper, col(s.flow, lowAtom), s.upperMaps);
      else restingHeat(s.upper, s.upperMaps, s.upperPrefix);
      restingHeat(s.lower, s.lowerMaps, s.lowerPrefix);
      showLegend("lower", low);
    } else {
      restingHeat(s.lower, s.lowerMaps, s.lowerPrefix);
      restingHeat(s.upper, s.upperMaps, s.upperPrefix);
      showLegend("lower", null);
    }
  };

  const build = () => {
    clear(f.body);
    icons.forget();
    const lowerMaps = read(model, "lower_maps");
    const upperMaps = read(model, "upper_maps");
    if (!lowerMaps || !upperMaps) return; // a host may hand over one trait of an update at a time (marimo)
    const [a, b] = model.get("classes");
    f.setTitle(`Spatial attribution · ${model.get("layer")} → ${model.get("upper")}`);
    s = {
      lowerMaps,
      upperMaps,
      lowerPrefix: read(model, "lower_prefix"), // (2, P) a token layer's prefix tokens' attributions, or null
      upperPrefix: read(model, "upper_prefix"),
    };
    s.lower = new Picture(scope, model.get("picture"), { width: 240 });
    s.upper = new Picture(scope, model.get("picture"), { width: 240 });
    s.lower.setGrid(lowerMaps.shape[1], lowerMaps.shape[2]);
    s.upper.setGrid(s.upperMaps.shape[1], s.upperMaps.shape[2]);
    s.lower.setPrefix(model.get("lower_prefix_labels"));
    s.upper.setPrefix(model.get("upper_prefix_labels"));
    s.lower.onHover((cell) => scope.select("position", cell));
    s.upper.onHover((cell) => scope.select("upper_position", cell));
    const key = h("div", { class: "nb-key" },
      h("span", { class: "nb-swatch", style: { background: css(ORANGE) } }), ` ${classLabel(a)}  `,
      h("span", { class: "nb-swatch", style: { background: css(BLUE) } }), ` ${classLabel(b)}  `,
      h("span", { class: "nb-swatch", style: { background: css(FLOW) } }), " on hover: what the hovered cell fed, or was fed by, in the other layer");
    s.lowerCaption = h("div", { class: "nb-caption", text: model.get("layer") });
    s.upperCaption = h("div", { class: "nb-caption", text: model.get("upper") });
    const panel = (caption, picture) => h("div", { class: "nb-panel" }, caption, picture.el);
    s.readout = h("div", {});
    const integration = model.get("integration") ? h("div", { class: "nb-caption nb-integration", text: model.get("integration") }) : null;
    f.body.append(h("div", { class: "nb-panels" }, panel(s.lowerCaption, s.lower), panel(s.upperCaption, s.upper)), h("div", {}, key, integration, s.readout, legend));
    arrive();
    showReadout();
  };

  const showReadout = () => {
    if (!s) return;
    clear(s.readout);
    s.readout.append(deletionReadout(model.get("faithfulness"), [ORANGE, BLUE]));
  };

  // The parts that come after the maps (empty until then).
  const arrive = () => {
    if (!s) return;
    s.flow = read(model, "flow");
    s.lowerLegend = readTop(model, "lower_legend");
    s.upperLegend = readTop(model, "upper_legend");
    s.listed = readTop(model, "listed"); // value (2, P, n): per class
    update();
  };

  scope.on("change:lower_maps", build);
  scope.on("change:upper_maps", build);
  for (const trait of ["flow", "lower_legend", "upper_legend", "legend_note", "listed", "unit_layer"]) scope.on(`change:${trait}`, arrive);
  scope.on("change:position", update);
  scope.on("change:upper_position", update);
  scope.on("change:faithfulness", showReadout);
  build();
}
