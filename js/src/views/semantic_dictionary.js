// Semantic dictionary: hover a cell of the image, see its strongest channels as icons with
// activation bars; a selected channel (a linked view's, e.g. a model comparison's pair) shows
// where it fires over the image. All from the activation cube already in the browser.

import { ORANGE, heat } from "../colors.js";
import { clear, fmt, h } from "../dom.js";
import { frame } from "../frame.js";
import { IconBook } from "../icons.js";
import { Picture, read } from "../picture.js";
import { column, onGrid, prefixToken, row, slice, topK } from "../ranking.js";

const ENTRY_HEIGHT = 64; // an entry's 56 px icon, its padding and the list's gap

export function semanticDictionary(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const icons = new IconBook(scope);
  let picture = null;
  let acts = null;
  let prefix = null; // a token layer's prefix tokens (P, C), or null
  let peak = 0;
  const list = h("div", { class: "nb-list nb-dictionary" });
  const channelNote = h("div", { class: "nb-caption nb-channel-note" });

  const showChannel = () => {
    if (!picture) return;
    const c = model.get("unit");
    const shown = c != null && c < acts.shape[0];
    picture.setHeat(shown ? heat(slice(acts, c), ORANGE) : null);
    channelNote.textContent = shown ? `${model.get("noun")} ${c}: where it fires` : "";
    channelNote.dataset.channel = shown ? String(c) : "";
    for (const entry of list.querySelectorAll(".nb-entry")) entry.classList.toggle("nb-selected", entry.dataset.channel === String(c));
  };

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
    const p = prefixToken(pos, prefix ? prefix.shape[0] : 0);
    if (p == null && !onGrid(pos, acts.shape[1], acts.shape[2])) {
      list.append(h("div", { class: "nb-hint", text: `Position [${y}, ${x}] is not in this layer's ${acts.shape[1]}×${acts.shape[2]} grid: link views of one layer.` }));
      return;
    }
    const vector = p == null ? column(acts, y, x) : row(prefix, p);
    for (const c of topK(vector, model.get("top"))) {
      const bar = h("div", { class: "nb-bar", style: { width: `${Math.max(0, (100 * vector[c]) / peak)}%` } });
      list.append(
        h("div", { class: "nb-entry", "data-channel": String(c) },
          icons.tile(`${model.get("unit_key")}:${c}`, `${model.get("noun")} ${c}`),
          icons.exemplars(`${model.get("unit_key")}:${c}`),
          h("div", { class: "nb-entry-text" }, h("div", { text: `${model.get("noun")} ${c}` }), h("div", { class: "nb-bar-track" }, bar), h("div", { class: "nb-value", text: fmt(vector[c]), title: "its activation here" })),
        ),
      );
    }
    showChannel();
  };

  const build = () => {
    clear(f.body);
    icons.forget();
    acts = read(model, "acts");
    if (!acts) return;
    prefix = read(model, "prefix_acts");
    f.setTitle(`Semantic dictionary · ${model.get("layer")}${model.get("found_by") ? ` · ${model.get("noun")}s of ${model.get("found_by")}` : ""}`);
    peak = Math.max(acts.values.reduce((m, v) => Math.max(m, v), 0), prefix ? prefix.values.reduce((m, v) => Math.max(m, v), 0) : 0) || 1;
    picture = new Picture(scope, model.get("picture"));
    list.style.minHeight = `${model.get("top") * ENTRY_HEIGHT}px`; // room for a hovered cell's list: nothing below moves
    picture.setGrid(acts.shape[1], acts.shape[2]);
    picture.setPrefix(model.get("prefix_labels"));
    picture.onHover((cell) => scope.select("position", cell));
    f.body.append(h("div", { class: "nb-panel" }, picture.el, channelNote), list);
    showList();
    showChannel();
  };

  scope.on("change:acts", build);
  scope.on("change:position", showList);
  scope.on("change:unit", showChannel);
  scope.on("change:top", showList);
  build();
}
