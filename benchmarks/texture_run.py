"""Give a finished paired run the residual texture that training now measures at its end.

Runs trained before `model.texture` existed hold no texture. This copies such a run folder to --out
and measures its texture as the training loop would have (`training.texture.fit_texture`): the run's
own config.yaml rebuilds its pairs and its held-out block, the Wiener prefilter is fitted again (the
fit is deterministic: the same pairs give the same filter), and the texture, times --gain, goes into
the copy's model file. The generator's weights are untouched, so scoring the copy with and without
the texture (harmonize --no-texture) compares the same network.

    .venv/bin/python benchmarks/texture_run.py --run /tmp/rg-quality-ir/runs/resunet16-budget-e100 \
        --out /tmp/rg-quality-ir/runs/resunet16-budget-e100+texture [--gain 0.6] [--max-hu 250]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import torch

from radiomicgan.config import ModelConfig, TrainConfig
from radiomicgan.inference.slices import size_multiple
from radiomicgan.modelfile import load_model, load_prefilter, save_model
from radiomicgan.train import resume_config
from radiomicgan.training.data import Split, load_paired_slices, split_validation
from radiomicgan.training.prefilter import prefilter_split
from radiomicgan.training.texture import fit_texture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", required=True, type=Path, help="a finished paired run folder")
    parser.add_argument("--out", required=True, type=Path, help="the copy with a texture (must not exist)")
    parser.add_argument("--gain", type=float, default=ModelConfig().texture_gain)
    parser.add_argument("--max-hu", type=float, default=ModelConfig().texture_max_hu)
    args = parser.parse_args(argv)
    config = resume_config(args.run)
    device = torch.device("cpu")
    split = rebuilt_split(config, device)
    generator, metadata = load_model(args.run, device)
    texture = fit_texture(generator, split, config.window.full_range_hu, size_multiple(generator), device)
    texture = dataclasses.replace(texture, gain=args.gain, max_hu=args.max_hu)
    shutil.copytree(args.run, args.out)
    texture_settings = {"texture": "residual", "texture_gain": args.gain, "texture_max_hu": args.max_hu}
    model = {**metadata.model, **texture_settings}
    metadata = dataclasses.replace(metadata, model=model, texture=texture.to_plain())
    save_model(args.out, generator, metadata, load_prefilter(args.run, metadata, device))
    print(json.dumps({"run": str(args.run), "out": str(args.out), "texture": texture.to_plain()}, indent=2))
    return 0


def rebuilt_split(config: TrainConfig, device: torch.device) -> Split:
    """A finished run's pairs and held-out block as its training had them, prefiltered where its
    model is (the Wiener fit is deterministic: the same pairs give the same filter)."""
    pairs = [(Path(s), Path(t)) for s, t in zip(config.source, config.target, strict=True)]
    train, held_out = split_validation(load_paired_slices(pairs), config.val_fraction)
    split = Split(train, held_out, held_out)
    if config.model.prefilter == "wiener":
        split, _, _ = prefilter_split(split, config.baselines.wiener, device)
    return split


if __name__ == "__main__":
    raise SystemExit(main())
