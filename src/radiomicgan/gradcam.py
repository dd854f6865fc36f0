"""Grad-CAM (Selvaraju et al. 2017) of the discriminator's "synthesized" decision (paper Sec. 2.2, Fig. 2).

The discriminator's logit is its evidence that a patch is standard (real); the score explained here is
its evidence that the candidate is synthesized, the negative mean logit over the patch map. With A_k the
k-th channel of a feature layer, Grad-CAM weights each channel by its spatially averaged gradient,
w_k = mean_xy d(score)/dA_k, and keeps the positive part of sum_k w_k A_k: where the layer saw
"synthesized" evidence. The map is upsampled (bilinear) to the slice and divided by its maximum, so
1 marks the strongest evidence in each image and an image without any scores 0 everywhere.

The discriminator comes back as it went in: its training flag and its parameters' requires_grad are
restored, and no gradient reaches its parameters' .grad (they are frozen during the pass, as the paper's
"D remains freeze"). It runs in eval mode so that batch norm neither uses nor updates batch statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn


def gradcam(
    discriminator: nn.Module, layer: nn.Module, condition: torch.Tensor, candidate: torch.Tensor
) -> NDArray[np.float32]:
    """CAMs of the "synthesized" evidence for a batch of candidates.

    Args:
        discriminator: called as `discriminator(condition, candidate)`, returning a logit map
            (positive: standard).
        layer: a submodule of the discriminator whose output is a feature map [B, K, h, w]
            (`PatchGAN.cam_layer`).
        condition: the non-standard slices [B, 1, H, W].
        candidate: the slices judged (the generator's output) [B, 1, H, W].

    Returns:
        float32 [B, H, W] in [0, 1].

    Raises:
        ValueError: the layer is not used by the discriminator's forward pass.
    """
    captured: list[torch.Tensor] = []

    def swap_in_leaf(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        # Continue the forward pass from a leaf copy of the activations, so that autograd.grad can
        # differentiate the score with respect to them and nothing else.
        leaf = output.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf

    was_training = discriminator.training
    requires_grad = [(p, p.requires_grad) for p in discriminator.parameters()]
    handle = layer.register_forward_hook(swap_in_leaf)
    try:
        discriminator.eval()
        for p, _ in requires_grad:
            p.requires_grad_(False)
        with torch.enable_grad():
            logits = discriminator(condition.detach(), candidate.detach())
            if not captured:
                raise ValueError("the Grad-CAM layer is not used by the discriminator's forward pass")
            activations = captured[-1]
            synthesized = -logits.flatten(1).mean(dim=1)  # per image; images do not interact in eval mode
            (gradients,) = torch.autograd.grad(synthesized.sum(), activations)
    finally:
        handle.remove()
        for p, flag in requires_grad:
            p.requires_grad_(flag)
        discriminator.train(was_training)

    weights = gradients.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activations.detach()).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(candidate.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(dim=1).view(-1, 1, 1)
    cam = torch.where(peak > 0, cam / peak.clamp_min(torch.finfo(cam.dtype).tiny), torch.zeros_like(cam))
    return cam.clamp(0.0, 1.0).cpu().numpy().astype(np.float32)
