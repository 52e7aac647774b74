"""Every ``rtb`` subcommand's ``--help`` shows each option's default, and the training
options reach the trainer."""

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli import build_parser, main
from app.train_cli import train_config
from bidding.train_config import TrainConfig


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands(build_parser()))


def test_every_subcommand_is_walked() -> None:
    names = {" ".join(path) for path in COMMANDS}
    assert {"serve", "train", "synth", "simulate", "replay", "export", "ledger restore"} <= names


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=lambda p: " ".join(p) or "rtb")
def test_help_shows_every_default(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as done:
        main([*path, "--help"])
    assert done.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())  # help wraps lines anywhere
    parser = COMMANDS[path]
    with_defaults = [
        action
        for action in parser._actions
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
    ]
    for action in with_defaults:
        assert action.help, f"{action.option_strings[0]} has no help to show its default in"
        assert f"(default: {action.default})" in shown, action.option_strings[0]
    assert "(default: None)" not in shown
    assert "(default: False)" not in shown


def test_train_shows_the_training_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for phrase in (
        "--max-depth MAX_DEPTH depth of each tree (default: 4)",
        "--eta ETA, --learning-rate ETA",
        "(default: 0.05)",
        "--min-trees MIN_TREES fewest trees to write (default: 10)",
        "--min-auc MIN_AUC lowest held-out AUC to write (default: 0.52)",
        "--early-stopping-rounds EARLY_STOPPING_ROUNDS",
        "--min-child-weight MIN_CHILD_WEIGHT",
        "--no-progress",
    ):
        assert phrase in shown


def test_the_training_flags_reach_the_config() -> None:
    flags = "--max-depth 4 --learning-rate 0.05 --rounds 50 --early-stopping-rounds 7 "
    flags += "--min-child-weight 3 --reg-lambda 2 --subsample 0.5 --colsample-bytree 0.6 "
    flags += "--min-trees 3 --min-auc 0.6 --no-progress"
    args = build_parser().parse_args(["train", "--synthetic", "10", "--out", "m", *flags.split()])
    config = train_config(args)
    assert (config.max_depth, config.eta, config.rounds, config.early_stopping_rounds) == (
        4, 0.05, 50, 7,
    )  # fmt: skip
    assert (config.min_child_weight, config.reg_lambda) == (3.0, 2.0)
    assert (config.subsample, config.colsample_bytree) == (0.5, 0.6)
    assert (config.bar.min_trees, config.bar.min_auc, config.progress) == (3, 0.6, False)
    defaults = train_config(build_parser().parse_args(["train", "--synthetic", "1", "--out", "m"]))
    assert defaults == TrainConfig(progress=True)  # the CLI's defaults are the library's


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--eta", "0", "--eta must be in (0, 1]"),
        ("--subsample", "1.5", "--subsample must be in (0, 1]"),
        ("--max-depth", "0", "--max-depth must be ≥ 1"),
        ("--min-child-weight", "-1", "--min-child-weight must be ≥ 0"),
        ("--valid-fraction", "1", "--valid-fraction must be between 0 and 1"),
        ("--min-auc", "2", "--min-auc must be between 0 and 1"),
    ],
)
def test_bad_training_options_are_refused(
    option: str, value: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", "--synthetic", "1000", "--out", str(tmp_path / "m"), option, value])
    assert code == 2
    assert capsys.readouterr().err == f"rtb train: {message}\n"
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("progress", [True, False])
def test_train_shows_its_rounds_on_stderr(
    progress: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 20 rounds on 30,000 rows trail the logistic-regression baseline by ~0.025 AUC
    argv = ["train", "--synthetic", "30000", "--label", "click", "--rounds", "20",
            "--baseline-margin", "0.1", "--out", str(tmp_path / "m")]  # fmt: skip
    assert main(argv if progress else [*argv, "--no-progress"]) == 0
    printed = capsys.readouterr()
    assert "wrote" in printed.out
    assert "%|" not in printed.out
    if progress:
        assert "ctr rounds:" in printed.err
    else:
        assert printed.err == ""
