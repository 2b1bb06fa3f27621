"""The activation atlas (docs/guides/dataset-scale.md) on the shapes world, whose concepts are known pixel by pixel:
binning against a direct computation, each vector's class attribution against
`attribution.to_classes`, placing images against the layout's own transform, concept purity
against a shuffled layout, a class atlas, and the view's payload."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

import neuroblocks as nb
from neuroblocks import atlas as A
from neuroblocks.dissection import ShapesConcepts
from neuroblocks.widgets.activation_atlas import ActivationAtlas
from neuroblocks.widgets.export import encode, view_state

SCENES = ShapesConcepts(2000)


@pytest.fixture(scope="module")
def conv3(shapes_session):
    return A.atlas(shapes_session, "conv3", SCENES, grid=(10, 20, 40))


def test_cells_equal_a_direct_computation():
    rng = np.random.default_rng(0)
    points, vectors, classes = rng.random((500, 2)), rng.random((500, 7)), rng.normal(size=(500, 3))
    points[:5] = 1.0  # the far edge belongs to the last cell
    cells = A.grid(points, vectors, classes, 6, threshold=10)
    expected = {}
    for i, (x, y) in enumerate(points):
        expected.setdefault((min(int(y * 6), 5), min(int(x * 6), 5)), []).append(i)
    kept = {cell: members for cell, members in expected.items() if len(members) > 10}
    assert len(cells) == len(kept) > 0
    for m, (row, col) in enumerate(cells.where.tolist()):
        members = kept[(row, col)]
        assert cells.counts[m] == len(members)
        np.testing.assert_allclose(cells.means[m], vectors[members].mean(0), rtol=1e-5)
        np.testing.assert_allclose(cells.classes[m], classes[members].mean(0), rtol=1e-5, atol=1e-6)
        assert sorted(np.flatnonzero(cells.members == m)) == sorted(members)
        centre = np.array([col + 0.5, row + 0.5]) / 6
        distances = ((points[members] - centre) ** 2).sum(1)
        assert cells.examples[m, 0] == members[int(distances.argmin())]  # nearest the centre first
    dropped = [i for cell, members in expected.items() if len(members) <= 10 for i in members]
    assert (cells.members[dropped] == -1).all()


def test_exact_neighbours_equal_a_brute_force_cosine_search():
    """Against scikit-learn's brute-force cosine search, with all-zero vectors (dead positions)
    at distance 0 from each other and 1 from the rest, and every vector its own first neighbour."""
    from sklearn.metrics.pairwise import cosine_distances
    from sklearn.neighbors import NearestNeighbors

    from neuroblocks.atlas.neighbours import ExactNeighbours, precomputed

    rng = np.random.default_rng(1)
    data = np.maximum(rng.normal(size=(3000, 9)), 0).astype(np.float32)  # more rows than one chunk
    data[[5, 77, 2900]] = 0
    indices, distances, index = precomputed(data, 12)
    assert indices.shape == distances.shape == (3000, 12) and (indices[:, 0] == np.arange(3000)).all() and (distances[:, 0] == 0).all()
    live = np.flatnonzero(data.any(1))
    reference = NearestNeighbors(n_neighbors=12, metric="cosine", algorithm="brute").fit(data[live])
    ref_dist, _ = reference.kneighbors(data[live[:200]])
    np.testing.assert_allclose(distances[live[:200]], ref_dist, atol=1e-5)
    rows = live[:200, None]
    np.testing.assert_allclose(cosine_distances(data[live[:200]], data)[np.arange(200)[:, None], indices[rows[:, 0]]], distances[rows[:, 0]], atol=1e-5)  # the indices are those distances' (ties may come in any order)
    zeros = np.flatnonzero(~data.any(1))  # the three set to zero, and those the ReLU zeroed
    assert set(indices[77, : len(zeros)]) == set(zeros) and (distances[77, : len(zeros)] == 0).all() and (distances[77, len(zeros) :] == 1).all()
    queried, far = ExactNeighbours(data).query(data[live[:50]] * 3.0, 12)  # a query scaled: the same cosine neighbours
    np.testing.assert_allclose(far, distances[live[:50]], atol=1e-5)


def test_without_the_exact_search_umap_finds_neighbours_itself(monkeypatch):
    """Past `EXACT_UP_TO` vectors UMAP searches on its own; the layout and `place` work the same way."""
    from neuroblocks.atlas import neighbours

    rng = np.random.default_rng(2)
    vectors = np.abs(rng.normal(size=(400, 8))).astype(np.float32)
    exact = A.Layout(vectors)
    monkeypatch.setattr(neighbours, "EXACT_UP_TO", 100)
    own = A.Layout(vectors)
    assert own.reducer.knn_search_index is None and isinstance(exact.reducer.knn_search_index, neighbours.ExactNeighbours)
    for layout in (exact, own):
        placed = layout.place(vectors[:20])
        assert placed.shape == (20, 2) and np.isfinite(placed).all()
        assert np.linalg.norm(placed - layout.points[:20], axis=1).mean() < 0.1  # known vectors land where they were laid out


def test_each_vector_is_its_position_in_its_image_with_its_attribution_to_every_class(shapes_session, conv3):
    s = conv3.samples
    assert len(s) == 2000 and s.vectors.shape == (2000, 64) and s.classes.shape == (2000, 12)
    for i in (0, 17, 1999):
        image = SCENES[int(s.images[i])][0]
        y, x = s.positions[i].tolist()
        a = shapes_session.trace(image, "conv3", logits=False)["conv3"]
        torch.testing.assert_close(s.vectors[i], a[:, y, x], rtol=1e-4, atol=1e-5)
        reference = nb.attribution.to_classes(shapes_session, image, "conv3", only=[y * 16 + x])[0]
        torch.testing.assert_close(s.classes[i], reference.float(), rtol=1e-4, atol=1e-5)


def test_class_attribution_on_a_random_torchvision_model_matches_to_classes():
    torch.manual_seed(0)
    session = nb.Session(torchvision.models.resnet18(num_classes=20).eval(), input_size=64)
    images = [torch.rand(3, 64, 64) for _ in range(3)]
    found = A.sample(session, "layer3", images, per_image=2, seed=3)
    assert len(found) == 6 and found.grids[0].tolist() == [4, 4]
    with pytest.raises(A.AtlasError, match="'fc' has no positions"):
        A.sample(session, "fc", images)
    for i in range(6):
        y, x = found.positions[i].tolist()
        reference = nb.attribution.to_classes(session, images[int(found.images[i])], "layer3", only=[y * 4 + x])[0]
        torch.testing.assert_close(found.classes[i], reference.float(), rtol=1e-4, atol=1e-6)


def test_place_is_the_layouts_transform_of_the_images_vectors(shapes_session, conv3):
    image = nb.shapes.scene(5).image
    placed = conv3.place(image)
    assert placed.shape == (16, 16, 2) and placed.min() >= 0 and placed.max() <= 1
    a = shapes_session.forward(shapes_session.image(image)[None], capture=["conv3"], stop=True).activations["conv3"][0]
    raw = conv3.layout.reducer.transform(a.reshape(64, -1).T.detach().numpy())
    expected = np.clip((raw - conv3.layout.low) / (conv3.layout.high - conv3.layout.low), 0, 1)
    np.testing.assert_allclose(placed.reshape(-1, 2), expected, atol=1e-5)


def test_layout_is_normalised_by_percentiles_with_a_margin(conv3):
    points = conv3.layout.points
    assert points.min() >= 0 and points.max() <= 1
    inside = ((points > 0) & (points < 1)).all(1).mean()
    assert inside >= 0.96  # only what lies beyond the widened 1st–99th percentiles is clipped
    low, high = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0)
    np.testing.assert_allclose(low, 0.1 / 1.2, atol=0.01)
    np.testing.assert_allclose(high, 1.1 / 1.2, atol=0.01)


def test_cells_are_purer_in_textures_than_the_same_cells_shuffled(conv3):
    """Ground truth (issue 14): conv3 lays the shapes world out by texture."""
    for size in (10, 20):
        real, shuffled = conv3.purity(size, "texture")
        assert real >= 1.5 * shuffled, (size, real, shuffled)
    with pytest.raises(A.AtlasError, match="no masks of the family 'material'"):
        conv3.purity(10, "material")


def test_a_class_atlas_puts_its_mass_on_cells_of_its_class(shapes_session):
    name = "striped circle"
    index = shapes_session.class_index(name)
    found = A.atlas(shapes_session, "conv3", ShapesConcepts(1500), per_image=3, classes=[name], grid=(8,), threshold=2)
    assert (found.samples.scores > 0).all()
    cells = found.cells(8)
    share = cells.counts[cells.classes.argmax(1) == index].sum() / cells.counts.sum()
    assert share >= 0.6, share
    assert found.top_classes(8, 1)[int(cells.counts.argmax())][0][0] == name


def test_bad_requests_say_what_to_do(shapes_session, conv3):
    with pytest.raises(nb.UnknownLayerError, match="conv3"):
        A.atlas(shapes_session, "conv33", SCENES)
    with pytest.raises(A.AtlasError, match="classes is empty"):
        A.atlas(shapes_session, "conv3", SCENES, classes=[])
    with pytest.raises(A.AtlasError, match="resolutions \\[10, 20, 40\\], not 15"):
        conv3.cells(15)
    with pytest.raises(A.AtlasError, match="dataset is empty"):
        A.atlas(shapes_session, "conv3", iter([]))


def test_the_view_sends_every_resolution_once_and_places_a_linked_image(shapes_session, conv3):
    view = ActivationAtlas(shapes_session, conv3, nb.shapes.scene(5).image, icon_steps=0).wait()
    assert [level["size"] for level in view.levels] == [10, 20, 40] and view.resolution == 10
    assert view.places["shape"] == [16, 16, 2]
    state = encode(view_state(view))
    sent = sum(len(b["base64"]) * 3 // 4 for b in state["buffers"])
    assert sent < 2_000_000, sent
    assert "levels" in {p["path"][0] for p in state["buffers"]}  # arrays travel as buffers, not JSON
    view.resolution = 40
    view.wait()
    assert view.error == ""
    view.resolution = 15
    view.wait()
    assert "not 15" in view.error
    with pytest.raises(A.AtlasError, match="another session"):
        ActivationAtlas(nb.Session.load("shapes"), conv3)
