"""The synthetic generator: reproducible, realistic rates, and a CSV round trip."""

from pathlib import Path

import numpy as np
import pytest

from bidding.features import RAW_COLUMNS, encode_columns
from bidding.log_schema import SERVING
from bidding.log_table import read_table
from bidding.synthetic import World, WorldSpec, generate, write_csv

START_S = 1_767_225_600


@pytest.fixture(scope="module")
def rows() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    world = World.sample(WorldSpec(users=5000), rng)
    return generate(world, 200_000, rng, start_s=START_S, days=7)


def test_same_seed_same_rows() -> None:
    def sample() -> dict[str, np.ndarray]:
        rng = np.random.default_rng(9)
        return generate(World.sample(WorldSpec(users=500), rng), 1000, rng, start_s=0, days=1)

    a, b = sample(), sample()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_rates_are_realistic_and_labels_follow_the_truth(
    rows: dict[str, np.ndarray],
) -> None:
    ctr = rows["click"].mean()
    assert 0.005 < ctr < 0.025
    assert ctr == pytest.approx(rows["p_click"].mean(), rel=0.1)
    clicked = rows["click"] == 1
    cvr = rows["conversion"][clicked].mean()
    assert 0.02 < cvr < 0.10
    assert (rows["conversion"] <= rows["click"]).all()
    assert np.all(np.diff(rows["ts"]) >= 0)
    assert rows["ts"].min() >= START_S
    assert rows["ts"].max() < START_S + 7 * 86400


def test_rows_carry_every_raw_feature_column(
    rows: dict[str, np.ndarray],
) -> None:
    assert set(RAW_COLUMNS) <= set(rows)
    matrix = encode_columns(rows)
    assert matrix.shape[0] == 200_000
    assert not np.isnan(matrix[:, 0]).all()


def test_csv_round_trip_gives_the_same_features(
    rows: dict[str, np.ndarray],
    tmp_path: Path,
) -> None:
    head = {k: v[:2000] for k, v in rows.items()}
    path = tmp_path / "rows.csv"
    write_csv(head, path)
    table = read_table(path, SERVING)
    back = table.columns
    assert "affinity" not in back
    assert table.unused == ()
    np.testing.assert_array_equal(back["click"], head["click"])
    np.testing.assert_allclose(back["p_click"], head["p_click"], rtol=1e-11)
    np.testing.assert_array_equal(encode_columns(back), encode_columns(head))


def test_reading_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("ts,click\n1,0\n2\n")
    with pytest.raises(ValueError, match=r"bad.csv:3: 1 cells"):
        read_table(path, SERVING)
