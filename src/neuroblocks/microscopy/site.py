"""A microscope as a static site: plain HTML pages that open from the disk or any web server,
with no kernel, no network and no script beyond the search box. Each layer's units are shown as
paged grids of lazy-loaded icons (a page draws its first screen without loading the rest), each
unit has its own page, and every link stays inside the site."""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path


PAGE = 600  # units per grid page
IMAGES = ("icon.png", "icon-input.png", "diversity.png", "exemplars.png")
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; }
a { color: #0b5cad; text-decoration: none; } a:hover { text-decoration: underline; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, 112px); gap: 8px; }
.card { display: block; width: 112px; font-size: 11px; color: #333; }
.card img { width: 112px; height: 112px; display: block; background: #ddd; border-radius: 3px; }
.card span { display: block; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.none { color: #888; font-style: italic; }
.pictures { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
.pictures figure { margin: 0; } .pictures img { height: 128px; border-radius: 3px; }
figcaption { font-size: 12px; color: #555; max-width: 520px; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 2px 10px 2px 0; text-align: left; }
.feeds img { width: 48px; height: 48px; vertical-align: middle; margin-right: 6px; }
nav { margin: 8px 0 16px; } input[type=search] { width: 280px; padding: 4px; }
"""
SEARCH = """<script>
const box = document.getElementById("search"), out = document.getElementById("found");
const units = JSON.parse(document.getElementById("labels").textContent);
box.addEventListener("input", () => {
  const q = box.value.trim().toLowerCase();
  out.replaceChildren();
  if (!q) return;
  for (const [u, label] of units) {
    const shown = label || "no clear label";
    if (!(shown.toLowerCase().includes(q) || String(u) === q)) continue;
    const a = document.createElement("a");
    a.href = `${u}.html`; a.textContent = `${u}: ${shown}`;
    out.append(a, document.createElement("br"));
  }
});
</script>"""


def _page(title: str, body: str, depth: int) -> str:
    up = "../" * depth
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<link rel="stylesheet" href="{up}style.css"></head><body>\n{body}\n</body></html>\n'
    )


def _label(text: str) -> str:
    return html.escape(text) if text else '<span class="none">no clear label</span>'


def export_site(store, out: str | Path) -> Path:
    """Write `store`'s (a `MicroscopeStore`) finished units as a static site under `out`; returns its index page."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "style.css").write_text(STYLE, encoding="utf-8")
    m = store.manifest
    rows = []
    for layer in store.layers:
        done = sorted(store.finished(layer))
        _layer_pages(store, out, layer, done)
        entry = store.entry(layer)
        rows.append(f'<tr><td><a href="{html.escape(layer)}/index.html">{html.escape(layer)}</a></td><td>{len(done)} of {entry["count"]} {html.escape(entry["noun"])}s</td><td>{html.escape(entry["description"])}</td></tr>')
    body = (
        f"<h1>Microscope of {html.escape(m['model'])}</h1><p>Weights {m['fingerprint'][:12]} · icons at {m['full']['size']} px, "
        f"{m['full']['steps']} steps · every unit's exemplars, label, class support and feeds.</p>"
        f"<table><tr><th>layer</th><th>units</th><th>what they are</th></tr>{''.join(rows)}</table>"
    )
    index = out / "index.html"
    index.write_text(_page(f"Microscope of {m['model']}", body, 0), encoding="utf-8")
    return index


def _layer_pages(store, out: Path, layer: str, done: list[int]) -> None:
    folder = out / layer
    folder.mkdir(parents=True, exist_ok=True)
    pages = {u: store.page(layer, u) for u in done}
    labels = json.dumps([[u, pages[u]["label"]] for u in done]).replace("</", "<\\/")
    chunks = [done[i : i + PAGE] for i in range(0, len(done), PAGE)] or [[]]
    names = ["index.html"] + [f"page-{n + 1}.html" for n in range(1, len(chunks))]
    for n, chunk in enumerate(chunks):
        links = " · ".join(f'<a href="{name}">{i + 1}</a>' if i != n else f"<b>{i + 1}</b>" for i, name in enumerate(names))
        cards = "".join(
            f'<a class="card" href="{u}.html"><img loading="lazy" src="{u}/icon.png" alt="unit {u}" width="112" height="112">'
            f'<span>{u} · {_label(pages[u]["label"])}</span></a>'
            for u in chunk
        )
        body = (
            f'<nav><a href="../index.html">all layers</a> · {html.escape(layer)} · pages {links}</nav>'
            f'<h1>{html.escape(layer)}</h1><p><input id="search" type="search" placeholder="search: label or unit number"></p><div id="found"></div>'
            f'<div class="grid">{cards}</div><script type="application/json" id="labels">{labels}</script>{SEARCH}'
        )
        (folder / names[n]).write_text(_page(layer, body, 1), encoding="utf-8")
    for u, page in pages.items():
        target = folder / str(u)
        target.mkdir(exist_ok=True)
        for name in IMAGES:
            shutil.copyfile(store.unit_dir(layer, u) / name, target / name)
        (folder / f"{u}.html").write_text(_page(f"{layer} · {page['noun']} {u}", _unit_body(store, layer, u, page, done), 1), encoding="utf-8")


def _feeds(feeds: dict, here: str) -> str:
    if not feeds:
        return ""
    prefix = "" if feeds["layer"] == here else f"../{html.escape(feeds['layer'])}/"
    return "".join(
        f'<div><a href="{prefix}{u}.html"><img src="{prefix}{u}/icon.png" alt="">{html.escape(feeds["layer"])} unit {u}</a> {v:+.4f}</div>' for u, v in feeds["units"]
    )


def _unit_body(store, layer: str, u: int, page: dict, done: list[int]) -> str:
    i = done.index(u)
    nav = [f'<a href="../index.html">all layers</a>', f'<a href="index.html">{html.escape(layer)}</a>']
    if i > 0:
        nav.append(f'<a href="{done[i - 1]}.html">← {done[i - 1]}</a>')
    if i + 1 < len(done):
        nav.append(f'<a href="{done[i + 1]}.html">{done[i + 1]} →</a>')
    s = page["stats"]
    classes = ", ".join(f"{html.escape(c)} {v:+.3f}" for c, v in page["classes"]) or '<span class="none">none strongly</span>'
    top = ", ".join(f"{html.escape(c)} {v:+.3f}" for c, v in page["top_classes"])
    scores = ", ".join(f"{v:.3f}" for v in page["exemplar_scores"])
    return f"""<nav>{' · '.join(nav)}</nav>
<h1>{html.escape(layer)} · {html.escape(page['noun'])} {u}: {_label(page['label'])}</h1>
<p title="{html.escape(page['evidence'])}">{html.escape(page['source'] and f'labelled by {page["source"]}' or 'no evidence strong enough for a label')} — {html.escape(page['evidence'])}</p>
<div class="pictures">
<figure><img src="{u}/icon.png" alt="icon"><figcaption>Its icon: an image optimised to excite it, {html.escape(page['budget'])}, seen by the model at this size.</figcaption></figure>
<figure><img src="{u}/icon-input.png" alt="icon at the input's scale"><figcaption>The same, seen by the model enlarged to its input size: the pattern at the scale of objects in a photo.</figcaption></figure>
<figure><img src="{u}/diversity.png" alt="diversity set"><figcaption>A diversity set ({html.escape(page['diversity_budget'])}): images that excite it and differ from each other.</figcaption></figure>
<figure><img src="{u}/exemplars.png" alt="exemplars"><figcaption>Its top dataset crops, cut to its receptive field, darker where it fires less (peak activations {scores}).</figcaption></figure>
</div>
<table>
<tr><td>mean activation over every position of the dataset</td><td>{s['mean']:.4f}</td></tr>
<tr><td>standard deviation of its activation</td><td>{s['std']:.4f}</td></tr>
<tr><td>peak activation</td><td>{s['peak']:.4f}</td></tr>
<tr><td>share of positions where it is on (above zero)</td><td>{100 * s['active']:.1f}%</td></tr>
<tr><td>classes it supports strongly (`unit_labels`' rule)</td><td>{classes}</td></tr>
<tr><td>its five largest class supports, averaged over images (strong or not)</td><td>{top}</td></tr>
</table>
<h2>Fed most by</h2><div class="feeds">{_feeds(page['below'], layer) or '<span class="none">no chosen layer below</span>'}</div>
<h2>Feeds most</h2><div class="feeds">{_feeds(page['above'], layer) or '<span class="none">no chosen layer above</span>'}</div>"""
