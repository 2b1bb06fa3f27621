// Spatial attribution: two layers, two classes. Each panel shows where the image supports the
// first class (orange) and the second (blue). Hovering a higher cell shows, below, the cells
// that fed it; hovering a lower cell shows, above, the cells it feeds; a legend lists the
// classes the hovered cell supports most. All from matrices already in the browser.

import { BLUE, FLOW, ORANGE, css, heat, pairHeat } from "../colors.js";
import { clear, fmt, h } from "../dom.js";
import { frame } from "../frame.js";
import { Picture, read, readTop, className } from "../picture.js";
import { col, entries, row, slice } from "../ranking.js";

export function spatialAttribution(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const legend = h("div", { class: "nb-legend" });
  let s = null; // decoded state

  const classLabel = (i) => className(model, i);

  const restingHeat = (panel, maps) => panel.setHeat(pairHeat(slice(maps, 0), slice(maps, 1)));

  const showLegend = (which, pos) => {
    clear(legend);
    const [, rows, cols] = (which === "lower" ? s.lowerMaps : s.upperMaps).shape;
    if (!pos || pos[0] >= rows || pos[1] >= cols) {
      legend.append(h("div", { class: "nb-hint", text: "Hover a cell: the other layer shows what it fed or was fed by, and here the classes it supports most." }));
      return;
    }
    const top = entries(which === "lower" ? s.lowerLegend : s.upperLegend, pos[0] * cols + pos[1]);
    const peak = Math.max(...top.map((e) => Math.abs(e.value))) || 1;
    legend.append(h("div", { class: "nb-legend-title", text: `${which === "lower" ? model.get("layer") : model.get("upper")} [${pos}] supports` }));
    for (const e of top) {
      legend.append(
        h("div", { class: "nb-legend-row" },
          h("span", { class: "nb-legend-name", text: classLabel(e.index) }),
          h("span", { class: "nb-bar-track" }, h("span", { class: "nb-bar", style: { width: `${Math.max(0, (100 * e.value) / peak)}%` } })),
          h("span", { class: "nb-value", text: fmt(e.value) }),
        ),
      );
    }
  };

  const update = () => {
    if (!s) return;
    const low = model.get("position");
    const high = model.get("upper_position");
    const [, hl, wl] = s.lowerMaps.shape;
    const [, hu, wu] = s.upperMaps.shape;
    const lowOk = low && low[0] < hl && low[1] < wl;
    const highOk = high && high[0] < hu && high[1] < wu;
    s.lower.mark(lowOk ? low : null);
    s.upper.mark(highOk ? high : null);
    if (highOk) {
      s.lower.setHeat(heat(row(s.flow, high[0] * wu + high[1]), FLOW));
      restingHeat(s.upper, s.upperMaps);
      showLegend("upper", high);
    } else if (lowOk) {
      s.upper.setHeat(heat(col(s.flow, low[0] * wl + low[1]), FLOW));
      restingHeat(s.lower, s.lowerMaps);
      showLegend("lower", low);
    } else {
      restingHeat(s.lower, s.lowerMaps);
      restingHeat(s.upper, s.upperMaps);
      showLegend("lower", null);
    }
  };

  const build = () => {
    clear(f.body);
    const lowerMaps = read(model, "lower_maps");
    if (!lowerMaps) return;
    const [a, b] = model.get("classes");
    f.setTitle(`Spatial attribution · ${model.get("layer")} → ${model.get("upper")}`);
    s = {
      lowerMaps,
      upperMaps: read(model, "upper_maps"),
      flow: read(model, "flow"),
      lowerLegend: readTop(model, "lower_legend"),
      upperLegend: readTop(model, "upper_legend"),
    };
    s.lower = new Picture(scope, model.get("picture"), { width: 240 });
    s.upper = new Picture(scope, model.get("picture"), { width: 240 });
    s.lower.setGrid(lowerMaps.shape[1], lowerMaps.shape[2]);
    s.upper.setGrid(s.upperMaps.shape[1], s.upperMaps.shape[2]);
    s.lower.onHover((cell) => scope.select("position", cell));
    s.upper.onHover((cell) => scope.select("upper_position", cell));
    const key = h("div", { class: "nb-key" },
      h("span", { class: "nb-swatch", style: { background: css(ORANGE) } }), ` ${classLabel(a)}  `,
      h("span", { class: "nb-swatch", style: { background: css(BLUE) } }), ` ${classLabel(b)}`);
    const caption = (text, panel) => h("div", { class: "nb-panel" }, h("div", { class: "nb-caption", text }), panel.el);
    f.body.append(h("div", { class: "nb-panels" }, caption(model.get("layer"), s.lower), caption(model.get("upper"), s.upper)), h("div", {}, key, legend));
    update();
  };

  scope.on("change:lower_maps", build);
  scope.on("change:position", update);
  scope.on("change:upper_position", update);
  build();
}
