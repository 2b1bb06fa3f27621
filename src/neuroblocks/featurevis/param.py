"""The image being optimised: a Fourier spectrum with 1/f scaling and decorrelated channels
(docs/explanations/feature-visualization.md). Optimising in this basis gives every frequency a comparable step, so the result is
not dominated by high-frequency noise.
"""

from __future__ import annotations

import torch

from ..keywords import checked

# Square root of ImageNet's colour covariance (rows: output RGB, columns: decorrelated channels).
COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])


def _normalised(sqrt: torch.Tensor) -> torch.Tensor:
    """Scaled so that its largest column has norm 1, as Lucid does with ImageNet's."""
    return sqrt / sqrt.norm(dim=0).max().clamp(min=1e-12)


COLOR_MIX = _normalised(COLOR_SQRT)


def default_mix(channels: int) -> torch.Tensor:
    """ImageNet's decorrelation for RGB models; for other channel counts no correlation is known,
    so channels are optimised independently (identity)."""
    return COLOR_MIX.clone() if channels == 3 else torch.eye(channels)


@checked
def estimate_decorrelation(images: torch.Tensor) -> torch.Tensor:
    """A C×C square root of the channels' covariance over the pixels of `images` ((N,) C, H, W in
    [0, 1]), scaled as ImageNet's: pass it to `featurevis.configure(session, decorrelation=)` so feature
    visualizations of a multi-channel model move its channels together the way its data does."""
    x = images if images.dim() == 4 else images[None]
    pixels = x.detach().double().transpose(0, 1).reshape(x.shape[1], -1)
    pixels = pixels - pixels.mean(dim=1, keepdim=True)
    covariance = pixels @ pixels.T / max(1, pixels.shape[1] - 1)
    values, vectors = torch.linalg.eigh(covariance)
    order = values.argsort(descending=True)
    sqrt = vectors[:, order] * values[order].clamp(min=0).sqrt()
    return _normalised(sqrt).float()


class FourierImage(torch.nn.Module):
    """Images of `channels × h × w` in [0, 1], parameterised by their spectra, one per seed in `seeds`.

    Image i starts from a spectrum (std 0.01) drawn from `seeds[i]` alone, so an image does not
    depend on which other images share its batch. `mix` (channels × channels) maps the
    decorrelated channels to the model's; default `default_mix(channels)`.
    """

    def __init__(
        self, seeds: list[int], h: int, w: int, device: str | torch.device = "cpu", channels: int = 3, mix: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        fy = torch.fft.fftfreq(h)[:, None]
        fx = torch.fft.rfftfreq(w)[None, :]
        freqs = torch.sqrt(fx * fx + fy * fy)
        scale = 1.0 / torch.clamp(freqs, min=1.0 / max(w, h)) * (w * h) ** 0.5  # decay power 1
        self.register_buffer("scale", scale.to(device))
        self.register_buffer("mix", (default_mix(channels) if mix is None else mix.float()).to(device))
        self.h, self.w = h, w
        spectra = [torch.randn(channels, *freqs.shape, 2, generator=torch.Generator().manual_seed(s)) * 0.01 for s in seeds]
        self.spectrum = torch.nn.Parameter(torch.stack(spectra).to(device))

    def forward(self) -> torch.Tensor:
        complex_spectrum = torch.view_as_complex(self.spectrum) * self.scale
        decorrelated = torch.fft.irfft2(complex_spectrum, s=(self.h, self.w)) / 4.0
        mixed = torch.einsum("ij,njhw->nihw", self.mix, decorrelated)
        return torch.sigmoid(mixed)
