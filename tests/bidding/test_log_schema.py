"""Declared schemas of labelled logs: the file forms, the flags, and every refusal."""

import json
from pathlib import Path

import pytest

from app.cli import build_parser
from app.train_cli import schema_of
from bidding.log_schema import DEFAULT_MISSING, SERVING, LogSchema, SchemaError, load_schema
from bidding.synthetic_logs import IPINYOU_SCHEMA

TOML = """
label = "click"
time = "timestamp"
truth = "p_click"
categorical = ["weekday", "hour", "useragent", "IP", "region", "city", "adexchange",
               "domain", "url", "slotid", "slotvisibility", "slotformat", "creative",
               "advertiser"]
numeric = ["slotwidth", "slotheight", "slotprice"]
crosses = [["advertiser", "region"], ["useragent", "hour"], ["adexchange", "slotformat"]]
ignore = ["payprice"]

[tags]
usertag = ","
"""


def test_toml_and_json_declare_the_same_schema(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(TOML)
    (tmp_path / "s.json").write_text(json.dumps(IPINYOU_SCHEMA))
    from_toml = load_schema(tmp_path / "s.toml")
    assert from_toml == load_schema(tmp_path / "s.json")
    assert from_toml.tags == (("usertag", ","),)
    assert from_toml.missing == DEFAULT_MISSING
    assert from_toml.features[-1] == "usertag"
    assert LogSchema.from_mapping(from_toml.to_json()) == from_toml


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"categorical": ["a"], "numerics": ["b"]}, "unknown key 'numerics'"),
        ({"categorical": "a,b"}, "'categorical' must be a list of column names"),
        ({"categorical": ["a", "a"]}, "'categorical' names 'a' twice"),
        ({"categorical": ["a"], "numeric": ["a"]}, "column 'a' is in 'numeric' and 'categorical'"),
        ({"categorical": ["click"]}, "column 'click' is in 'categorical' and 'label'"),
        ({"categorical": ["a"], "time": "a"}, "column 'a' is in 'categorical' and 'time'"),
        ({"label": 3, "categorical": ["a"]}, "'label' must be a column name"),
        ({"numeric": ["x"]}, None),  # numbers alone are features enough
        ({"label": "click"}, "no feature columns"),
        ({"categorical": ["a"], "crosses": [["a", "b"]]}, "'b' is not a declared categorical"),
        ({"categorical": ["a"], "crosses": [["a"]]}, "list of [column, column] pairs"),
        ({"categorical": ["a"], "crosses": [["a", "a"]]}, "'a' crossed with itself"),
        ({"categorical": ["a"], "tags": {"t": ""}}, "'tags': column 't' needs a separator"),
        ({"categorical": ["a"], "tags": ["t"]}, "'tags' must map column names to separators"),
    ],
)
def test_a_bad_schema_names_the_key(data: dict[str, object], message: str | None) -> None:
    if message is None:
        assert LogSchema.from_mapping(data).numeric == ("x",)
        return
    with pytest.raises(SchemaError, match=f"^schema: .*{_escaped(message)}"):
        LogSchema.from_mapping(data)


def _escaped(text: str) -> str:
    return text.replace("[", r"\[").replace("]", r"\]")


def test_schema_files_that_do_not_parse_are_named(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text("categorical = [")
    with pytest.raises(SchemaError, match=r"bad.toml: not valid TOML"):
        load_schema(tmp_path / "bad.toml")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(SchemaError, match=r"bad.json: the schema must be an object"):
        load_schema(tmp_path / "bad.json")
    (tmp_path / "unknown.json").write_text('{"categorical": ["a"], "lable": "c"}')
    with pytest.raises(SchemaError, match=r"unknown.json: unknown key 'lable'"):
        load_schema(tmp_path / "unknown.json")
    with pytest.raises(SchemaError, match=r"absent.json: cannot read the schema"):
        load_schema(tmp_path / "absent.json")


def _schema(*argv: str) -> LogSchema:
    args = build_parser().parse_args(["train", "--out", "m", *argv])
    return schema_of(args)


def test_flags_declare_a_schema_or_add_to_a_file(tmp_path: Path) -> None:
    assert _schema("--synthetic", "10") is SERVING
    assert _schema("--input", "log.csv") is SERVING
    flags = _schema(
        "--input", "log.tsv", "--categorical", "domain,slotid", "--categorical", "region",
        "--numeric", "slotprice", "--tags", "usertag", "--tags", "seg:|",
        "--cross", "domain*region", "--time-column", "timestamp", "--ignore", "bidid",
    )  # fmt: skip
    assert flags.categorical == ("domain", "slotid", "region")
    assert flags.tags == (("usertag", ","), ("seg", "|"))
    assert flags.crosses == (("domain", "region"),)
    assert (flags.label, flags.time, flags.ignore) == ("click", "timestamp", ("bidid",))
    (tmp_path / "s.json").write_text(json.dumps(IPINYOU_SCHEMA))
    merged = _schema("--input", "x.tsv", "--schema", str(tmp_path / "s.json"),
                     "--categorical", "bidid", "--click-column", "clk")  # fmt: skip
    assert merged.categorical[-1] == "bidid"
    assert merged.label == "clk"
    with pytest.raises(SchemaError, match="column 'bidid' is in 'ignore' and 'categorical'"):
        _schema("--input", "x.tsv", "--categorical", "bidid", "--ignore", "bidid")
    with pytest.raises(SchemaError, match="--cross 'a\\*b\\*c': write two columns as A\\*B"):
        _schema("--input", "x.tsv", "--categorical", "a,b,c", "--cross", "a*b*c")
    with pytest.raises(SchemaError, match="--schema serving has fixed columns: --categorical"):
        _schema("--input", "x.tsv", "--schema", "serving", "--categorical", "a")
    with pytest.raises(SchemaError, match="apply to --input only"):
        _schema("--synthetic", "10", "--categorical", "a")
