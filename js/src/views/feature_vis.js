// Feature visualization, live: the image as the kernel optimises it, a progress bar, and
// buttons to start and to cancel (the kernel keeps working in a thread; these only ask).

import { h } from "../dom.js";
import { frame } from "../frame.js";

const SIDE = 256;

export function featureVis(scope, el) {
  const model = scope.model;
  const f = frame(scope, el, "");
  const img = h("img", { class: "nb-featurevis-img", alt: "feature visualization", style: { width: `${SIDE}px`, height: `${SIDE}px` } });
  const bar = h("div", { class: "nb-bar" });
  const label = h("div", { class: "nb-value" });
  const start = h("button", { class: "nb-button", "data-action": "start", text: "Render" });
  const cancel = h("button", { class: "nb-button", "data-action": "cancel", text: "Cancel" });
  const drawn = model.get("drawn") ? h("div", { class: "nb-picture-note", text: model.get("drawn") }) : null;
  f.body.append(h("div", { class: "nb-panel" }, img, drawn, h("div", { class: "nb-bar-track nb-progress" }, bar), label, h("div", { class: "nb-controls" }, start, cancel)));

  const show = () => {
    f.setTitle(`Feature visualization · ${model.get("description")}`);
    const state = model.get("state");
    const [step, steps] = [model.get("step"), model.get("steps")];
    bar.style.width = `${(100 * step) / Math.max(1, steps)}%`;
    label.textContent = `${state} · step ${step} of ${steps}`;
    f.root.dataset.state = state;
    start.disabled = state === "running";
    cancel.disabled = state !== "running";
  };

  const showImage = () => {
    const png = model.get("result");
    if (png && png.byteLength) img.src = scope.url(png);
  };

  scope.listen(start, "click", () => scope.request({ action: "start" }, f.note));
  scope.listen(cancel, "click", () => scope.request({ action: "cancel" }, f.note));
  for (const name of ["state", "step", "steps", "description"]) scope.on(`change:${name}`, show);
  scope.on("change:result", showImage);
  show();
  showImage();
}
