"""``rtb retrain``: the scheduled retraining with a gate (``bidding.retrain``)."""

import argparse
import dataclasses
import sys
from pathlib import Path

from bidding.train_config import TrainConfig

__all__ = ["add_retrain_command"]


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 0.5:
        raise argparse.ArgumentTypeError("a share in (0, 0.5]")
    return value


def _run(args: argparse.Namespace) -> int:
    from bidding.log_schema import SERVING
    from bidding.log_table import read_table
    from bidding.retrain import RetrainWindows, retrain
    from bidding.train import Label, event_columns, write_model

    windows = RetrainWindows(args.ctr_days, args.cvr_days, args.holdout_days)
    if min(windows.ctr_days, windows.cvr_days, windows.holdout_days, args.threads) < 1:
        print("rtb retrain: day counts and --threads must be ≥ 1", file=sys.stderr)
        return 2
    labels: tuple[Label, ...] = ("click", "conversion") if args.label == "both" else (args.label,)
    config = dataclasses.replace(TrainConfig(), seed=args.seed, threads=args.threads,
                                 progress=False)  # fmt: skip
    try:
        if args.events:
            columns, source = event_columns(args.events)
        else:
            columns = read_table(args.input, SERVING).columns
            source = {"input": str(args.input)}
        steps = retrain(columns, labels, args.models, config, windows)
    except (OSError, ValueError) as exc:
        print(f"rtb retrain: {exc}", file=sys.stderr)
        return 2
    lines = [step.line() for step in steps]
    for step in steps:
        if step.passed and step.result is not None:
            written = [write_model(step.result, args.out, {**source, "retrain": True})]
            if args.promote:
                written.append(write_model(step.result, args.models, {**source, "retrain": True}))
            lines.append(f"wrote {', '.join(map(str, written))}")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.canary is not None and any(step.passed for step in steps):
        lines.append(_canary(args.out, args.models, args.canary))
    report = args.out / "retrain.md"
    report.write_text("# Retraining\n\n" + "".join(f"- {line}\n" for line in lines), "utf-8")
    print("\n".join(lines))
    print(f"wrote {report}")
    return 0 if all(step.passed for step in steps) else 1


def _canary(out: Path, serving: Path, share: float) -> str:
    """Make ``out`` a whole model pair (the serving model where none was kept) and write
    its canary file; the report's line."""
    import json
    import shutil
    from datetime import UTC, datetime

    from bidding.models import MODEL_FILES

    for kind, name in MODEL_FILES.items():
        if not (out / name).exists() and (serving / name).exists():
            shutil.copy2(serving / name, out / name)
            meta = serving / f"{kind}.meta.json"
            if meta.exists():
                shutil.copy2(meta, out / meta.name)
    name = f"retrain-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    spec = {"name": name, "share": share, "models": str(out.resolve())}
    canary = out / "canary.json"
    canary.write_text(json.dumps(spec, indent=2) + "\n", "utf-8")
    return (
        f"canary {name}: {share:.0%} of the auctions once served with "
        f"RTB_CANARY_FILE={canary} (rolled back by itself when a guard is breached)"
    )


def add_retrain_command(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``rtb retrain``."""
    parser = commands.add_parser(
        "retrain",
        help="retrain the CTR/CVR models on the recent log; keep only what beats the serving ones",
        description=(
            "Train each model on its window of the log before the held-out days (the last "
            "--holdout-days UTC days), score it and the serving model (in --models) on those "
            "days, and keep it only if it clears rtb train's quality bar and its held-out AUC "
            "is at least, and its log loss at most, the serving model's. Kept models are "
            "written to --out (and into --models with --promote, where the exchange reloads "
            "them, or with --canary SHARE as a canary rollout: --out/canary.json for "
            "RTB_CANARY_FILE); the report is --out/retrain.md. Exit 1 when any model was "
            "refused."
        ),
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--events", type=Path, nargs="+", metavar="CSV", help="`rtb export` files")
    source.add_argument("--input", type=Path, help="a labelled log of the serving schema")
    parser.add_argument("--models", type=Path, required=True, help="the serving model directory")
    parser.add_argument(
        "--out", type=Path, required=True, help="where candidates and the report go"
    )
    parser.add_argument(
        "--label", choices=["click", "conversion", "both"], default="both", help="models to retrain"
    )
    parser.add_argument(
        "--ctr-days", type=int, default=7, help="days of log the CTR model trains on"
    )
    parser.add_argument(
        "--cvr-days", type=int, default=30, help="days of log the CVR model trains on"
    )
    parser.add_argument(
        "--holdout-days", type=int, default=1, help="latest days held out for the gate"
    )
    kept = parser.add_mutually_exclusive_group()
    kept.add_argument("--promote", action="store_true", help="also write kept models into --models")
    kept.add_argument(
        "--canary",
        type=_share,
        metavar="SHARE",
        help="make --out a canary of the kept models for this share of auctions (≤ 0.5)",
    )
    parser.add_argument("--seed", type=int, default=TrainConfig().seed, help="XGBoost's sampling")
    parser.add_argument(
        "--threads", type=int, default=TrainConfig().threads, help="XGBoost threads"
    )
    parser.set_defaults(handler=_run)
