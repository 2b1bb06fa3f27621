"""Views of models that are not RGB, in Chromium: a grayscale model's input and icons drawn
gray, a 4-channel model's composite, each with the note that says how, and hover still working
through the note's wrapper. Shown from an exported page, which runs the views' real bundle."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import neuroblocks as nb
from neuroblocks import shapes

from .conftest import hover_cell, view, watch_console

pytestmark = pytest.mark.browser

GRAY_PIXELS = """img => { const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0); const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let colour = 0; for (let i = 0; i < d.length; i += 4) colour = Math.max(colour, Math.abs(d[i] - d[i + 1]), Math.abs(d[i + 1] - d[i + 2]));
  return [c.width, colour]; }"""


def test_gray_and_four_channel_views_draw_their_inputs_and_say_how(page, shapes_gray, tmp_path):
    scene = shapes.scene(3, classes=2)
    torch.manual_seed(4)
    net = torchvision.models.resnet18(num_classes=10)
    net.conv1 = nn.Conv2d(4, 64, 7, 2, 3, bias=False)
    rgbd = nb.Session(net, input_size=64)
    bands = torch.rand(4, 64, 64, generator=torch.Generator().manual_seed(0))
    views = [
        nb.SemanticDictionary(shapes_gray, scene.image, "conv3", icon_size=32, icon_steps=8),
        nb.FeatureVis(shapes_gray, layer="conv3", channel=1, size=32, steps=8),
        nb.ActivationGrid(rgbd, bands, "layer2", icon_size=32, icon_steps=4),
    ]
    for v in views:
        v.wait(icons=True)
    errors = watch_console(page)
    page.goto(nb.to_html(tmp_path / "channels.html", *views).as_uri())

    dictionary = view(page, "Semantic dictionary")
    assert dictionary.locator(".nb-picture-note").inner_text() == "1-channel input: shown in grayscale"
    width, colour = dictionary.locator(".nb-picture-img").evaluate(GRAY_PIXELS)
    assert width == 64 and colour == 0, "the grayscale input is drawn gray"
    hover_cell(page, dictionary.locator(".nb-picture-grid"), 0.3, 0.5)
    icon = dictionary.locator("img.nb-icon").first
    icon.evaluate("img => img.complete || new Promise(r => img.onload = r)")
    assert icon.evaluate(GRAY_PIXELS) == [32, 0], "its channels' icons are gray too"

    featurevis = view(page, "Feature visualization")
    assert featurevis.locator(".nb-picture-note").inner_text() == "1-channel input: shown in grayscale"
    assert featurevis.locator(".nb-featurevis-img").evaluate(GRAY_PIXELS) == [32, 0]

    grid = view(page, "Activation grid")
    assert grid.locator(".nb-picture-note").inner_text() == "4-channel input: channel 0 as red, channel 1 as green, channel 2 as blue"
    assert not errors, errors
