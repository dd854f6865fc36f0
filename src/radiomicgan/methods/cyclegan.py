"""CycleGAN (Zhu et al. 2017): kernel conversion learned from unpaired series.

Zhu JY, Park T, Isola P, Efros AA. "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks." ICCV 2017. Two generators, G: source -> standard kernel (the model file's)
and F: standard -> source, and two PatchGAN discriminators, D_t on standard slices and D_s on
source slices, each judging a slice alone (there is no pair to condition on). The objective, as
the paper's (Sec. 3-4), with the weights of `baselines.cyclegan`:

    L = L_LSGAN(G, D_t) + L_LSGAN(F, D_s)
        + cycle_weight * (|F(G(x)) - x|_1 + |G(F(y)) - y|_1)
        + identity_weight * cycle_weight * (|G(y) - y|_1 + |F(x) - x|_1)

with the least-squares GAN loss (Mao et al. 2017; Zhu et al. Sec. 4), the discriminators updated on
a pool of the last `pool_size` synthesized crops as well as the newest (Shrivastava et al. 2017;
Zhu et al. Sec. 4), Adam with the run's lr and beta1 (the paper: 2e-4 and 0.5), and the learning
rate decaying linearly to 0 over the last `decay_fraction` of the run's steps (the paper: the
second half). It trains on unpaired series (`train --unpaired --model cyclegan`, the default there
in sessions 9-10) and on pairs, whose pairing it ignores.

Ours: the generator of both directions is `baselines.cyclegan.generator`, one of the registry's
learned ones with its own `model` section; by default Choe et al.'s residual CNN (`model.choe`),
which starts at the identity: the cycle and identity losses are met from the first step, and the
adversarial terms move G and F from there. F starts as a copy of G (the same pretrained encoder,
when the generator has one) and parts from it at the first step. The discriminators see each crop
beside its texture map (`texture_gain`, STAN-CT's high-pass residual): kernels differ in noise of
10-30 HU, which a plain PatchGAN barely told apart from anatomy. Its `model.prefilter: auto` is the
spectral filter (`training.prefilter.spectral_prefilter_split`): G learns from the filter's output,
so the GAN is left what no linear filter can do. It trains in the full range: the dynamic window
phase reads the CAM of a discriminator conditioned on the input, which these are not.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from radiomicgan.config import CycleGANConfig, TrainConfig
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


class ImagePool(nn.Module):
    """The last `size` synthesized crops a discriminator also learns from (Zhu et al. Sec. 4).

    For each new crop, while the pool is filling it is stored and used; once full, with probability
    1/2 a random stored crop is used instead and the new one takes its place. Buffers, so that a
    checkpoint keeps the pool; the draws use torch's random stream, which a checkpoint keeps too.
    """

    images: torch.Tensor
    count: torch.Tensor

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.register_buffer("images", torch.zeros(0))
        self.register_buffer("count", torch.tensor(0))

    @torch.no_grad()
    def query(self, fakes: torch.Tensor) -> torch.Tensor:
        """The crops to judge in place of `fakes` [B, 1, H, W] (detached)."""
        if self.size == 0:
            return fakes
        if self.images.shape[1:] != fakes.shape[1:]:  # first use, or a resumed run with other crops
            self.images = fakes.new_zeros((self.size, *fakes.shape[1:]))
            self.count.zero_()
        chosen = []
        for fake in fakes:
            if int(self.count) < self.size:
                self.images[int(self.count)] = fake
                self.count += 1
                chosen.append(fake)
            elif float(torch.rand(())) < 0.5:
                index = int(torch.randint(self.size, ()))
                chosen.append(self.images[index].clone())
                self.images[index] = fake
            else:
                chosen.append(fake)
        return torch.stack(chosen)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        stored = state_dict.get(prefix + "images")
        if isinstance(stored, torch.Tensor):  # the pool's size is the checkpoint's: resize to load it
            self.images = torch.empty_like(stored, device=self.images.device)
        super()._load_from_state_dict(state_dict, prefix, *args)


@dataclass
class CycleGANParts:
    """The two generators, the two discriminators, their optimizers and pools (a `Learner`).

    Attributes:
        g: source -> standard kernel, the model.
        f: standard -> source kernel.
        d_t: judges standard-kernel slices.
        d_s: judges source-kernel slices.
        total_steps: the run's steps (epochs x steps per epoch), for the learning rate's decay.
    """

    g: nn.Module
    f: nn.Module
    d_t: nn.Module
    d_s: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    settings: CycleGANConfig
    lr: float
    total_steps: int
    batch_size: int = 4
    pool_t: ImagePool = field(init=False)
    pool_s: ImagePool = field(init=False)
    counter: StepCounter = field(init=False)

    def __post_init__(self) -> None:
        device = next(self.g.parameters()).device
        self.pool_t = ImagePool(self.settings.pool_size).to(device)
        self.pool_s = ImagePool(self.settings.pool_size).to(device)
        self.counter = StepCounter().to(device)

    def networks(self) -> dict[str, nn.Module]:
        return {
            "g": self.g, "f": self.f, "d_t": self.d_t, "d_s": self.d_s,
            "pool_t": self.pool_t, "pool_s": self.pool_s, "counter": self.counter,
        }  # fmt: skip

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}

    def model(self) -> nn.Module:
        return self.g

    def train_step(self, sample: SampleFn) -> dict[str, float]:
        """Update both generators, then both discriminators, on one batch of each kernel's crops.

        Returns:
            "g_adv" (both generators' LSGAN terms), "cycle" and "identity" (the L1 sums, in [0, 1]
            units), "g" (the weighted total), "d_t" and "d_s" (the discriminators' LSGAN losses), "lr".
        """
        real_s, real_t = sample(self.batch_size)
        lr = self._decayed_lr()
        set_learning_rate(lr, self.opt_g, self.opt_d)
        losses, fake_t, fake_s = self._generator_step(real_s, real_t)
        losses |= self._discriminator_step(real_s, real_t, fake_t, fake_s)
        self.counter.steps += 1
        return {**losses, "lr": lr}

    def _generator_step(
        self, real_s: torch.Tensor, real_t: torch.Tensor
    ) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
        weight = self.settings.cycle_weight
        with frozen(self.d_t), frozen(self.d_s):
            self.opt_g.zero_grad(set_to_none=True)
            fake_t, fake_s = self.g(real_s), self.f(real_t)
            adversarial = lsgan(self.d_t(fake_t), True) + lsgan(self.d_s(fake_s), True)
            cycle = F.l1_loss(self.f(fake_t), real_s) + F.l1_loss(self.g(fake_s), real_t)
            identity = torch.zeros((), device=real_s.device)
            if self.settings.identity_weight > 0:  # two more passes: skipped when unweighted
                identity = F.l1_loss(self.g(real_t), real_t) + F.l1_loss(self.f(real_s), real_s)
            loss = adversarial + weight * cycle + self.settings.identity_weight * weight * identity
            loss.backward()  # type: ignore[no-untyped-call]
            self.opt_g.step()
        losses = {
            "g_adv": adversarial.item(),
            "cycle": cycle.item(),
            "identity": identity.item(),
            "g": loss.item(),
        }
        return losses, fake_t.detach(), fake_s.detach()

    def _discriminator_step(
        self, real_s: torch.Tensor, real_t: torch.Tensor, fake_t: torch.Tensor, fake_s: torch.Tensor
    ) -> dict[str, float]:
        self.opt_d.zero_grad(set_to_none=True)
        loss_t = 0.5 * (lsgan(self.d_t(real_t), True) + lsgan(self.d_t(self.pool_t.query(fake_t)), False))
        loss_s = 0.5 * (lsgan(self.d_s(real_s), True) + lsgan(self.d_s(self.pool_s.query(fake_s)), False))
        (loss_t + loss_s).backward()  # type: ignore[no-untyped-call]
        self.opt_d.step()
        return {"d_t": loss_t.item(), "d_s": loss_s.item()}

    def _decayed_lr(self) -> float:
        return linear_decay(self.lr, int(self.counter.steps), self.total_steps, self.settings.decay_fraction)


def build_cyclegan(generator: Generator, config: TrainConfig, device: torch.device) -> CycleGANParts:
    """CycleGAN around `generator` (G), a copy of it (F) and two slice PatchGANs (`model.patchgan`)."""
    backward = copy.deepcopy(generator)
    settings = config.baselines.cyclegan
    d_t, d_s = (
        SliceDiscriminator(config.model.patchgan, settings.texture_sigma_px, settings.texture_gain).to(device)
        for _ in range(2)
    )
    return CycleGANParts(
        generator,
        backward,
        d_t,
        d_s,
        adam(nn.ModuleList([generator, backward]), config.learning_rate, config.beta1),
        adam(nn.ModuleList([d_t, d_s]), config.learning_rate, config.beta1),
        config.baselines.cyclegan,
        config.learning_rate,
        config.epochs * config.steps_per_epoch,
        config.batch_size,
    )


def generator_of(config: TrainConfig) -> str:
    """The generator CycleGAN trains in both directions: `baselines.cyclegan.generator`."""
    return config.baselines.cyclegan.generator


# Not data-parallel: each generator runs up to three times a step (translation, cycle, identity)
# before the one backward pass.
METHOD = Method(
    build_cyclegan,
    generator=None,
    help="CycleGAN (Zhu et al. 2017): unpaired, two generators, LSGAN, cycle + identity L1",
    data_parallel=False,
    single_process_why="each generator runs several times before one backward pass",
    prefilter="spectral",
    unpaired=True,
    generator_of=generator_of,
)
