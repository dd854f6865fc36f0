"""`radiomicgan train`: train a harmonizer on paired series, or (`--unpaired`) on unpaired ones."""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from radiomicgan.commands.common import SubParsers, add_command, add_config_option
from radiomicgan.config import PREFILTERS, TEXTURES, TrainConfig, build, load_yaml
from radiomicgan.errors import ConfigError
from radiomicgan.methods import LEARNED_GENERATORS, METHODS, UNPAIRED_DEFAULT, own_generator
from radiomicgan.train import resume_config, train
from radiomicgan.training.distributed import DistributedContext
from radiomicgan.windowing import SCHEDULES

_MODELS = "\n".join(f"  {name:<12} {method.help}" for name, method in METHODS.items())
_SINGLE_PROCESS = ", ".join(name for name, method in METHODS.items() if not method.data_parallel)
_UNPAIRED = ", ".join(name for name, method in METHODS.items() if method.unpaired)

DESCRIPTION = f"""\
Train RadiomicGAN (the Wiener prefilter, then a generator: by default the small residual U-Net,
--generator radiomicgan the paper's VGG-19 U-Net; PatchGAN discriminator, adversarial + 100*L1
loss) with Dynamic Window-based Training on paired scans: each --source/--target pair is one scan
reconstructed with the non-standard and the standard kernel (same study, frame of reference and
slice positions; `radiomicgan simulate` makes such pairs).

The run folder gets config.yaml, history.json (window, losses and validation per epoch),
checkpoint.safetensors (for --resume), model.safetensors (what `harmonize` loads) and figures/.

Schedules: fixed+dynamic (the paper's RadiomicGAN), fixed (RadiomicGAN1), dynamic
(RadiomicGAN2), minmax (no window training).

--model picks the harmonizer (docs/baselines.md: what each takes from its paper):
{_MODELS}
The baselines train in the full range [-1024, 1000] HU (schedule minmax); histmatch, wiener and
spectral fit in one epoch. Every model harmonizes with `radiomicgan harmonize --model RUN_DIR`.

--unpaired (config `unpaired: true`): the --source series (non-standard kernel) and the --target
series (the standard kernel) come from different patients, studies or scanners, any number of
each; nothing is paired. The target series must share one kernel. Every series is resampled to the
first target series' pixel spacing (harmonize other spacings with --resample).
Models: {_UNPAIRED}; without --model, {UNPAIRED_DEFAULT}. The model file holds the generator
source -> standard, which harmonize applies as any model (README, Unpaired training: which suits
which data).

--prefilter wiener (ours, not the paper's; the default for radiomicgan) fits the least-squares
linear kernel conversion on the training pairs and runs it on whole slices before the network, in
training and in harmonize, so the network learns only what no linear filter can (README, Results);
--prefilter none trains the paper's network alone. The baselines default to none;
--prefilter spectral runs the unpaired spectral filter there instead (cyclegan's default).

--texture residual (ours; the default for radiomicgan): a pixel loss predicts the standard image's
mean given the input, with less noise texture than a standard scan. At the end of training the
held-out residual's texture (SD per HU class, noise spectrum) goes into the model file, and
harmonize adds an independent texture of those statistics (times model.texture_gain, 0.6), drawn
from a seed of each slice's values: the same input gives the same output (README, Iterative
reconstruction). `harmonize --no-texture` leaves it out; --texture none measures none.

Examples:
  radiomicgan train --source pairs/smooth --target pairs/sharp --out runs/rg
  radiomicgan train --source a/smooth --target a/sharp --source b/smooth --target b/sharp \\
      --out runs/rg --epochs 10 --steps-per-epoch 50 --crop 96
  radiomicgan train --out runs/rg --resume --config train.yaml
  radiomicgan train --model wiener --source pairs/smooth --target pairs/sharp --out runs/wiener
  radiomicgan train --prefilter none --source pairs/smooth --target pairs/sharp --out runs/paper
  radiomicgan train --unpaired --source siteA/b30f --source siteB/fc12 --target ref/b60f \\
      --target ref2/b60f --out runs/nps
  radiomicgan train --unpaired --model cut --source siteA/b30f --target ref/b60f --out runs/cut

Data-parallel training: started by torchrun, each of the N processes trains on its own random crops
and DistributedDataParallel averages their gradients, so a step sees N x --batch-size crops (the
effective batch). On GPUs each process takes one (cuda:LOCAL_RANK, NCCL); on the CPU they use gloo.
Rank 0 alone validates, picks the windows (every rank follows them), logs and writes the run folder;
the losses in history.json are averaged over the processes. --resume works the same way.
{_SINGLE_PROCESS} train in a single process only.
  torchrun --nproc_per_node 4 -m radiomicgan train --source pairs/smooth --target pairs/sharp \\
      --out runs/rg --batch-size 2          # 4 GPUs x 2 crops: an effective batch of 8
  torchrun --nproc_per_node 4 -m radiomicgan train --out runs/rg --resume
"""


def register(sub: SubParsers) -> None:
    parser = add_command(sub, "train", "train a harmonizer on paired (or unpaired) series", DESCRIPTION)
    d = TrainConfig()
    parser.add_argument(
        "--source", action="append", metavar="DIR", help="non-standard kernel series (repeatable)"
    )
    parser.add_argument(
        "--target", action="append", metavar="DIR", help="standard kernel series (repeatable)"
    )
    parser.add_argument(
        "--unpaired",
        action="store_true",
        default=None,
        help="source and target series of different scans, any number of each "
        f"(default model: {UNPAIRED_DEFAULT})",
    )
    parser.add_argument("--out", metavar="RUN_DIR", help="the run folder to create (or to --resume)")
    parser.add_argument(
        "--model", dest="method", choices=tuple(METHODS), help=f"harmonizer to train (default: {d.method})"
    )
    parser.add_argument(
        "--schedule", choices=tuple(SCHEDULES), help=f"window schedule (default: {d.window.schedule})"
    )
    parser.add_argument("--epochs", type=int, help=f"epochs (default: {d.epochs})")
    parser.add_argument(
        "--steps-per-epoch", type=int, help=f"batches per epoch (default: {d.steps_per_epoch})"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help=f"crops per batch, per process under torchrun (default: {d.batch_size})",
    )
    parser.add_argument("--crop", dest="crop_px", type=int, help=f"crop size in px (default: {d.crop_px})")
    parser.add_argument(
        "--val-fraction", type=float, help=f"held-out share of slices (default: {d.val_fraction})"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train (default: auto)")
    parser.add_argument("--seed", type=int, help=f"random seed (default: {d.seed})")
    parser.add_argument(
        "--lr",
        type=float,
        help="Adam's learning rate (default: the trained generator's own, its model section's lr: "
        "1e-4 for the VGG-19 U-Net and the baselines' networks, 1e-3 for residual_unet)",
    )
    parser.add_argument(
        "--generator",
        choices=LEARNED_GENERATORS,
        help="the network radiomicgan trains, model.generator (default: residual_unet, the small residual "
        "U-Net; radiomicgan: the paper's VGG-19 U-Net); "
        "the baselines train their papers' own, cyclegan its baselines.cyclegan.generator",
    )
    parser.add_argument(
        "--encoder-weights",
        metavar="auto|imagenet|none|PATH",
        help="VGG-19 encoder weights, model.vgg_unet.encoder_weights (default: auto); "
        "with --generator radiomicgan only",
    )
    parser.add_argument(
        "--freeze-encoder",
        action=argparse.BooleanOptionalAction,
        help="freeze the VGG layers, model.vgg_unet.freeze_encoder (default: frozen exactly when pretrained "
        "weights were loaded)",
    )
    parser.add_argument(
        "--prefilter",
        choices=PREFILTERS,
        help="linear conversion fitted on the pairs, run before the network "
        "(default: auto, i.e. wiener for radiomicgan and none for the baselines)",
    )
    parser.add_argument(
        "--texture",
        choices=TEXTURES,
        help="measure the texture the model leaves out on the held-out pairs, which harmonize adds back as "
        "fresh noise (default: auto, i.e. residual for radiomicgan, none for the baselines and --unpaired)",
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_option(parser)
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's config: defaults < --config file < the run folder's config.yaml (on resume) < options."""
    config_file = load_yaml(args.config) if args.config else None
    names = (
        "out",
        "method",
        "epochs",
        "steps_per_epoch",
        "batch_size",
        "crop_px",
        "val_fraction",
        "device",
        "seed",
        "lr",
    )
    cli: dict[str, Any] = {name: getattr(args, name) for name in names}
    cli["source"] = tuple(args.source) if args.source else None
    cli["target"] = tuple(args.target) if args.target else None
    cli["unpaired"] = args.unpaired
    unpaired = args.unpaired or bool((config_file or {}).get("unpaired"))
    if unpaired and not args.resume and args.method is None and "method" not in (config_file or {}):
        cli["method"] = UNPAIRED_DEFAULT  # a resumed run keeps the method its config.yaml names
    cli["window"] = {"schedule": args.schedule}
    cli["model"] = {
        "generator": args.generator,
        "prefilter": args.prefilter,
        "texture": args.texture,
        "vgg_unet": {"encoder_weights": args.encoder_weights, "freeze_encoder": args.freeze_encoder},
    }
    config = (
        resume_config(args.out, cli, config_file=config_file)
        if args.resume and args.out
        else build(TrainConfig, config_file, cli)
    )
    _check_generator_option(args.generator, config)
    _check_encoder_options(args, config)
    return config


def _check_generator_option(generator: str | None, config: TrainConfig) -> None:
    """Refuse --generator for a method that trains another network whatever it says: a baseline's
    paper's own, or an unpaired GAN's setting (`baselines.cut.generator`, `baselines.cyclegan.generator`)."""
    if generator is None or config.method not in METHODS:
        return  # an unknown method is refused, naming the known ones, by `methods.resolve`
    own = own_generator(config)
    if own is not None and own != generator:
        raise ConfigError(f"--generator {generator}: --model {config.method} trains {own}, its own generator")


def _check_encoder_options(args: argparse.Namespace, config: TrainConfig) -> None:
    """Refuse --encoder-weights and --freeze-encoder for a run that trains no VGG-19 encoder: unchecked,
    a user's ImageNet weights would be ignored without a word."""
    if (args.encoder_weights is None and args.freeze_encoder is None) or config.method not in METHODS:
        return
    trained = own_generator(config) or config.model.generator
    if trained != "radiomicgan":
        raise ConfigError(
            f"--encoder-weights and --freeze-encoder set the VGG-19 U-Net's encoder, and this run trains "
            f"{trained}: add --generator radiomicgan to train the VGG-19 U-Net"
        )


def run(args: argparse.Namespace) -> int:
    distributed = DistributedContext.from_env(os.environ)  # torchrun's variables; one process without
    if not distributed.is_main and not args.verbose:
        logging.getLogger("radiomicgan").setLevel(logging.WARNING)  # rank 0 reports; the others warn
    config = config_from_args(args)
    result = train(config, resume=args.resume, progress=not args.quiet, distributed=distributed)
    if not distributed.is_main:
        return 0  # rank 0 reports the run
    window = result.final_window_hu
    print(f"model: {result.model_path}  (final window [{window[0]}, {window[1]}] HU, {result.seconds:.0f} s)")
    return 0
