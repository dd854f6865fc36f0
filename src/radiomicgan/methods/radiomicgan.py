"""RadiomicGAN: the paper's method, pix2pix's objective around a U-Net generator, with DWT.

The step is pix2pix's (`methods.pix2pix.build_gan`: adversarial + lambda * L1, paper Sec. 2.1);
what makes it RadiomicGAN is the generator it trains (the configured one: by default our small
residual U-Net, which matched the paper's VGG-19 U-Net at a fourteenth of its cost, README, Quality
per FLOP; `model.generator: radiomicgan` trains the paper's) and Dynamic Window-based Training, the
only method the window schedule applies to. Its `model.prefilter: auto` is the Wiener prefilter,
ours, not the paper's: with it RadiomicGAN beat the tuned Wiener filter on the lung CT benchmark
(README, Results).
"""

from __future__ import annotations

from radiomicgan.methods.pix2pix import build_gan
from radiomicgan.training.parts import Method

METHOD = Method(
    build_gan,
    generator=None,
    help="the paper's method (default)",
    window_training=True,
    prefilter="wiener",
    texture="residual",
)
