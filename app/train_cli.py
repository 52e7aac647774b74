"""``rtb train`` and ``rtb synth``: the model tools.

The training code is imported lazily: xgboost, numpy and scikit-learn cost ~0.5 s or more
to import, which ``rtb serve`` should not pay just to parse its arguments (the defaults
come from the light ``bidding.train_config``).
"""

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bidding.quality import QualityBar
from bidding.train_config import TrainConfig

if TYPE_CHECKING:
    from bidding.log_schema import LogSchema

__all__ = ["add_model_commands", "schema_of", "train_config"]

_SCHEMA_FLAGS = (
    "categorical",
    "numeric",
    "tags",
    "cross",
    "ignore",
    "click_column",
    "conversion_column",
    "time_column",
)


def _train(args: argparse.Namespace) -> int:
    from bidding.log_schema import SchemaError
    from bidding.train import Label, train_command

    problem = _train_problem(args)
    if problem:
        print(f"rtb train: {problem}", file=sys.stderr)
        return 2
    try:
        schema = schema_of(args)
    except SchemaError as exc:
        print(f"rtb train: {exc}", file=sys.stderr)
        return 2
    labels: tuple[Label, ...] = ("click", "conversion") if args.label == "both" else (args.label,)
    return train_command(
        input_path=args.input,
        synthetic_rows=args.synthetic,
        events=args.events or (),
        labels=labels,
        out_dir=args.out,
        config=train_config(args),
        schema=schema,
        input_format=args.format,
        dask_scheduler=args.dask_scheduler,
    )


def _names(values: list[str] | None) -> list[str]:
    """Comma-separated names from repeated flags, in order."""
    return [name.strip() for value in values or () for name in value.split(",") if name.strip()]


def schema_of(args: argparse.Namespace) -> "LogSchema":
    """The schema the options declare: ``--schema`` (a file, or ``serving``) with the
    column flags added; the flags alone; or, with neither, the serving schema. SchemaError
    naming the problem."""
    from bidding.log_schema import SERVING, LogSchema, SchemaError, load_schema

    flagged = [name for name in _SCHEMA_FLAGS if getattr(args, name)]
    if args.schema in (None, "serving") and not flagged:
        return SERVING
    if args.schema == "serving":
        flag = flagged[0].replace("_", "-")
        raise SchemaError(f"--schema serving has fixed columns: --{flag} does not apply to it")
    if args.input is None:
        raise SchemaError(
            "--synthetic and --events have the serving schema: --schema and the column "
            "flags apply to --input only"
        )
    base = load_schema(Path(args.schema)) if args.schema is not None else LogSchema()
    tags = []
    for value in args.tags or ():
        name, _, separator = value.partition(":")
        tags.append((name.strip(), separator or ","))
    crosses = []
    for value in _names(args.cross):
        pair = [part.strip() for part in value.split("*")]
        if len(pair) != 2:
            raise SchemaError(f"--cross {value!r}: write two columns as A*B")
        crosses.append((pair[0], pair[1]))
    return base.with_flags(
        label=args.click_column,
        conversion=args.conversion_column,
        time=args.time_column,
        categorical=_names(args.categorical),
        numeric=_names(args.numeric),
        tags=tags,
        crosses=crosses,
        ignore=_names(args.ignore),
    ).check("the command line" if args.schema is None else args.schema)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The training knobs the options give."""
    return TrainConfig(
        seed=args.seed,
        rounds=args.rounds,
        max_depth=args.max_depth,
        eta=args.eta,
        early_stopping_rounds=args.early_stopping_rounds,
        min_child_weight=args.min_child_weight,
        reg_lambda=args.reg_lambda,
        subsample=args.subsample,
        colsample_bytree=args.colsample_bytree,
        test_fraction=args.test_fraction,
        valid_fraction=args.valid_fraction,
        threads=args.threads,
        bar=QualityBar(min_trees=args.min_trees, min_auc=args.min_auc),
        baseline_margin=args.baseline_margin,
        hash_load=args.hash_load,
        smoothing=args.smoothing,
        max_tags=args.max_tags,
        progress=not args.no_progress,
    )


def _train_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the training options, if anything (XGBoost's own errors on such
    values are tracebacks)."""
    at_least_one = (
        "rounds",
        "early_stopping_rounds",
        "max_depth",
        "threads",
        "min_trees",
        "hash_load",
    )
    for name in at_least_one:
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be ≥ 1"
    if args.synthetic is not None and args.synthetic < 1:
        return "--synthetic must be ≥ 1"
    if args.dask_scheduler is not None and (
        args.input is None or args.format not in (None, "parquet")
    ):
        return "--dask-scheduler trains on --input DIR (or FILE) of Parquet"
    for name in ("min_child_weight", "reg_lambda", "max_tags", "baseline_margin"):
        if not getattr(args, name) >= 0:
            return f"--{name.replace('_', '-')} must be ≥ 0"
    if not args.smoothing > 0:
        return "--smoothing must be > 0"
    for name in ("eta", "subsample", "colsample_bytree"):
        if not 0 < getattr(args, name) <= 1:
            return f"--{name.replace('_', '-')} must be in (0, 1]"
    for name in ("test_fraction", "valid_fraction"):
        if not 0 < getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be between 0 and 1"
    if not 0 <= args.min_auc <= 1:
        return "--min-auc must be between 0 and 1"
    return None


def _synth(args: argparse.Namespace) -> int:
    import numpy as np

    from bidding.synthetic import write_csv, write_parquet_days
    from bidding.synthetic_logs import IPINYOU_SCHEMA, LogSpec, generate_log, write_log
    from bidding.train import synthetic_columns

    if args.shape == "ipinyou":
        spec = LogSpec(rows=args.rows, ctr=args.ctr, days=args.days)
        write_log(generate_log(spec, np.random.default_rng(args.seed)), args.out)
        schema = args.out.with_name(f"{args.out.name}.schema.json")
        schema.write_text(json.dumps(IPINYOU_SCHEMA, indent=2) + "\n", encoding="utf-8")
        print(f"wrote its schema (rtb train --schema) to {schema}")
    elif args.parts_by_day:
        parts = write_parquet_days(synthetic_columns(args.rows, args.seed, args.days), args.out)
        print(f"wrote {len(parts)} Parquet parts, one per day")
    else:
        write_csv(synthetic_columns(args.rows, args.seed, args.days), args.out)
    print(f"wrote {args.rows:,} labelled impressions to {args.out}")
    return 0


def _add_schema_options(train: argparse.ArgumentParser) -> None:
    schema = train.add_argument_group(
        "schema of --input (bidding.log_schema; without these: the serving schema)"
    )
    schema.add_argument(
        "--schema",
        metavar="FILE|serving",
        help="a JSON or TOML schema file, or `serving` (the raw columns of bidding.features)",
    )
    schema.add_argument("--format", choices=["csv", "tsv", "parquet"], help="else by suffix")
    schema.add_argument(
        "--categorical", action="append", metavar="A,B", help="categorical columns (hashed)"
    )
    schema.add_argument("--numeric", action="append", metavar="X,Y", help="numeric columns")
    schema.add_argument(
        "--tags", action="append", metavar="COL[:SEP]", help="a set-valued column (SEP: ,)"
    )
    schema.add_argument(
        "--cross", action="append", metavar="A*B", help="a cross of two categorical columns"
    )
    schema.add_argument("--ignore", action="append", metavar="A,B", help="columns not to use")
    schema.add_argument("--click-column", help="the click label (default in a schema: click)")
    schema.add_argument("--conversion-column", help="the conversion label")
    schema.add_argument("--time-column", help="split by this column's order (else row order)")


def add_model_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    """``rtb train`` and ``rtb synth``."""
    defaults = TrainConfig()
    train = commands.add_parser(
        "train",
        help="train the CTR/CVR models from labelled impressions, a log or the event log",
        description=(
            "Train the CTR and CVR models on the earlier part of the rows (early stopping on "
            "its last slice), evaluate them on the latest part next to a logistic-regression "
            "baseline fitted on the same split, and write them with their figures. Nothing is "
            "written unless every model clears the quality bar: at least --min-trees trees, "
            "more than one predicted value, a held-out log loss below the constant "
            "predictor's (the training base rate for every row), a held-out AUC of at least "
            "--min-auc and no more than --baseline-margin below the baseline's. The exchange "
            "applies the default bar again when it loads a model file."
        ),
    )
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input",
        type=Path,
        help="a CSV, TSV or Parquet file of labelled impressions, or a directory of Parquet "
        "parts (a partitioned log, e.g. `rtb synth --out DIR --parts-by-day`)",
    )
    source.add_argument("--synthetic", type=int, metavar="ROWS", help="generate ROWS in memory")
    source.add_argument(
        "--events",
        type=Path,
        nargs="+",
        metavar="CSV",
        help="`rtb export` files: billed impressions joined with their clicks and conversions",
    )
    train.add_argument(
        "--label", choices=["click", "conversion", "both"], default="both", help="models to train"
    )
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument(
        "--seed", type=int, default=defaults.seed, help="XGBoost's sampling; the synthetic rows"
    )
    _add_schema_options(train)
    booster = train.add_argument_group("boosting (XGBoost parameters)")
    booster.add_argument(
        "--rounds", type=int, default=defaults.rounds, help="maximum boosting rounds"
    )
    booster.add_argument(
        "--early-stopping-rounds",
        type=int,
        default=defaults.early_stopping_rounds,
        help="stop after this many rounds without a better validation log loss",
    )
    booster.add_argument(
        "--max-depth", type=int, default=defaults.max_depth, help="depth of each tree"
    )
    booster.add_argument(
        "--eta",
        "--learning-rate",
        type=float,
        default=defaults.eta,
        help="learning rate: the weight of each new tree",
    )
    booster.add_argument(
        "--min-child-weight",
        type=float,
        default=defaults.min_child_weight,
        help="minimum hessian sum per leaf (a row at a 1%% rate weighs about 0.01)",
    )
    booster.add_argument(
        "--reg-lambda", type=float, default=defaults.reg_lambda, help="L2 penalty on leaf weights"
    )
    booster.add_argument(
        "--subsample", type=float, default=defaults.subsample, help="rows sampled per tree"
    )
    booster.add_argument(
        "--colsample-bytree",
        type=float,
        default=defaults.colsample_bytree,
        help="features sampled per tree",
    )
    booster.add_argument("--threads", type=int, default=defaults.threads, help="XGBoost threads")
    features = train.add_argument_group("features of a declared schema (bidding.log_encoding)")
    features.add_argument(
        "--hash-load",
        type=int,
        default=defaults.hash_load,
        help="hash buckets per distinct training value of a categorical column",
    )
    features.add_argument(
        "--smoothing",
        type=float,
        default=defaults.smoothing,
        help="weight of the prior, in clicks, in each bucket's click rate",
    )
    features.add_argument(
        "--max-tags", type=int, default=defaults.max_tags, help="indicators per tags column"
    )
    split = train.add_argument_group("split (by the time column, else row order)")
    split.add_argument(
        "--test-fraction", type=float, default=defaults.test_fraction, help="latest part held out"
    )
    split.add_argument(
        "--valid-fraction",
        type=float,
        default=defaults.valid_fraction,
        help="latest part of the rest, for early stopping",
    )
    bar = train.add_argument_group("quality bar (bidding.quality)")
    bar.add_argument(
        "--min-trees", type=int, default=defaults.bar.min_trees, help="fewest trees to write"
    )
    bar.add_argument(
        "--min-auc", type=float, default=defaults.bar.min_auc, help="lowest held-out AUC to write"
    )
    bar.add_argument(
        "--baseline-margin",
        type=float,
        default=defaults.baseline_margin,
        help="largest held-out AUC shortfall against the logistic-regression baseline",
    )
    train.add_argument(
        "--no-progress", action="store_true", help="no progress bar of the rounds on stderr"
    )
    train.add_argument(
        "--dask-scheduler",
        metavar="ADDRESS",
        help="train on this Dask cluster (e.g. tcp://10.0.0.5:8786; the serving schema, "
        "Parquet --input readable at the same path by every worker; the dask extra)",
    )
    train.set_defaults(handler=_train)
    synth = commands.add_parser("synth", help="write a synthetic labelled log")
    synth.add_argument("--rows", type=int, required=True, help="impressions to write")
    synth.add_argument(
        "--shape",
        choices=["serving", "ipinyou"],
        default="serving",
        help="the serving schema's CSV, or an iPinYou-shaped log (bidding.synthetic_logs; "
        "TSV, .csv or .parquet by suffix) and its schema in FILE.schema.json",
    )
    synth.add_argument("--seed", type=int, default=7, help="the world and its traffic")
    synth.add_argument("--days", type=float, default=14.0, help="days the impressions span")
    synth.add_argument(
        "--ctr", type=float, default=0.003, help="mean click probability (--shape ipinyou)"
    )
    synth.add_argument("--out", type=Path, required=True, help="file to write")
    synth.add_argument(
        "--parts-by-day",
        action="store_true",
        help="--out is a directory: partitioned Parquet, a part per day (--shape serving)",
    )
    synth.set_defaults(handler=_synth)
