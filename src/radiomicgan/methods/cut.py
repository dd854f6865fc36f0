"""CUT (Park et al. 2020): kernel conversion learned from unpaired series with one generator.

Park T, Efros AA, Zhang R, Zhu JY. "Contrastive Learning for Unpaired Image-to-Image Translation."
ECCV 2020. One generator G: source -> standard kernel (the model file's) and one PatchGAN D on
standard slices; no inverse generator and no cycle. What ties the output to the input is PatchNCE
(Sec. 3.1-3.2): at each of G's encoder stages, the feature of G(x) at a location (the query) must
pick out the feature of x at the same location (the positive) among x's features at the other
sampled locations of the same crop (the negatives), an InfoNCE with temperature tau over features
that a two-layer MLP per stage projects and L2-normalizes. The keys (x's features) are detached,
as Park et al.'s. With `nce_identity` the same term ties G(y) to y on standard slices:

    L = L_LSGAN(G, D) + nce_weight * (PatchNCE(x, G(x)) + PatchNCE(y, G(y))) / 2
        + density_weight * |blur(G(x)) - blur(x)|_1 + level_weight * TextureLevel(G(x))

the last two terms ours (below).

Why here: CycleGAN behind the spectral prefilter moved tissue densities by 19-23 HU (95th
percentile) on the lung CT's iterative pairs (README, Unpaired training): a cycle only asks that F
can undo G, so G may move what F moves back. PatchNCE asks that each output patch stay recognizably
its own input patch, and costs one generator instead of two.

Ours: G's encoder stages are `Generator.encoder_stages()`, read by forward hooks, so any generator
that names them trains (the default's small residual U-Net, Choe et al.'s CNN, the VGG U-Net); the
GAN loss is least squares, as Park et al.'s; the discriminator sees each crop beside its texture map
(`baselines.cut.texture_gain`, as CycleGAN's: kernel noise is 10-30 HU); the learning rate decays
linearly over the last `decay_fraction` of the steps; no image pool (Park et al. use none). The
generator starts at the identity, where PatchNCE is near its floor; the adversarial term moves it.
The density term holds the local mean HU (a Gaussian blur of `density_sigma_px`) to the input's: a
kernel or reconstruction change keeps it, and PatchNCE, which compares features up to their scale,
cannot see it move (`baselines.cut.density_weight` says what it did without). The level term holds
the band SDs of G's outputs to the target crops' per tissue class (`methods.texture_level`): the
adversarial term alone gave 27-30 % too much texture in four runs of six. It is off by default: it
fixed the level but cost bone features (`baselines.cut.level_weight`).
Its `model.prefilter: auto` is none: the spectral filter's bias on iterative input (README) would
be G's starting point.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from radiomicgan.config import CUTConfig, TrainConfig
from radiomicgan.errors import ConfigError
from radiomicgan.methods.stanct import gaussian_blur
from radiomicgan.methods.texture_level import TextureLevel
from radiomicgan.methods.unpaired_gan import (
    SliceDiscriminator,
    StepCounter,
    linear_decay,
    lsgan,
    set_learning_rate,
)
from radiomicgan.nets import Generator
from radiomicgan.training.parts import Method, SampleFn
from radiomicgan.training.steps import adam, frozen

# a tissue class with fewer pixels in a batch of crops gives too noisy an SD to steer by
LEVEL_MIN_PIXELS = 256


@contextmanager
def captured(stages: list[nn.Module]) -> Iterator[list[torch.Tensor]]:
    """The outputs of `stages`, in the order the forward passes inside the block compute them."""
    outputs: list[torch.Tensor] = []
    handles = [stage.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for stage in stages]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


class Projection(nn.Module):
    """One two-layer MLP per encoder stage (Park et al.'s H_l), then L2 normalization."""

    def __init__(self, channels: list[int], width: int) -> None:
        super().__init__()
        self.mlps = nn.ModuleList(
            nn.Sequential(nn.Linear(c, width), nn.ReLU(), nn.Linear(width, width)) for c in channels
        )

    def forward(self, stage: int, vectors: torch.Tensor) -> torch.Tensor:
        """[B, P, C] features of stage `stage` -> [B, P, width] unit vectors."""
        return F.normalize(self.mlps[stage](vectors), dim=-1)


def stage_channels(generator: Generator) -> list[int]:
    """The channel count of each encoder stage, from one forward pass of a small blank slice."""
    stages = generator.encoder_stages()
    side = max(generator.size_multiple, 8)
    parameter = next(generator.parameters())
    was_training = generator.training
    generator.eval()  # a blank slice must not move a batch norm's running statistics
    try:
        with torch.no_grad(), captured(stages) as outputs:
            generator(torch.zeros(1, 1, side, side, device=parameter.device))
    finally:
        generator.train(was_training)
    return [int(out.shape[1]) for out in outputs]


def patch_nce(
    queries: torch.Tensor, keys: torch.Tensor, stage: int, projection: Projection, settings: CUTConfig
) -> torch.Tensor:
    """PatchNCE at one stage: [B, C, H, W] features of G's outputs (queries) and of its inputs (keys).

    The same `settings.patches` locations (all, where the stage has fewer) are drawn for every
    crop; each query's positive is the key at its location, its negatives the keys at the others.
    """
    batch = queries.shape[0]
    locations = queries.shape[2] * queries.shape[3]
    chosen = torch.randperm(locations, device=queries.device)[: settings.patches]
    q, k = (f.flatten(2).transpose(1, 2)[:, chosen] for f in (queries, keys.detach()))
    logits = torch.bmm(projection(stage, q), projection(stage, k).transpose(1, 2)) / settings.temperature
    positives = torch.arange(len(chosen), device=queries.device).repeat(batch)
    return F.cross_entropy(logits.flatten(0, 1), positives)


@dataclass
class CUTParts:
    """G, its projection heads, D, their optimizers (a `Learner`).

    Attributes:
        g: source -> standard kernel, the model.
        projection: the per-stage MLPs PatchNCE reads G's features through (trained with G).
        d: judges standard-kernel slices.
        level: the target crops' texture level, pooled over the steps (buffers only).
        total_steps: the run's steps (epochs x steps per epoch), for the learning rate's decay.
    """

    g: Generator
    projection: Projection
    d: nn.Module
    level: TextureLevel
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    settings: CUTConfig
    lr: float
    total_steps: int
    batch_size: int = 4
    counter: StepCounter = field(init=False)

    def __post_init__(self) -> None:
        self.counter = StepCounter().to(next(self.g.parameters()).device)

    def networks(self) -> dict[str, nn.Module]:
        networks = {"g": self.g, "projection": self.projection, "d": self.d, "counter": self.counter}
        return {**networks, "level": self.level}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def model(self) -> nn.Module:
        return self.g

    def train_step(self, sample: SampleFn) -> dict[str, float]:
        """Update G and its projections, then D, on one batch of each kernel's crops.

        Returns:
            "g_adv" (G's LSGAN term), "nce" (PatchNCE on source crops), "nce_identity" (on standard
            crops; 0 without `nce_identity`), "density" (the local-mean L1, windowed units), "level"
            (the texture level's squared log SD ratio; 0 without `level_weight`), "g" (the weighted
            total), "d" (D's LSGAN loss), "lr".
        """
        real_s, real_t = sample(self.batch_size)
        lr = linear_decay(self.lr, int(self.counter.steps), self.total_steps, self.settings.decay_fraction)
        set_learning_rate(lr, self.opt_g, self.opt_d)
        losses, fake_t = self._generator_step(real_s, real_t)
        losses["d"] = self._discriminator_step(real_t, fake_t)
        self.counter.steps += 1
        return {**losses, "lr": lr}

    def _generator_step(
        self, real_s: torch.Tensor, real_t: torch.Tensor
    ) -> tuple[dict[str, float], torch.Tensor]:
        n = len(real_s)
        # one batch of both kernels, as Park et al.'s: the batch norms see the two domains together
        inputs = torch.cat([real_s, real_t]) if self.settings.nce_identity else real_s
        with frozen(self.d):
            self.opt_g.zero_grad(set_to_none=True)
            stages = self.g.encoder_stages()
            with captured(stages) as keys:
                outputs = self.g(inputs)
            with captured(stages) as queries:
                self.g(outputs)
            adversarial = lsgan(self.d(outputs[:n]), True)
            nce, identity = (self._nce(queries, keys, part) for part in (slice(0, n), slice(n, len(inputs))))
            terms = 2 if self.settings.nce_identity else 1
            density = self._density(outputs[:n], real_s)
            level = self._level(outputs[:n], real_s, real_t)
            loss = adversarial + self.settings.nce_weight * (nce + identity) / terms
            loss = loss + self.settings.density_weight * density + self.settings.level_weight * level
            loss.backward()  # type: ignore[no-untyped-call]
            self.opt_g.step()
        losses = {
            "g_adv": adversarial.item(),
            "nce": nce.item(),
            "nce_identity": identity.item(),
            "density": density.item(),
            "level": level.item(),
        }
        return {**losses, "g": loss.item()}, outputs[:n].detach()

    def _density(self, harmonized: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """The L1 between the local means (Gaussian blurs) of G's outputs and of its inputs."""
        if self.settings.density_weight == 0:
            return torch.zeros((), device=source.device)
        sigma = self.settings.density_sigma_px
        return F.l1_loss(gaussian_blur(harmonized, sigma), gaussian_blur(source, sigma))

    def _level(self, harmonized: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The texture level term, after pooling this step's target crops into the reference."""
        if self.settings.level_weight == 0:
            return torch.zeros((), device=source.device)
        self.level.observe(target)
        return self.level.loss(harmonized, source)

    def _nce(self, queries: list[torch.Tensor], keys: list[torch.Tensor], part: slice) -> torch.Tensor:
        """PatchNCE averaged over the stages, for the crops `part` of the batch (0 where it is empty)."""
        if part.start == part.stop:
            return torch.zeros((), device=queries[0].device)
        terms = [
            patch_nce(q[part], k[part], stage, self.projection, self.settings)
            for stage, (q, k) in enumerate(zip(queries, keys, strict=True))
        ]
        return torch.stack(terms).mean()

    def _discriminator_step(self, real_t: torch.Tensor, fake_t: torch.Tensor) -> float:
        self.opt_d.zero_grad(set_to_none=True)
        loss = 0.5 * (lsgan(self.d(real_t), True) + lsgan(self.d(fake_t), False))
        loss.backward()  # type: ignore[no-untyped-call]
        self.opt_d.step()
        return loss.item()


def build_cut(generator: Generator, config: TrainConfig, device: torch.device) -> CUTParts:
    """CUT around `generator` (G), projection heads on its encoder stages and a slice PatchGAN.

    Raises:
        ConfigError: the generator names no encoder stages to contrast.
    """
    settings = config.baselines.cut
    if not generator.encoder_stages():
        raise ConfigError(
            f"cut: generator {config.model.generator!r} has no encoder stages for PatchNCE "
            "(baselines.cut.generator: residual_unet, choe or radiomicgan)"
        )
    projection = Projection(stage_channels(generator), settings.projection_width).to(device)
    d = SliceDiscriminator(config.model.patchgan, settings.texture_sigma_px, settings.texture_gain).to(device)
    level = TextureLevel(  # CUT trains in the full range (schedule "minmax", `methods.resolve`)
        config.window.full_range_hu,
        settings.level_ranges_hu,
        settings.level_sigmas_px,
        settings.density_sigma_px,
        LEVEL_MIN_PIXELS,
    ).to(device)
    return CUTParts(
        generator,
        projection,
        d,
        level,
        adam(nn.ModuleList([generator, projection]), config.learning_rate, config.beta1),
        adam(d, config.learning_rate, config.beta1),
        settings,
        config.learning_rate,
        config.epochs * config.steps_per_epoch,
        config.batch_size,
    )


def generator_of(config: TrainConfig) -> str:
    """The generator CUT trains: `baselines.cut.generator`."""
    return config.baselines.cut.generator


# Not data-parallel: the generator runs twice (on the crops, then on its outputs) before one backward
METHOD = Method(
    build_cut,
    generator=None,
    help="CUT (Park et al. 2020): unpaired, one generator, LSGAN + PatchNCE on its encoder features",
    data_parallel=False,
    single_process_why="the generator runs twice before one backward pass, with hooks on its encoder",
    prefilter="none",
    unpaired=True,
    generator_of=generator_of,
)
