"""The feature encoder: groups, unseen levels, missing values, round trip."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.config import Config
from model.features import MISSING, OTHER, FeatureEncoder
from model.pairs import cell_key, cell_positions, cell_values


def _frame(config: Config, rows: list[dict]) -> pd.DataFrame:
    columns = [c.name for c in config.features]
    return pd.DataFrame([{c: r.get(c) for c in columns} for r in rows]).astype(object)


def _row(**overrides: object) -> dict:
    row = {"partnership_type": "referral", "partner_sector": "hr_tech",
           "sector_proximity": "adjacent", "lifecycle_position": "upstream",
           "has_clear_objective": 1.0, "has_action_plan": 1.0, "product_ready": 1.0,
           "partner_committed_fte": 1.0, "partner_headcount": 50.0,
           "internal_hours_estimate": 20.0, "logistics_complexity": 2.0,
           "expected_reach": 1000.0, "strategy_fit": 4.0, "inbound": 1.0}
    return {**row, **overrides}


def test_every_encoded_column_belongs_to_one_feature(config: Config) -> None:
    frame = _frame(config, [_row()] * 6)
    encoder = FeatureEncoder(config.features, rare_level_min_count=5).fit(frame)
    X = encoder.transform(frame)
    assert X.shape[1] == len(encoder.columns_) == len(encoder.groups_)
    assert sorted(set(encoder.groups_)) == list(range(len(config.features)))
    assert np.all(np.diff(encoder.groups_) >= 0), "columns of one feature are contiguous"


def test_rare_and_unseen_levels_share_the_other_column(config: Config) -> None:
    rows = [_row()] * 6 + [_row(partner_sector="legal")]
    encoder = FeatureEncoder(config.features, rare_level_min_count=5).fit(_frame(config, rows))
    spec = next(s for s in encoder.specs_ if s.name == "partner_sector")
    assert spec.levels == ("hr_tech",)
    new = _frame(config, [_row(partner_sector="space_tech"), _row(partner_sector="legal")])
    X = encoder.transform(new)
    other = encoder.columns_.index(f"partner_sector={OTHER}")
    assert X[:, other].tolist() == [1.0, 1.0]
    flags = encoder.flags(new)
    assert {"feature": "partner_sector", "kind": "novel_category", "value": "space_tech"} in flags[0]
    assert not any(f["feature"] == "partner_sector" for f in flags[1]), "legal was seen"


def test_missing_values_get_the_median_and_an_indicator(config: Config) -> None:
    rows = [_row(partner_committed_fte=v) for v in (0.0, 1.0, 2.0, 4.0, 8.0)]
    encoder = FeatureEncoder(config.features).fit(_frame(config, rows))
    X = encoder.transform(_frame(config, [_row(partner_committed_fte=None)]))
    value = encoder.columns_.index("partner_committed_fte")
    indicator = encoder.columns_.index("partner_committed_fte__missing")
    assert X[0, value] == np.log1p(2.0)  # the median, in the encoded (log1p) units
    assert X[0, indicator] == 1.0


def test_skewed_counts_are_log_transformed(config: Config) -> None:
    encoder = FeatureEncoder(config.features).fit(_frame(config, [_row()] * 3))
    X = encoder.transform(_frame(config, [_row(expected_reach=999.0)]))
    assert X[0, encoder.columns_.index("expected_reach")] == np.log1p(999.0)


def test_out_of_range_values_are_flagged(config: Config) -> None:
    rows = [_row(partner_headcount=v) for v in (10.0, 20.0, 30.0)]
    encoder = FeatureEncoder(config.features).fit(_frame(config, rows))
    flags = encoder.flags(_frame(config, [_row(partner_headcount=5000.0)]))[0]
    assert {"feature": "partner_headcount", "kind": "outside_training_range",
            "value": 5000.0} in flags


def test_round_trip_through_plain_data_keeps_the_encoding(config: Config) -> None:
    rows = [_row(partner_sector=s) for s in ("a", "b", "a", "a", "a", "a", "b")]
    frame = _frame(config, rows)
    encoder = FeatureEncoder(config.features, rare_level_min_count=2).fit(frame)
    copy = FeatureEncoder.from_dict(encoder.to_dict(), config.features)
    assert copy.columns_ == encoder.columns_
    np.testing.assert_array_equal(copy.transform(frame), encoder.transform(frame))


def test_cells_are_looked_up_as_each_proposal_s_own_key() -> None:
    """Pair cells are keyed once per distinct pair of values; each proposal must still get
    exactly the key (and position) its own two values write, whatever their types."""
    frame = pd.DataFrame({
        "a": pd.array(["x", "y", None, "x", "z", "y"], dtype="string"),
        "b": pd.Series([1, 2.5, "u", None, True, 2.5], dtype=object),
    })
    expected = [None if pd.isna(a) or pd.isna(b) else cell_key(str(a), str(b))
                for a, b in zip(frame["a"], frame["b"], strict=True)]
    assert cell_values(frame, ("a", "b")).tolist() == expected
    assert expected == ["x × 1", "y × 2.5", None, None, "z × True", "y × 2.5"]
    cells = ("y × 2.5", "z × True", "x × 9")
    assert cell_positions(frame, ("a", "b"), cells).tolist() == [-1, 0, -1, -1, 1, 0]
    assert cell_positions(frame, ("a", "absent"), cells).tolist() == [-1] * 6
    assert cell_values(frame, ("absent", "b")).isna().all()


def test_missing_and_unknown_values_keep_their_columns(config: Config) -> None:
    """A category met missing often enough keeps a column of its own for missing values;
    an ordinal value outside the configured order is encoded like a missing one."""
    rows = [_row(partner_sector=None)] * 5 + [_row()] * 5
    encoder = FeatureEncoder(config.features, rare_level_min_count=5).fit(_frame(config, rows))
    spec = next(s for s in encoder.specs_ if s.name == "partner_sector")
    assert MISSING in spec.levels
    new = _frame(config, [_row(partner_sector=None, sector_proximity="same"),
                          _row(partner_sector="legal"), _row(),
                          _row(sector_proximity="elsewhere"), _row(sector_proximity=None)])
    X = encoder.transform(new)
    sector = [encoder.columns_.index(f"partner_sector={level}")
              for level in (MISSING, OTHER, "hr_tech")]
    assert X[:, sector].tolist()[:3] == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    proximity = encoder.columns_.index("sector_proximity")
    assert X[3, proximity] == X[4, proximity] != X[0, proximity]
