"""``mrsisr train``: train a generator variant on one cross-validation fold of a cohort.

Examples::

    mrsisr train --config paper --data cohort/ --fold 0 --out runs/full-f0
    mrsisr train --config paper_noadv --variant amlayer --data cohort/ --fold 0 --out runs/am
    mrsisr train --config quick --set epochs=3 --set optim.lr=2e-4 --data cohort/ ...
    mrsisr train --out runs/full-f0 --resume
    torchrun --nproc_per_node 4 -m mrsisr.cli train --config paper ...
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from mrsisr.commands._arguments import add_overrides_argument
from mrsisr.errors import UserError
from mrsisr.nn.config import Variant
from mrsisr.provenance import write_result_record
from mrsisr.train.config_io import load_config, to_toml

HELP = "train a network on a cohort (paper recipe by default; resumable; torchrun-ready)"
FLAGS = {
    "source": "--config",
    "config": "--config",
    "overrides": "--set",
    "show_config": "--show-config",
    "config.model": "--show-config",
    "data": "--data",
    "fold": "--fold",
    "out": "--out",
    "resume": "--resume",
}
"""The flag of each argument the library's messages name (:func:`mrsisr.errors.argument`)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``mrsisr train``."""
    parser.add_argument(
        "--config",
        metavar="TOML",
        help="experiment file, or a shipped one by name: paper, paper_noadv, quick, tiny "
        "(default: the paper recipe; with --resume: the run's own config.toml, to which "
        "--set applies)",
    )
    parser.add_argument("--data", metavar="DIR", help="cohort folder (see `mrsisr cohort`)")
    parser.add_argument("--fold", type=int, metavar="K", help="cross-validation fold, 0-based")
    parser.add_argument("--out", metavar="RUN_DIR", help="run folder to create (or resume)")
    parser.add_argument("--variant", metavar="NAME", help="generator variant (sets `variant`)")
    add_overrides_argument(parser)
    parser.add_argument(
        "--resume", action="store_true", help="continue the run in --out from its checkpoint"
    )
    parser.add_argument(
        "--show-config",
        action="store_true",
        help="print the resolved configuration as TOML (every key) and exit",
    )


def run(args: argparse.Namespace) -> int:
    """Resolve the configuration, check the run, train, and print a summary."""
    from mrsisr.machine import source_state
    from mrsisr.train.run import plan_run, train

    overrides = list(args.overrides)
    if args.variant is not None:
        try:
            Variant.parse(args.variant)
        except ValueError as err:
            raise UserError(f"--variant: {err}") from None
        overrides.append(f"variant={json.dumps(args.variant)}")
    source = args.config
    if args.resume and source is None and args.out is not None:
        stored = Path(args.out) / "config.toml"
        source = stored if stored.is_file() else None  # overrides apply to the run's config
    config = load_config(source, overrides)
    if args.show_config:
        print(to_toml(config), end="")
        return 0
    if args.out is None:
        raise UserError("--out: required; the run folder to create (or to resume with --resume)")
    if not args.resume:
        missing = [name for name in ("data", "fold") if getattr(args, name) is None]
        if missing:
            raise UserError(f"--{missing[0]}: required for a new run")
    code = source_state()  # at the start: the tree may change while a run trains
    plan = plan_run(config, args.data, args.fold, args.out, resume=args.resume)
    summary = train(plan)
    if int(os.environ.get("RANK", "0")) == 0:
        write_result_record(
            plan.files.root,
            f"mrsisr train: {plan.config.variant}, fold {plan.fold}"
            + (" (resumed: the record is of the last leg)" if plan.resume else ""),
            models=[plan.files.best] if plan.files.best.is_file() else [],
            data=plan.data,
            patients=[*plan.split.train, *plan.split.val],
            seeds={
                "training": plan.config.seed,
                "split_seed": plan.config.data.split_seed,
                "fold": plan.fold,
            },
            code=code,
        )
        best = summary["best_val_loss"]
        print(
            f"trained {summary['epochs']} epochs ({summary['steps']} steps) in "
            f"{summary['seconds']:.1f} s; best validation loss {best:.4f} at epoch "
            f"{summary['best_epoch']}; model: {plan.files.best}"
        )
    return 0
