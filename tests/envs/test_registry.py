"""``envs.make`` / ``envs.available`` / ``python -m envs``: names, overrides and errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import envs
from envs.__main__ import main
from envs.meta import MetaEnv, MetaParams
from envs.popgym import FAMILIES


def test_available_lists_every_family_level_and_gymnax_id():
    names = envs.available()
    for family in FAMILIES:
        for level in ("Easy", "Medium", "Hard"):
            assert f"popgym/{family}{level}" in names
    assert "gymnax/CartPole-v1" in names and "gymnax/Breakout-MinAtar" in names
    assert any(name.startswith("meta/") for name in names)


def test_available_by_suite_is_the_matching_part_of_the_whole_list():
    names = envs.available()
    for suite in envs.SUITES:
        assert envs.available(suite) == [n for n in names if n.startswith(f"{suite}/")], suite
    assert len(envs.available("atari100k")) == 26
    valid = "valid: popgym, gymnax, meta, wm_memory, atari100k"
    with pytest.raises(ValueError, match=f"unknown environment suite 'gym'; {valid}"):
        envs.available("gym")


def test_listing_another_suite_does_not_import_gymnax():
    # Importing gymnax takes about 2 s; a command on POPGym (every script start lists its suite) never pays it.
    code = ("import sys, envs; envs.available('popgym'); envs.make('popgym/RepeatFirstEasy'); "
            "print('gymnax' in sys.modules)")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stdout + out.stderr


def test_make_popgym_with_overrides():
    env, params = envs.make("popgym/RepeatPreviousHard")
    assert (params.num_decks, params.k) == (3, 64)
    _, params = envs.make("popgym/RepeatPreviousEasy", k=8)
    assert params.k == 8
    with pytest.raises(ValueError, match=r"unknown params field.*\['num_decks', 'k'\]"):
        envs.make("popgym/RepeatPreviousEasy", kk=8)


def test_make_meta():
    env, params = envs.make("meta/popgym/MultiarmedBanditEasy", num_trials=4, inner={"episode_length": 50})
    assert isinstance(env, MetaEnv) and isinstance(params, MetaParams)
    assert params.num_trials == 4 and params.inner.episode_length == 50


@pytest.mark.parametrize(
    "name,listed",
    [
        ("popgym/RepeatPreviousExtreme", "popgym/RepeatPreviousEasy"),
        ("popgym/Nope", "popgym/CountRecallHard"),
        ("gymnax/CartPole-v0", "gymnax/CartPole-v1"),
        ("atari/Pong", "popgym/AutoencodeEasy"),
        ("meta/popgym/Nope", "popgym/AutoencodeEasy"),
    ],
)
def test_unknown_names_list_the_valid_ones(name, listed):
    with pytest.raises(ValueError, match="valid") as error:
        envs.make(name)
    assert name.removeprefix("meta/") in str(error.value) and listed in str(error.value)


def test_bad_difficulty_is_a_value_error():
    with pytest.raises(ValueError, match="easy"):
        FAMILIES["RepeatFirst"]("extreme")


def test_main_prints_every_name(capsys, monkeypatch):
    # Only a few names are constructed here; the full listing runs as ``python -m envs``.
    few = ["popgym/RepeatFirstEasy", "popgym/BattleshipHard", "gymnax/CartPole-v1", "meta/<any>"]
    monkeypatch.setattr("envs.__main__.available", lambda: few)
    main()
    out = capsys.readouterr().out
    assert "popgym/BattleshipHard" in out and "MultiDiscrete((12, 12))" in out and "Box(4,)" in out
