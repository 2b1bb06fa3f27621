// Semantic dictionary: hover a cell of the image, see its strongest channels as icons with
// activation bars. All from the activation cube already in the browser.

import { clear, fmt, h } from "../dom.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { Picture, read } from "../picture.js";
import { column, topK } from "../ranking.js";

export function semanticDictionary(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const icons = new IconBook(scope);
  let picture = null;
  let acts = null;
  let peak = 0;
  const list = h("div", { class: "nb-list nb-dictionary" });

  const showList = () => {
    clear(list);
    const pos = model.get("position");
    list.dataset.position = pos ? pos.join(",") : "";
    picture.mark(pos);
    if (!pos) {
      list.append(h("div", { class: "nb-hint", text: "Hover a cell of the image to see what the layer detects there." }));
      return;
    }
    const [y, x] = pos;
    if (y >= acts.shape[1] || x >= acts.shape[2]) {
      list.append(h("div", { class: "nb-hint", text: `Position [${y}, ${x}] is outside this layer's ${acts.shape[1]}×${acts.shape[2]} grid: link views of one layer.` }));
      return;
    }
    const vector = column(acts, y, x);
    for (const c of topK(vector, model.get("top"))) {
      const bar = h("div", { class: "nb-bar", style: { width: `${Math.max(0, (100 * vector[c]) / peak)}%` } });
      list.append(
        h("div", { class: "nb-entry", "data-channel": String(c) },
          icons.tile(`${model.get("layer")}:${c}`, `channel ${c}`),
          h("div", { class: "nb-entry-text" }, h("div", { text: `channel ${c}` }), h("div", { class: "nb-bar-track" }, bar), h("div", { class: "nb-value", text: fmt(vector[c]) })),
        ),
      );
    }
  };

  const build = () => {
    clear(f.body);
    icons.forget();
    acts = read(model, "acts");
    if (!acts) return;
    f.setTitle(`Semantic dictionary · ${model.get("layer")}`);
    peak = acts.values.reduce((m, v) => Math.max(m, v), 0) || 1;
    picture = new Picture(scope, model.get("picture"));
    picture.setGrid(acts.shape[1], acts.shape[2]);
    picture.onHover((cell) => scope.select("position", cell));
    f.body.append(picture.el, list);
    showList();
  };

  scope.on("change:acts", build);
  scope.on("change:position", showList);
  scope.on("change:top", showList);
  build();
}
