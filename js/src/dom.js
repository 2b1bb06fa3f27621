// DOM helpers: element creation, and a Scope that remembers every listener and object URL a
// view makes, so removing the view removes them all (no page-global state: Colab gives each
// output its own iframe, and JupyterLab re-renders views).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k === "style") Object.assign(el.style, v);
    else if (k === "text") el.textContent = v;
    else if (v != null) el.setAttribute(k, v); // null or undefined: no attribute
  }
  for (const child of children) if (child != null) el.append(child);
  return el;
}

// A class (or other) name in a narrow column: cut with an ellipsis, whole in its tooltip.
export function name(text) {
  return h("span", { class: "nb-legend-name", text, title: text });
}

const OFFLINE = "This needs the running notebook: the exported page only holds what was computed.";

export class Scope {
  constructor(model) {
    this.model = model;
    this.undo = [];
  }

  // Model events ("change:position", "msg:custom").
  on(event, fn) {
    this.model.on(event, fn);
    this.undo.push(() => this.model.off(event, fn));
  }

  listen(target, event, fn, options) {
    target.addEventListener(event, fn, options);
    this.undo.push(() => target.removeEventListener(event, fn, options));
  }

  // An object URL for PNG bytes, revoked when the view goes.
  url(bytes, type = "image/png") {
    const u = URL.createObjectURL(new Blob([bytes], { type }));
    this.undo.push(() => URL.revokeObjectURL(u));
    return u;
  }

  // `fn` wrapped to run at most once per animation frame however often it is called: a view
  // whose thousand icons each finish loading redraws once, not a thousand times.
  perFrame(fn) {
    let frame = 0;
    this.undo.push(() => cancelAnimationFrame(frame));
    return () => {
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; fn(); });
    };
  }

  // Set a trait from the browser and send it to the kernel (linked views follow in the browser).
  select(name, value) {
    this.model.set(name, value);
    this.model.save_changes();
  }

  // Ask the kernel for new computation; an exported page has none, and says so.
  request(content, status) {
    if (this.model.offline) return status(OFFLINE);
    this.model.send(content);
  }

  // Change an input the kernel recomputes the view from; false on an exported page.
  recompute(name, value, status) {
    if (this.model.offline) {
      status(OFFLINE);
      return false;
    }
    this.select(name, value);
    return true;
  }

  dispose() {
    for (const fn of this.undo.splice(0).reverse()) fn();
  }
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}

export function fmt(v) {
  const a = Math.abs(v);
  if (a !== 0 && (a < 0.01 || a >= 1000)) return v.toExponential(1);
  return v.toFixed(a < 1 ? 3 : a < 10 ? 2 : 1);
}
