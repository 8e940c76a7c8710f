"""Our POPGym card / bandit / board games against the reference ``popgym`` package.

Each game is deterministic given its hidden deck / board / arms: we reset the reference, copy its hidden state
into ours (the reference deals from the end of ``Deck.idx``; we store deal order, so ``deck = idx[::-1]``), play
the same action sequence in both and assert identical observations, rewards and flags at every step, up to and
including the step that ends the reference episode (so episode lengths agree too). Then, with our own reset,
a scripted policy that reads the hidden state must reach the maximal return 1 (and its opposite -1), and a
uniformly random policy must give episodes of the reference's length with returns inside the reference's
bounds and near the hand-calculated expectation. All rollouts share one jitted scan per game and level.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import popgym.envs as ref_envs
import pytest

from envs.popgym import cards
from envs.popgym.autoencode import Autoencode, AutoencodeState
from envs.popgym.battleship import Battleship, BattleshipState
from envs.popgym.concentration import Concentration, ConcentrationState
from envs.popgym.count_recall import CountRecall, CountRecallState
from envs.popgym.higher_lower import HigherLower, HigherLowerState
from envs.popgym.multiarmed_bandit import MultiarmedBandit, MultiarmedBanditState
from envs.popgym.repeat_first import RepeatFirst, RepeatFirstState
from envs.popgym.repeat_previous import RepeatPrevious, RepeatPreviousState

LEVELS = ("Easy", "Medium", "Hard")
I32 = jnp.int32


@functools.cache
def rollout_fn(env_cls, level: str):
    """Jitted ``(state, actions [T, ...], keys [T]) -> (obs, reward, terminated, truncated)``, each [T, ...]."""
    env = env_cls(level.lower())
    params = env.default_params

    def body(state, x):
        action, key = x
        obs, state, reward, terminated, truncated, _ = env.step(key, state, action, params)
        return state, (obs, reward, terminated, truncated)

    return env, params, jax.jit(lambda state, actions, keys: jax.lax.scan(body, state, (actions, keys))[1])


def play(env_cls, level, state, actions, seed=0):
    env, params, fn = rollout_fn(env_cls, level)
    keys = jax.random.split(jax.random.key(seed), len(actions))
    return [np.asarray(x) for x in fn(state, jnp.asarray(actions, I32), keys)]


def ref_play(ref, actions):
    """Step the reference until its episode ends; -> lists of obs, rewards, terminated, truncated."""
    out = ([], [], [], [])
    for a in actions:
        obs, reward, terminated, truncated, _ = ref.step(a)
        for lst, v in zip(out, (obs, reward, terminated, truncated), strict=True):
            lst.append(v)
        if terminated or truncated:
            break
    return out


def assert_lockstep(ours, theirs, obs_of=np.asarray):
    obs, rew, term, trunc = ours
    r_obs, r_rew, r_term, r_trunc = theirs
    n = len(r_rew)
    for t in range(n):
        np.testing.assert_array_equal(obs[t], obs_of(r_obs[t]), err_msg=f"obs at step {t}")
    np.testing.assert_allclose(rew[:n], np.asarray(r_rew, np.float64), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(term[:n], r_term)
    np.testing.assert_array_equal(trunc[:n], r_trunc)
    assert term[n - 1] or trunc[n - 1], "the reference episode ended but ours did not"


def mixed(rng, correct, n_choices):
    """Actions that are right about half the time: exercises both reward signs."""
    correct = np.asarray(correct)
    wrong = rng.integers(0, n_choices, size=correct.shape)
    return np.where(rng.random(correct.shape[0]).reshape((-1,) + (1,) * (correct.ndim - 1)) < 0.5, correct, wrong)


# ---------------------------------------------------------------- card games: lockstep


@pytest.mark.parametrize("level", LEVELS)
def test_repeat_first_lockstep(level):
    ref = getattr(ref_envs, f"RepeatFirst{level}")()
    obs0, _ = ref.reset(seed=3)
    deck = ref.deck.idx[::-1].copy()
    n = deck.size
    state = RepeatFirstState(deck=jnp.asarray(deck, I32), t=I32(0))
    assert obs0 == deck[0] % 4
    actions = mixed(np.random.default_rng(0), np.full(n - 1, deck[0] % 4), 4)
    assert_lockstep(play(RepeatFirst, level, state, actions), ref_play(ref, actions))


@pytest.mark.parametrize("level", LEVELS)
def test_repeat_previous_lockstep(level):
    ref = getattr(ref_envs, f"RepeatPrevious{level}")()
    obs0, _ = ref.reset(seed=4)
    deck = ref.deck.idx[::-1].copy()
    n, k = deck.size, ref.k
    state = RepeatPreviousState(deck=jnp.asarray(deck, I32), t=I32(0))
    assert obs0 == deck[0] % 4
    # At step s (1-based) the answer is the suit of deal position s - k.
    correct = np.array([deck[max(s - k, 0)] % 4 for s in range(1, n)])
    actions = mixed(np.random.default_rng(1), correct, 4)
    assert_lockstep(play(RepeatPrevious, level, state, actions), ref_play(ref, actions))


def _count_recall_answers(value_deck, query_deck, kind):
    values, queries = cards.attribute(value_deck, kind), cards.attribute(query_deck, kind)
    return np.array([np.sum(values[: t + 1] == queries[t]) for t in range(value_deck.size - 1)])


@pytest.mark.parametrize("level", LEVELS)
def test_count_recall_lockstep(level):
    ref = getattr(ref_envs, f"CountRecall{level}")()
    obs0, _ = ref.reset(seed=5)
    kind = {"Easy": "colors", "Medium": "suits", "Hard": "ranks"}[level]
    vdeck, qdeck = ref.value_deck.idx[::-1].copy(), ref.query_deck.idx[::-1].copy()
    d = cards.NUM_VALUES[kind]
    counts = np.zeros(d, np.int32)
    counts[cards.attribute(vdeck[0], kind)] = 1
    state = CountRecallState(jnp.asarray(vdeck, I32), jnp.asarray(qdeck, I32), I32(0), jnp.asarray(counts))
    np.testing.assert_array_equal(obs0, [cards.attribute(vdeck[0], kind), cards.attribute(qdeck[0], kind)])
    answers = _count_recall_answers(vdeck, qdeck, kind)
    actions = mixed(np.random.default_rng(2), answers, ref.action_space.n)
    assert_lockstep(play(CountRecall, level, state, actions), ref_play(ref, actions))


@pytest.mark.parametrize("level", LEVELS)
def test_autoencode_lockstep(level):
    ref = getattr(ref_envs, f"Autoencode{level}")()
    obs0, _ = ref.reset(seed=6)
    deck = ref.deck.idx[::-1].copy()
    n = deck.size
    state = AutoencodeState(deck=jnp.asarray(deck, I32), t=I32(0))
    assert tuple(obs0) == (1, deck[0] % 4)  # watch mode, first card shown
    # Play step s (s = N .. 2N-1) names the suit of card 2N - 1 - s; watch-step actions are ignored.
    correct = np.array([deck[np.clip(2 * n - 1 - s, 0, n - 1)] % 4 for s in range(1, 2 * n)])
    actions = mixed(np.random.default_rng(3), correct, 4)
    ours = play(Autoencode, level, state, actions)
    assert_lockstep(ours, ref_play(ref, actions), obs_of=lambda o: np.asarray(o, np.int64))
    # The cards are visible while watching (a bug in some JAX ports shows nothing).
    np.testing.assert_array_equal(ours[0][: n - 1, 1], deck[1:] % 4)


@pytest.mark.parametrize("level", LEVELS)
def test_higher_lower_lockstep(level):
    ref = getattr(ref_envs, f"HigherLower{level}")()
    obs0, _ = ref.reset(seed=7)
    deck = ref.deck.idx[::-1].copy()
    state = HigherLowerState(deck=jnp.asarray(deck, I32), t=I32(0))
    assert obs0 == cards.rank(deck[0])
    actions = np.random.default_rng(4).integers(0, 2, deck.size - 1)
    assert_lockstep(play(HigherLower, level, state, actions), ref_play(ref, actions))


# ---------------------------------------------------------------- bandit and board games: lockstep


@pytest.mark.parametrize("level", LEVELS)
def test_multiarmed_bandit_lockstep(level):
    # Arms with payout probability exactly 0 or 1 make both implementations deterministic.
    ref = getattr(ref_envs, f"MultiarmedBandit{level}")()
    ref.reset(seed=8)
    rng = np.random.default_rng(5)
    arms = (rng.random(ref.num_bandits) < 0.5).astype(np.float32)
    ref.bandits = arms.copy()
    state = MultiarmedBanditState(bandits=jnp.asarray(arms), t=I32(0))
    actions = rng.integers(0, ref.num_bandits, ref.max_episode_length + 5)
    ours = play(MultiarmedBandit, level, state, actions)
    theirs = ref_play(ref, actions)
    assert len(theirs[1]) == ref.max_episode_length
    assert_lockstep(ours, theirs)


@pytest.mark.parametrize("level", LEVELS)
def test_concentration_lockstep(level):
    ref = getattr(ref_envs, f"Concentration{level}")()
    obs0, _ = ref.reset(seed=9)
    values = ref.deck_idx_type[ref.deck.idx].astype(np.int32)  # value at each table position
    n = values.size
    state = ConcentrationState(jnp.asarray(values), jnp.zeros(n, bool), I32(-1), I32(0))
    np.testing.assert_array_equal(obs0, np.full(n, ref.facedown_card))
    # Perfect pairs (from the hidden values) interleaved with random pairs: matches, mismatches, repeated
    # flips of the same card and flips of face-up cards all occur.
    rng = np.random.default_rng(6)
    order = np.argsort(values, kind="stable")
    actions = []
    for i in range(0, n, 2):
        actions += list(order[i : i + 2])
        if rng.random() < 0.5:
            actions += list(rng.integers(0, n, 2))
    actions += list(rng.integers(0, n, ref.episode_length))  # pad: the episode runs to its step limit
    actions = np.asarray(actions[: ref.episode_length])
    assert_lockstep(play(Concentration, level, state, actions), ref_play(ref, actions))


@pytest.mark.parametrize("level", LEVELS)
def test_battleship_lockstep(level):
    ref = getattr(ref_envs, f"Battleship{level}")()
    ref.reset(seed=10)
    b = ref.board_size
    state = BattleshipState(jnp.asarray(ref.board.astype(bool)), jnp.zeros((b, b), bool), I32(0), I32(0))
    rng = np.random.default_rng(7)
    ships = np.argwhere(ref.board == 1)
    cells = np.concatenate([rng.integers(0, b, (b * b // 2, 2)), ships[rng.permutation(len(ships))]])
    actions = cells[rng.permutation(len(cells))]
    actions = np.concatenate([actions, rng.integers(0, b, (b * b - len(actions), 2))])
    assert_lockstep(play(Battleship, level, state, actions), ref_play(ref, [tuple(a) for a in actions]))


# ---------------------------------------------------------------- scripted policies from our own resets


def _scripted(family, state, level):
    """Always-right actions [T] for the four memory games, computed from the hidden state."""
    if family is RepeatFirst:
        deck = np.asarray(state.deck)
        return np.full(deck.size - 1, deck[0] % 4)
    if family is RepeatPrevious:
        deck, k = np.asarray(state.deck), RepeatPrevious(level.lower()).k
        return np.array([deck[max(s - k, 0)] % 4 for s in range(1, deck.size)])
    if family is CountRecall:
        kind = CountRecall(level.lower()).deck_type
        return _count_recall_answers(np.asarray(state.value_deck), np.asarray(state.query_deck), kind)
    deck = np.asarray(state.deck)
    n = deck.size
    return np.array([deck[np.clip(2 * n - 1 - s, 0, n - 1)] % 4 for s in range(1, 2 * n)])


@pytest.mark.parametrize("family", [RepeatFirst, RepeatPrevious, CountRecall, Autoencode])
@pytest.mark.parametrize("level", LEVELS)
def test_scripted_policy_reaches_max_return(family, level):
    env, params, _ = rollout_fn(family, level)
    _, state = jax.jit(env.reset, static_argnums=1)(jax.random.key(11), params)
    right = _scripted(family, state, level)
    _, reward, terminated, truncated = play(family, level, state, right)
    # Episode ends exactly at the last step, never before; every scored step pays +1/#scored steps.
    assert terminated[-1] and not terminated[:-1].any() and not truncated.any()
    np.testing.assert_allclose(reward.sum(), 1.0, atol=1e-4)
    n_choices = env.action_space(params).n
    wrong = (right + 1) % n_choices
    _, reward, _, _ = play(family, level, state, wrong)
    np.testing.assert_allclose(reward.sum(), -1.0, atol=1e-4)


def test_concentration_perfect_play_terminates_with_return_one():
    # Flipping matching pairs from the hidden values clears the table in N = 52 steps: return 26 * (1/26) = 1.
    env, params, _ = rollout_fn(Concentration, "Easy")
    _, state = jax.jit(env.reset, static_argnums=1)(jax.random.key(1), params)
    order = np.argsort(np.asarray(state.values), kind="stable")
    actions = np.concatenate([order, np.zeros(52, int)])  # padded to 104 steps
    _, reward, terminated, truncated = play(Concentration, "Easy", state, actions)
    assert terminated[51] and not terminated[:51].any() and not truncated[:52].any()
    np.testing.assert_allclose(reward[:52].sum(), 1.0, atol=1e-5)


# family: (episode length, return lower bound, upper bound, expected random-policy return or None).
# Hand calculations from the reference's rules: the memory games pay +-1/#scored steps, so a uniformly random
# policy over m actions returns 1/m - (1 - 1/m) = 2/m - 1 in expectation: -0.5 for suits (m = 4) and
# 2/27 - 1 for CountRecallEasy (27 possible counts); HigherLower and MultiarmedBandit (E[p] = 1/2) give 0.
EASY = {
    RepeatFirst: (51, -1.0, 1.0, -0.5),
    RepeatPrevious: (51, -1.0, 1.0, -0.5),
    CountRecall: (51, -1.0, 1.0, 2 / 27 - 1),
    Autoencode: (103, -1.0, 1.0, -0.5),
    HigherLower: (51, -51 / 52, 51 / 52, 0.0),
    MultiarmedBandit: (200, -1.0, 1.0, 0.0),
    Concentration: (104, -1.0, 1.0, None),  # ceil(2*52 - 52/103) = 104 steps
    Battleship: (64, -64 / 52, 1.0, None),  # 8x8 board, 12 ship cells: a miss pays -1/52
}


@pytest.mark.parametrize("family", list(EASY), ids=lambda f: f.__name__)
def test_random_policy_episodes(family):
    length, low, high, expected = EASY[family]
    env, params, _ = rollout_fn(family, "Easy")
    obs_space, act_space = env.observation_space(params), env.action_space(params)
    reset = jax.jit(env.reset, static_argnums=1)
    rng = np.random.default_rng(8)
    returns = []
    for seed in range(8):
        obs0, state = reset(jax.random.key(100 + seed), params)
        assert np.asarray(obs0).shape == obs_space.shape and np.asarray(obs0).dtype == np.int32
        high_action = np.asarray(getattr(act_space, "nvec", getattr(act_space, "n", None)))
        actions = rng.integers(0, high_action, (length,) + tuple(act_space.shape))
        obs, reward, terminated, truncated = play(family, "Easy", state, actions, seed=seed)
        nvec = np.asarray(getattr(obs_space, "nvec", getattr(obs_space, "n", None)))
        assert obs.dtype == np.int32 and ((obs >= 0) & (obs < nvec)).all()
        done = terminated | truncated
        # Each episode is exactly as long as the reference's (Concentration and Battleship could end early
        # by luck; with these seeds no random policy clears the table or sinks every ship).
        assert done[-1] and not done[:-1].any()
        returns.append(reward.sum())
    returns = np.asarray(returns)
    assert (returns >= low - 1e-5).all() and (returns <= high + 1e-5).all()
    if expected is not None:
        # 8 episodes: standard error of the mean <= 0.06 for these games.
        assert abs(returns.mean() - expected) < 0.2, (returns.mean(), expected)
