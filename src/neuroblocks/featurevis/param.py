"""The image being optimised: a Fourier spectrum with 1/f scaling and decorrelated colours
(SPEC §3). Optimising in this basis gives every frequency a comparable step, so the result is
not dominated by high-frequency noise.
"""

from __future__ import annotations

import torch

# Square root of ImageNet's colour covariance (rows: output RGB, columns: decorrelated channels).
COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR_MIX = COLOR_SQRT / COLOR_SQRT.norm(dim=0).max()


class FourierImage(torch.nn.Module):
    """Images of `h × w` RGB in [0, 1], parameterised by their spectra, one per seed in `seeds`.

    Image i starts from a spectrum (std 0.01) drawn from `seeds[i]` alone, so an image does not
    depend on which other images share its batch.
    """

    def __init__(self, seeds: list[int], h: int, w: int, device: str | torch.device = "cpu") -> None:
        super().__init__()
        fy = torch.fft.fftfreq(h)[:, None]
        fx = torch.fft.rfftfreq(w)[None, :]
        freqs = torch.sqrt(fx * fx + fy * fy)
        scale = 1.0 / torch.clamp(freqs, min=1.0 / max(w, h)) * (w * h) ** 0.5  # decay power 1
        self.register_buffer("scale", scale.to(device))
        self.register_buffer("mix", COLOR_MIX.to(device))
        self.h, self.w = h, w
        spectra = [torch.randn(3, *freqs.shape, 2, generator=torch.Generator().manual_seed(s)) * 0.01 for s in seeds]
        self.spectrum = torch.nn.Parameter(torch.stack(spectra).to(device))

    def forward(self) -> torch.Tensor:
        complex_spectrum = torch.view_as_complex(self.spectrum) * self.scale
        decorrelated = torch.fft.irfft2(complex_spectrum, s=(self.h, self.w)) / 4.0
        rgb = torch.einsum("ij,njhw->nihw", self.mix, decorrelated)
        return torch.sigmoid(rgb)
