import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full")


@app.cell
def _():
    import marimo as mo
    import skimage.data

    import neuroblocks as nb
    from neuroblocks import examples

    return examples, mo, nb, skimage


@app.cell
def _(examples, mo):
    intro = mo.md(
        """
        # neuroblocks in marimo

        The article's activation grid, semantic dictionary and spatial attribution, linked: hover a
        cell of the grid and the dictionary lists what the layer detects there while the spatial
        attribution marks the same cell. Each view is an anywidget shown with `mo.ui.anywidget`;
        marimo has no ipywidgets links, so a hover reaches the linked views through the kernel.
        Pick another photo below and the same views compute again for it.
        """
    )
    ex = examples.load()  # MobileNetV2 with its ImageNet weights when at hand, else the shapes model
    mo.vstack([intro, mo.md(f"*{ex.note}*")])
    return (ex,)


@app.cell
def _(ex, mo, nb):
    grid = nb.ActivationGrid(ex.session, ex.image, ex.layer)
    dictionary = nb.SemanticDictionary(ex.session, ex.image, ex.layer)
    spatial = nb.SpatialAttribution(ex.session, ex.image, ex.layer, ex.upper, classes=ex.classes)
    nb.link(grid, dictionary, spatial)
    grid_view, dictionary_view, spatial_view = (mo.ui.anywidget(v) for v in (grid, dictionary, spatial))
    mo.vstack([mo.hstack([grid_view, dictionary_view], justify="start", wrap=False), spatial_view])
    return dictionary, grid, spatial


@app.cell
def _(ex, mo):
    photo = mo.ui.dropdown(
        options=["chelsea", "coffee", "astronaut", "rocket"] if ex.pretrained else ["scene"],
        value="chelsea" if ex.pretrained else "scene",
        label="photo (scikit-image ships them)",
    )
    photo
    return (photo,)


@app.cell
def _(dictionary, ex, grid, photo, skimage, spatial):
    # The views keep their links and recompute in place when their image changes.
    chosen = ex.image if photo.value in ("chelsea", "scene") else getattr(skimage.data, photo.value)()
    for _view in (grid, dictionary, spatial):
        if _view.image is not chosen:
            _view.image = chosen
    return


if __name__ == "__main__":
    app.run()
