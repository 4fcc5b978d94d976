"""Reasons and beliefs in words: every value the shipped configuration allows reads as a sentence."""

from __future__ import annotations

import dataclasses
import re

import pytest
import yaml

from model.config import Column, Config, ConfigError, parse_config
from model.pairs import cell_key, pair_column
from model.wording import (
    belief_label,
    belief_sentence,
    belief_subject,
    describe,
    flag_note,
    grade_range_text,
    interval_text,
    plural,
    provisional_note,
)
from pipelines.settings import default_config_text

# A sentence: a capital or a digit first, no code spelling left (underscores, braces), no
# doubled space, no template marker.
SENTENCE = re.compile(r"^[A-Z0-9“][^_{}]*$")


def _column(config: Config, name: str) -> Column:
    return config.by_name[name]


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("partner_headcount", 1, "Partner has 1 person"),
    ("partner_headcount", 1.0, "Partner has 1 person"),
    ("partner_headcount", 120, "Partner has 120 people"),
    ("partner_headcount", 0, "Partner has 0 people"),
    ("internal_hours_estimate", 1, "Takes 1 hour of our time"),
    ("internal_hours_estimate", 12.5, "Takes 12.5 hours of our time"),
    ("expected_reach", 1, "Exposes us to 1 person"),
    ("expected_reach", 42000, "Exposes us to 42 000 people"),
])
def test_numbers_take_the_singular_for_one_and_the_plural_otherwise(
        config: Config, name: str, value: float, expected: str) -> None:
    assert describe(_column(config, name), value) == expected


def test_numbers_outside_one_are_plural(config: Config) -> None:
    headcount = _column(config, "partner_headcount")
    assert [describe(headcount, v) for v in (0, 1, 2, 120)] == [
        "Partner has 0 people", "Partner has 1 person", "Partner has 2 people",
        "Partner has 120 people"]
    hours = _column(config, "internal_hours_estimate")
    assert [describe(hours, v) for v in (0.5, 1.0, 1.5)] == [
        "Takes 0.5 hours of our time", "Takes 1 hour of our time", "Takes 1.5 hours of our time"]
    reach = _column(config, "expected_reach")
    assert describe(reach, 9_000_000) == "Exposes us to 9 000 000 people"
    # Without a singular form, the one template serves every value.
    assert describe(_column(config, "partner_committed_fte"), 1) == "Partner commits 1 FTE"


def test_every_category_level_of_the_shipped_configuration_reads_as_a_sentence(config: Config) -> None:
    for column in config.features:
        if column.type not in ("category", "ordinal"):
            continue
        texts = [describe(column, level) for level in column.values]
        assert len(set(texts)) == len(texts), texts  # each level said differently
        for level, text in zip(column.values, texts, strict=True):
            assert SENTENCE.match(text), (column.name, level, text)
            assert "  " not in text
    journey = _column(config, "lifecycle_position")
    assert [describe(journey, level) for level in journey.values] == [
        "Partner sits upstream in our customer's journey",
        "Partner sits downstream in our customer's journey",
        "Partner sits at the same stage of our customer's journey",
        "Partner is unrelated to our customer's journey"]
    proximity = _column(config, "sector_proximity")
    assert describe(proximity, "adjacent") == "Partner works in a sector next to ours"
    assert describe(_column(config, "partnership_type"), "co_branding") == "Partnership type: co-branding"


def test_open_categories_booleans_and_missing_values(config: Config) -> None:
    assert describe(_column(config, "partner_sector"), "video_games") == "Partner sector: video games"
    plan = _column(config, "has_action_plan")
    assert (describe(plan, True), describe(plan, False)) == ("Has an action plan", "No action plan")
    assert describe(_column(config, "partner_headcount"), None) == "Partner headcount: not given"
    assert describe(_column(config, "lifecycle_position"), None) == (
        "Place in our customer's journey: not given")


def test_belief_labels_say_what_was_believed(config: Config) -> None:
    assert belief_label(_column(config, "has_action_plan"), None, 1) == "Action plan raises impact"
    assert belief_label(_column(config, "logistics_complexity"), None, -1) == (
        "Higher logistics complexity (1-5) lowers impact")
    assert belief_label(_column(config, "lifecycle_position"), "same_stage", -1) == (
        "“Partner sits at the same stage of our customer's journey” lowers impact")
    assert belief_label(_column(config, "sector_proximity"), None, -1) == (
        "Sector proximity towards “distant” lowers impact")
    assert belief_sentence("Action plan raises impact", "confirmed", 0.62, (0.21, 1.05)) == (
        "Action plan raises impact: confirmed (+0.62 log-odds: odds ×1.86; 90% interval +0.21 "
        "to +1.05)")
    assert belief_sentence("X lowers impact", "uncertain", -0.1, (-1.14, 0.94), 0.8).endswith(
        "(-0.10 log-odds: odds ×0.90; 80% interval -1.14 to +0.94)")


def test_counts_and_intervals_in_words() -> None:
    assert provisional_note(1) == "provisional: learned from 1 proposal with real impact"
    assert provisional_note(3) == "provisional: learned from 3 proposals with real impact"
    assert plural(0, "period") == "0 periods" and plural(1, "person", "people") == "1 person"
    assert interval_text((0.081, 0.3149)) == "8.1% to 31.5%"
    assert interval_text(None) == "no interval"


def test_a_grade_interval_reads_low_to_high_and_only_when_it_spans_grades() -> None:
    config = parse_config(yaml.safe_load(default_config_text()))
    assert config.scoring.grade_interval((0.066, 0.884)) == ("D", "A")
    assert config.scoring.grade_interval((0.07, 0.2999)) == ("C", "B")  # cut-offs inclusive
    assert config.scoring.grade_interval(None) is None
    assert grade_range_text(("D", "A")) == "D to A"
    assert grade_range_text(("B", "B")) == "" and grade_range_text(None) == ""


def _config_with(column: str, **options: object) -> dict:
    raw = yaml.safe_load(default_config_text())
    raw["columns"][column].update(options)
    return raw


@pytest.mark.parametrize(("column", "options", "problem"), [
    ("partner_headcount", {"describe_one": "Partner has {count} person"},
     "columns.partner_headcount.describe_one: expected a text in which {value} marks the value"),
    ("has_action_plan", {"describe_one": "One plan"},
     "columns.has_action_plan.describe_one: expected only on number, integer columns"),
    ("lifecycle_position", {"levels_describe": {"sideways": "Partner sits sideways"}},
     "columns.lifecycle_position.levels_describe.sideways: expected one of the column's values"),
    ("lifecycle_position", {"levels_describe": {"upstream": ""}},
     "columns.lifecycle_position.levels_describe.upstream: expected a non-empty text"),
    ("lifecycle_position", {"levels_describe": ["upstream"]},
     "columns.lifecycle_position.levels_describe: expected a mapping of level to its wording"),
    ("partner_headcount", {"levels_describe": {"1": "One person"}},
     "columns.partner_headcount.levels_describe: expected only on category, open_category, "
     "ordinal columns"),
    ("lifecycle_position", {"level_labels": {"sideways": "sideways"}},
     "columns.lifecycle_position.level_labels.sideways: expected one of the column's values"),
    ("partnership_type", {"level_labels": {"event": " "}},
     "columns.partnership_type.level_labels.event: expected a non-empty text"),
    ("partner_sector", {"level_labels": ["hr_tech"]},
     "columns.partner_sector.level_labels: expected a mapping of level to its label"),
    ("partner_sector", {"level_labels": {"Video-Games": "studios", "video_games": "games"}},
     "columns.partner_sector.level_labels.video_games: expected each level once, got "
     "'video_games' (the same level as 'Video-Games')"),
    ("partner_sector", {"level_labels": {True: "yes"}},
     "columns.partner_sector.level_labels.True: expected a level (quote yes, no, on, off"),
    ("has_action_plan", {"level_labels": {"true": "yes"}},
     "columns.has_action_plan.level_labels: expected only on category, open_category, "
     "ordinal columns"),
])
def test_wording_options_are_validated(column: str, options: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(_config_with(column, **options))
    assert any(p.startswith(problem) for p in error.value.problems), error.value.problems


def test_an_open_category_may_word_any_level() -> None:
    config = parse_config(_config_with("partner_sector",
                                       levels_describe={"video_games": "Partner makes video games"}))
    assert describe(config.by_name["partner_sector"], "video_games") == "Partner makes video games"
    assert describe(config.by_name["partner_sector"], "legal") == "Partner sector: legal"
    spelled = parse_config(_config_with("partner_sector",
                                        levels_describe={"Video Games": "Partner makes games"}))
    assert describe(spelled.by_name["partner_sector"], "video_games") == "Partner makes games"
    # what models trained before keys were spelled as the data's still hold: accepted, the
    # key spelled as the data's values are wins, a YAML boolean reads as text
    earlier = parse_config(_config_with("partner_sector", levels_describe={
        "HR Tech": "Partner sells HR software", "hr_tech": "Partner is an HR tech firm",
        True: "Partner: yes"}))
    assert earlier.by_name["partner_sector"].levels_describe == {
        "hr_tech": "Partner is an HR tech firm", "true": "Partner: yes"}


def test_a_level_label_reads_in_the_template_in_a_pair_cell_and_in_a_product() -> None:
    """`level_labels` word a value on its own: inside `describe`'s {value}, in each half of
    a pair's cell, and nowhere a level has its own sentence (`levels_describe` wins). A label
    is keyed as the data's values are read: 'HR Tech' labels hr_tech."""
    raw = _config_with("partner_sector", level_labels={"HR Tech": "HR tech",
                                                       "video_games": "video-game studios"})
    raw["columns"]["partnership_type"]["level_labels"] = {
        "Technical integration": "a technical integration"}
    config = parse_config(raw)
    sector, kind = config.by_name["partner_sector"], config.by_name["partnership_type"]
    assert sector.level_labels == {"hr_tech": "HR tech", "video_games": "video-game studios"}
    assert kind.level_labels == {"technical_integration": "a technical integration"}
    assert describe(sector, "hr_tech") == "Partner sector: HR tech"
    assert describe(sector, "real_estate") == "Partner sector: real estate"
    assert describe(kind, "technical_integration") == "Partnership type: a technical integration"
    pair = pair_column(sector, kind)
    assert describe(pair, cell_key("video_games", "technical_integration")) == (
        "Video-game studios × a technical integration")
    assert describe(pair, cell_key("media", "event")) == "Media × event"
    assert describe(pair_column(kind, sector), cell_key("referral", "hr_tech")) == (
        "Referral × HR tech")
    assert flag_note(config.by_name, [], {"feature": "partner_sector", "kind": "novel_category",
                                          "value": "hr_tech"})[1].startswith(
        "Partner sector: “HR tech” never appeared")
    proximity = dataclasses.replace(config.by_name["sector_proximity"],
                                    level_labels={"distant": "a distant sector"})
    assert belief_subject(proximity, None) == "Sector proximity towards “a distant sector”"
    worded = parse_config(_config_with("partner_sector", level_labels={"legal": "law firms"},
                                       levels_describe={"legal": "Partner is a law firm"}))
    assert describe(worded.by_name["partner_sector"], "legal") == "Partner is a law firm"


def test_a_field_not_given_reads_as_the_team_words_it() -> None:
    config = parse_config(_config_with("partner_headcount",
                                       describe_missing="Effectif non renseigné"))
    assert describe(config.by_name["partner_headcount"], None) == "Effectif non renseigné"
    assert describe(config.by_name["partner_headcount"], 3) == "Partner has 3 people"
    assert describe(config.by_name["strategy_fit"], None) == "Fit with product strategy (1-5): not given"
    with pytest.raises(ConfigError) as error:
        parse_config(_config_with("partner_headcount", describe_missing=7))
    assert any(p.startswith("columns.partner_headcount.describe_missing: expected a non-empty text")
               for p in error.value.problems), error.value.problems
