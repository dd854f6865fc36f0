"""GANai (Liang et al. 2019): a conditional GAN trained by "alternative improvement".

Liang G, Fouladvand S, Zhang J, Brooks MA, Jacobs N, Chen J. "GANai: Standardizing CT Images using
Generative Adversarial Network with Alternative Improvement." IEEE ICHI 2019 (bioRxiv 460188).
What the published text we could read says (its abstract, and the RadiomicGAN paper's summary): a
cGAN (pix2pix) whose training alternates between improving one network and the other, "to
alternatively and steadily improve model performance", with phase-specific loss functions,
phase-specific training data (some images are harder to standardize than others) and ensemble
learning; trained and evaluated on image patches.

How each is read here (our choices, docs/baselines.md says why):
- networks: pix2pix's U-Net and PatchGAN (the registry's "unet" and "patchgan");
- alternation: a D phase updates only the discriminator until it classifies at least `d_goal` of
  the patches right (or `max_phase_steps` pass); then a G phase updates only the generator until it
  fools the discriminator on at least `g_goal` of the patches (or `max_phase_steps` pass); a D phase
  and a G phase make one round;
- phase-specific losses: the D phase minimizes the discriminator's BCE; the G phase minimizes the
  cGAN objective, adversarial + l1_weight * L1;
- phase-specific data: the D phase sees random crops; the G phase draws `hard_pool` times more crops
  and trains on the batch with the largest L1 error, the images hardest to standardize;
- ensemble: the saved generator is the running average of the generators' weights at the end of
  every round (an exponential moving average with a warm-up, as TensorFlow's), not the last one.

The thresholds, pool and decay are `config.GanaiConfig` (`baselines.ganai`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from radiomicgan.config import GanaiConfig, TrainConfig
from radiomicgan.nets import Generator, build_discriminator
from radiomicgan.training.parts import Method, SampleFn
from radiomicgan.training.steps import GanParts, bce, frozen

D_PHASE, G_PHASE = 0, 1


class AlternationState(nn.Module):
    """Where the alternation stands, as buffers so that checkpoints keep it."""

    phase: torch.Tensor
    phase_steps: torch.Tensor
    rounds: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("phase", torch.tensor(D_PHASE))
        self.register_buffer("phase_steps", torch.tensor(0))
        self.register_buffer("rounds", torch.tensor(0))


@dataclass
class GanaiParts(GanParts):
    """Generator, discriminator, the generators' running average and the alternation (a `Learner`)."""

    settings: GanaiConfig = field(default_factory=GanaiConfig)
    ensemble: nn.Module = field(init=False)
    state: AlternationState = field(init=False)

    def __post_init__(self) -> None:
        self.ensemble = copy.deepcopy(self.generator).requires_grad_(False)
        device = next(self.generator.parameters()).device
        self.state = AlternationState().to(device)

    def networks(self) -> dict[str, nn.Module]:
        return {"g": self.generator, "d": self.discriminator, "ensemble": self.ensemble, "state": self.state}

    def model(self) -> nn.Module:
        return self.ensemble if int(self.state.rounds) > 0 else self.generator

    def train_step(self, sample: SampleFn) -> dict[str, float]:
        """One step of the current phase; switches phase when its goal or step budget is reached."""
        if int(self.state.phase) == D_PHASE:
            losses, goal_reached = self._d_step(sample)
        else:
            losses, goal_reached = self._g_step(sample)
        self.state.phase_steps += 1
        if goal_reached or int(self.state.phase_steps) >= self.settings.max_phase_steps:
            self._end_phase()
        return losses

    def _d_step(self, sample: SampleFn) -> tuple[dict[str, float], bool]:
        source, target = sample(self.batch_size)
        with torch.no_grad():
            fake = self.generator(source)
        self.opt_d.zero_grad(set_to_none=True)
        real_logits = self.discriminator(source, target)
        fake_logits = self.discriminator(source, fake)
        loss_d = 0.5 * (bce(real_logits, True) + bce(fake_logits, False))
        loss_d.backward()  # type: ignore[no-untyped-call]
        self.opt_d.step()
        accuracy = 0.5 * ((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()).item()
        return {"d": loss_d.item(), "d_accuracy": accuracy}, accuracy >= self.settings.d_goal

    def _g_step(self, sample: SampleFn) -> tuple[dict[str, float], bool]:
        source, target = sample(self.settings.hard_pool * self.batch_size)
        fake = self.generator(source)
        errors = (fake - target).abs().mean(dim=(1, 2, 3)).detach()
        hardest = errors.topk(min(self.batch_size, len(errors))).indices
        source, target, fake = source[hardest], target[hardest], fake[hardest]
        with frozen(self.discriminator):
            self.opt_g.zero_grad(set_to_none=True)
            logits = self.discriminator(source, fake)
            loss_adv = bce(logits, True)
            loss_l1 = F.l1_loss(fake, target)
            loss_g = loss_adv + self.l1_weight * loss_l1
            loss_g.backward()  # type: ignore[no-untyped-call]
            self.opt_g.step()
        fooled = (logits > 0).float().mean().item()
        losses = {"g_adv": loss_adv.item(), "g_l1": loss_l1.item(), "g": loss_g.item(), "d_fooled": fooled}
        return losses, fooled >= self.settings.g_goal

    def _end_phase(self) -> None:
        if int(self.state.phase) == G_PHASE:
            self._update_ensemble()
            self.state.rounds += 1
        self.state.phase.fill_(G_PHASE if int(self.state.phase) == D_PHASE else D_PHASE)
        self.state.phase_steps.zero_()

    @torch.no_grad()
    def _update_ensemble(self) -> None:
        rounds = int(self.state.rounds)
        # warm-up: early rounds weigh more, so a short run is not stuck near the initial weights
        decay = min(self.settings.ensemble_decay, (1 + rounds) / (10 + rounds))
        current = self.generator.state_dict()
        for name, average in self.ensemble.state_dict().items():
            if average.is_floating_point():
                average.mul_(decay).add_(current[name], alpha=1.0 - decay)
            else:
                average.copy_(current[name])  # counters (batch norm's num_batches_tracked)


def build_ganai(generator: Generator, config: TrainConfig, device: torch.device) -> GanaiParts:
    """GANai around the registry's generator ("unet") and discriminator ("patchgan"), alternating
    as the `baselines.ganai` section says."""
    discriminator = build_discriminator(config.model.discriminator, config.model).to(device)
    return GanaiParts.around(generator, discriminator, config, settings=config.baselines.ganai)


# Not data-parallel: each process would end a phase on its own batch's accuracy, and processes in
# different phases cannot average their gradients.
METHOD = Method(
    build_ganai,
    generator="unet",
    help="GANai (Liang et al. 2019): cGAN with alternating improvement",
    data_parallel=False,
    single_process_why="each process would switch training phases on its own batches",
)
