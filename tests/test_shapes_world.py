"""The shapes world is the ground truth of later faithfulness tests: its masks must be exact."""

import numpy as np
import pytest

from neuroblocks import shapes


def test_same_seed_same_scene_and_different_seeds_differ():
    a, b, c = shapes.scene(3), shapes.scene(3), shapes.scene(4)
    assert np.array_equal(a.image, b.image) and a.labels == b.labels
    assert not np.array_equal(a.image, c.image)


def test_scene_image_and_mask_types():
    s = shapes.scene(0)
    assert s.image.shape == (shapes.SIZE, shapes.SIZE, 3) and s.image.dtype == np.uint8
    assert len(s.labels) == 1 and s.labels[0] in shapes.CLASSES
    for mask in s.masks.values():
        assert mask.shape == (shapes.SIZE, shapes.SIZE) and mask.dtype == bool and mask.any()


@pytest.mark.parametrize("seed", range(20))
def test_concept_masks_are_the_objects_they_describe(seed):
    s = shapes.scene(seed, classes=2)
    first, second = s.objects
    assert first.center[1] < second.center[1], "labels read left to right"
    assert s.labels == (first.label, second.label) and first.label != second.label
    assert not (s.masks[first.label] & s.masks[second.label]).any(), "objects do not overlap"
    for obj in s.objects:
        mask = s.masks[obj.label]
        for key in (f"shape:{obj.shape}", f"texture:{obj.texture}", f"color:{obj.color}"):
            assert (s.masks[key] & mask).sum() == mask.sum()
    expected = {o.label for o in s.objects} | {f"{k}:{v}" for o in s.objects for k, v in (("shape", o.shape), ("texture", o.texture), ("color", o.color))}
    assert set(s.masks) == expected


def test_pixels_inside_a_mask_have_the_objects_colour():
    s = shapes.scene(7, classes=("solid square",))
    obj = s.objects[0]
    inside = s.image[s.masks["solid square"]].astype(float) / 255
    hue = np.asarray(shapes.COLORS[obj.color])
    # Solid objects are their colour up to brightness jitter (±10%) and pixel noise.
    assert np.abs(inside.mean(0) - hue * inside.mean() / hue.mean()).max() < 0.08


def test_named_classes_and_background_only():
    s = shapes.scene(1, classes=("dotted circle", "checkered triangle"))
    assert s.labels == ("dotted circle", "checkered triangle")
    empty = shapes.scene(1, classes=0)
    assert empty.labels == () and empty.masks == {}


def test_class_names_are_texture_times_shape():
    assert len(shapes.CLASSES) == len(shapes.SHAPES) * len(shapes.TEXTURES) >= 10
    assert shapes.class_concepts("striped triangle") == ("stripes", "triangle")


def test_unknown_class_is_refused_with_the_list():
    with pytest.raises(ValueError, match="unknown shapes class 'striped star'.*solid circle"):
        shapes.scene(0, classes=("striped star",))
