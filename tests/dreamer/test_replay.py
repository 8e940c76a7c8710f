"""The sequence replay: stored step layout, final observations, wrap-around and sampling, all under jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ssmrl.dreamer.replay import (
    replay_add,
    replay_bytes,
    replay_init,
    replay_num_windows,
    replay_sample,
    replay_size,
)

add = jax.jit(replay_add)
sample = jax.jit(replay_sample, static_argnums=(2, 3))
init = jax.jit(replay_init, static_argnums=(0, 1))
OBS = jnp.zeros((2,), jnp.uint8)  # observation example: uint8 [2], stored as [id, id + 1]
ACT = jnp.zeros((), jnp.int32)


def _transitions(ids, is_first, action, reward, terminated, truncated, final_ids):
    """Environment transitions [T, B] from per-env columns of plain lists (lists of lists, [B][T])."""
    col = lambda x, dt: jnp.asarray(np.asarray(x, dt).T)
    obs_of = lambda i: jnp.stack([col(i, np.uint8), col(i, np.uint8) + 1], axis=-1)
    return (obs_of(ids), col(action, np.int32), col(reward, np.float32), col(is_first, bool),
            col(terminated, bool), col(truncated, bool), obs_of(final_ids))


def _ids(replay, env):
    """Stored observation ids of one env in logical (time) order."""
    cap = replay.reward.shape[1]
    pos, count = int(replay.pos[env]), int(replay.count[env])
    order = [(pos - count + k) % cap for k in range(count)]
    return np.asarray(replay.obs[env, order, 0]).tolist(), order


def test_episode_layout_and_final_observations():
    # env 0, one add of 4 env steps (T = 4); env 1 runs one episode without an end.
    #   t  obs  is_first  action  reward  ends          final_obs
    #   0  10   yes       1       0.5     -             -
    #   1  11   -         2       1.0     terminated    12
    #   2  20   yes       3       0.25    -             -
    #   3  21   -         4       2.0     truncated     22
    # Stored steps of env 0 (obs, previous action, reward on arrival, flags):
    #   0: 10, 0, 0    is_first        3: 20, 0, 0     is_first
    #   1: 11, 1, 0.5                  4: 21, 3, 0.25
    #   2: 12, 2, 1.0  terminated      5: 22, 4, 2.0   truncated
    # env 1 stores 4 steps (100..103), previous actions 0, 5, 6, 7 and rewards 0, 1, 1, 1.
    data = _transitions(
        ids=[[10, 11, 20, 21], [100, 101, 102, 103]],
        is_first=[[1, 0, 1, 0], [1, 0, 0, 0]],
        action=[[1, 2, 3, 4], [5, 6, 7, 8]],
        reward=[[0.5, 1.0, 0.25, 2.0], [1.0, 1.0, 1.0, 1.0]],
        terminated=[[0, 1, 0, 0], [0, 0, 0, 0]],
        truncated=[[0, 0, 0, 1], [0, 0, 0, 0]],
        final_ids=[[99, 12, 99, 22], [99, 99, 99, 99]],
    )
    replay = add(init(16, 2, OBS, ACT), *data)
    np.testing.assert_array_equal(replay.pos, [6, 4])
    np.testing.assert_array_equal(replay.count, [6, 4])
    assert int(replay_size(replay)) == 10
    np.testing.assert_array_equal(replay.obs[0, :6, 0], [10, 11, 12, 20, 21, 22])
    np.testing.assert_array_equal(replay.obs[0, :6, 1], [11, 12, 13, 21, 22, 23])
    np.testing.assert_array_equal(replay.action[0, :6], [0, 1, 2, 0, 3, 4])
    np.testing.assert_allclose(replay.reward[0, :6], [0, 0.5, 1.0, 0, 0.25, 2.0])
    np.testing.assert_array_equal(replay.is_first[0, :6], [1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(replay.terminated[0, :6], [0, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(replay.truncated[0, :6], [0, 0, 0, 0, 0, 1])
    np.testing.assert_array_equal(replay.obs[1, :4, 0], [100, 101, 102, 103])
    np.testing.assert_array_equal(replay.action[1, :4], [0, 5, 6, 7])
    np.testing.assert_allclose(replay.reward[1, :4], [0, 1, 1, 1])
    np.testing.assert_array_equal(replay.is_first[1, :4], [1, 0, 0, 0])
    assert not np.asarray(replay.terminated[1]).any() and not np.asarray(replay.truncated[1]).any()
    np.testing.assert_array_equal(replay.last_action, [4, 8])
    np.testing.assert_allclose(replay.last_reward, [2.0, 1.0])
    assert replay.obs.dtype == jnp.uint8


def test_previous_action_carries_across_adds():
    # Vector actions float32 [2]. Add 1: obs 0, 1 with actions [1, -1], [2, -2] and rewards 0.5, 1.5;
    # add 2 continues the episode: its first step (obs 2) takes the previous action [2, -2] and reward 1.5.
    replay = init(8, 1, OBS, jnp.zeros((2,), jnp.float32))
    act = lambda *a: jnp.asarray([[[x, -x]] for x in a], jnp.float32)  # [T, 1, 2]
    obs = lambda *i: jnp.asarray([[[x, x + 1]] for x in i], jnp.uint8)
    flags = lambda *f: jnp.asarray([[x] for x in f], bool)
    replay = add(replay, obs(0, 1), act(1, 2), jnp.asarray([[0.5], [1.5]]), flags(1, 0), flags(0, 0),
                 flags(0, 0), obs(0, 0))
    replay = add(replay, obs(2, 3), act(3, 4), jnp.asarray([[2.5], [3.5]]), flags(0, 0), flags(0, 0),
                 flags(0, 0), obs(0, 0))
    np.testing.assert_allclose(replay.action[0, :4, 0], [0, 1, 2, 3])
    np.testing.assert_allclose(replay.action[0, :4, 1], [0, -1, -2, -3])
    np.testing.assert_allclose(replay.reward[0, :4], [0, 0.5, 1.5, 2.5])
    np.testing.assert_array_equal(replay.is_first[0, :4], [1, 0, 0, 0])


def _plain_steps(start, n, first=None):
    """One env, n steps without episode ends, ids start..start+n-1; is_first only at global step `first`."""
    ids = list(range(start, start + n))
    return _transitions(ids=[ids], is_first=[[i == first for i in ids]], action=[[i + 100 for i in ids]],
                        reward=[[float(i) for i in ids]], terminated=[[0] * n], truncated=[[0] * n],
                        final_ids=[[0] * n])


def test_wrap_around_overwrites_oldest_in_order():
    # C = 4: add ids 0, 1, 2 then 3, 4, 5 -> slots k % 4: [4, 5, 2, 3]; pos = 6 % 4 = 2; oldest first: 2, 3, 4, 5
    replay = init(4, 1, OBS, ACT)
    replay = add(replay, *_plain_steps(0, 3, first=0))
    replay = add(replay, *_plain_steps(3, 3))
    np.testing.assert_array_equal(replay.obs[0, :, 0], [4, 5, 2, 3])
    assert int(replay.pos[0]) == 2 and int(replay.count[0]) == 4
    assert _ids(replay, 0)[0] == [2, 3, 4, 5]
    np.testing.assert_array_equal(replay.action[0], [103, 104, 101, 102])  # previous actions of ids 4, 5, 2, 3
    # one add longer than the ring: ids 0..9 into C = 4 keeps the last four (8, 9 at slots 0, 1; 6, 7 at 2, 3)
    replay = add(init(4, 1, OBS, ACT), *_plain_steps(0, 10, first=0))
    np.testing.assert_array_equal(replay.obs[0, :, 0], [8, 9, 6, 7])
    assert _ids(replay, 0)[0] == [6, 7, 8, 9]


def test_wrap_within_one_add_with_final_observations():
    # C = 3; env steps: obs 0 (first), obs 1 terminated -> final 2, obs 3 (first): writes 0, 1, 2, 3 (k = 0..3).
    # Only the last three survive: k = 1, 2, 3 at slots 1, 2, 0 -> [3, 1, 2]; the terminal step keeps its flag.
    data = _transitions(ids=[[0, 1, 3]], is_first=[[1, 0, 1]], action=[[7, 8, 9]], reward=[[1.0, 2.0, 3.0]],
                        terminated=[[0, 1, 0]], truncated=[[0, 0, 0]], final_ids=[[0, 2, 0]])
    replay = add(init(3, 1, OBS, ACT), *data)
    np.testing.assert_array_equal(replay.obs[0, :, 0], [3, 1, 2])
    np.testing.assert_array_equal(replay.terminated[0], [0, 0, 1])
    np.testing.assert_array_equal(replay.is_first[0], [1, 0, 0])
    np.testing.assert_array_equal(replay.action[0], [0, 7, 8])
    np.testing.assert_allclose(replay.reward[0], [0.0, 1.0, 2.0])


def test_sampling_never_crosses_the_write_head():
    # C = 8, ids 0..12 written: the ring holds 5..12 (oldest first), head between 12 and 5. Windows of 3 start at
    # ids 5..10 (6 windows); a window across the head would show a jump from 12 back to 5.
    replay = add(init(8, 1, OBS, ACT), *_plain_steps(0, 13, first=0))
    assert int(replay_num_windows(replay, 3)) == 6
    batch = sample(jax.random.PRNGKey(0), replay, 600, 3)
    ids = np.asarray(batch.obs[..., 0]).astype(int)  # [3, 600]
    assert batch.obs.shape == (3, 600, 2) and batch.reward.shape == (3, 600)
    np.testing.assert_array_equal(np.diff(ids, axis=0), 1)
    assert set(ids[0].tolist()) == set(range(5, 11))
    # is_first[0] is set in every sequence; action and reward are zeroed there, kept (id + 99, id) elsewhere
    assert np.asarray(batch.is_first[0]).all() and not np.asarray(batch.is_first[1:]).any()
    np.testing.assert_array_equal(batch.action[0], 0)
    np.testing.assert_allclose(batch.reward[0], 0.0)
    np.testing.assert_array_equal(batch.action[1:], ids[1:] + 99)
    np.testing.assert_allclose(batch.reward[1:], ids[1:] - 1)


def _two_env_replay():
    """env 0: ids 0 (terminal, final obs 1), 10 (terminal, final obs 11), 20, each starting an episode; env 1: one
    episode 30, 31, 32. Stored (oldest first): env 0 [0, 1, 10, 11, 20], env 1 [30, 31, 32]."""
    data = _transitions(ids=[[0, 10, 20], [30, 31, 32]], is_first=[[1, 1, 1], [1, 0, 0]],
                        action=[[1, 1, 1], [1, 1, 1]], reward=[[1.0] * 3, [1.0] * 3],
                        terminated=[[1, 1, 0], [0, 0, 0]], truncated=[[0] * 3, [0] * 3],
                        final_ids=[[1, 11, 0], [0, 0, 0]])
    return add(init(16, 2, OBS, ACT), *data)


def test_sampling_is_uniform_over_env_and_start():
    # env 0 stores 5 steps (two one-step episodes ending in a terminal final obs, then one step): 3 windows of 3;
    # env 1 stores 3 steps: 1 window. Uniform over (env, start) gives each of the 4 windows probability 1/4.
    replay = _two_env_replay()
    assert _ids(replay, 0)[0] == [0, 1, 10, 11, 20] and _ids(replay, 1)[0] == [30, 31, 32]
    batch = sample(jax.random.PRNGKey(1), replay, 8000, 3)
    first = np.asarray(batch.obs[0, :, 0]).astype(int)
    freq = {s: np.mean(first == s) for s in (0, 1, 10, 30)}
    assert np.isin(first, [0, 1, 10, 30]).all()  # no other start exists
    for s, f in freq.items():
        assert abs(f - 0.25) < 0.02, (s, f)  # 4 standard deviations of a frequency over 8000 draws
    # a window starting on the terminal final obs 1: is_first forced at 0, terminated kept as stored
    seq = np.flatnonzero(first == 1)[0]
    np.testing.assert_array_equal(batch.obs[:, seq, 0], [1, 10, 11])
    np.testing.assert_array_equal(batch.terminated[:, seq], [1, 0, 1])
    np.testing.assert_array_equal(batch.is_first[:, seq], [1, 1, 0])


def test_episode_starts_sampling_is_uniform_over_windows_that_start_an_episode():
    # The replay of the test above: valid windows of 3 start at ids 0, 1, 10 (env 0) and 30 (env 1); of those, 0,
    # 10 and 30 are episode starts (stored is_first) and 1 is a final observation. With episode_starts each of the
    # three has probability 1/3 and 1 is never drawn.
    replay = _two_env_replay()
    draw = jax.jit(replay_sample, static_argnums=(2, 3, 4))
    batch = draw(jax.random.PRNGKey(2), replay, 6000, 3, True)
    first = np.asarray(batch.obs[0, :, 0]).astype(int)
    assert np.isin(first, [0, 10, 30]).all()
    for s in (0, 10, 30):
        assert abs(np.mean(first == s) - 1 / 3) < 0.025, s  # 4 standard deviations over 6000 draws
    np.testing.assert_array_equal(batch.obs[:, first == 10, 0][:, 0], [10, 11, 20])  # consecutive stored steps
    # no window starts an episode (one long episode: only id 0 is first, and its window is gone after the wrap):
    # uniform over all valid windows, as without the option
    replay = add(init(8, 1, OBS, ACT), *_plain_steps(0, 13, first=0))
    ids = np.asarray(draw(jax.random.PRNGKey(0), replay, 600, 3, True).obs[0, :, 0]).astype(int)
    assert set(ids.tolist()) == set(range(5, 11))


def test_size_bytes_and_errors():
    replay = init(17, 2, OBS, ACT)  # 8 steps per env
    assert replay.reward.shape == (2, 8)
    # obs 2*8*2*1 = 32, action 2*8*4 = 64, reward 64, three flags 3*16 = 48, pos, count, last_action,
    # last_reward 4 * 8 = 32 -> 240 bytes
    assert replay_bytes(replay) == 240
    assert int(replay_size(replay)) == 0
    with pytest.raises(ValueError, match="capacity"):
        replay_init(3, 4, OBS, ACT)
    with pytest.raises(ValueError, match="length = 9"):
        replay_sample(jax.random.PRNGKey(0), replay, 4, 9)
