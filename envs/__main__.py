"""``python -m envs``: print every registered environment name with its observation and action spaces."""

from __future__ import annotations

import sys

from envs.catalog import available, make


def _describe(space) -> str:
    kind = type(space).__name__
    if kind == "Discrete":
        return f"Discrete({space.n})"
    if kind == "MultiDiscrete":
        nvec = space.nvec if len(space.nvec) <= 4 else f"[{space.nvec[0]}] * {len(space.nvec)}"
        return f"MultiDiscrete({nvec})"
    return f"Box{tuple(space.shape)}"


def main() -> None:
    names = available()
    print(f"{len(names) - 1} environments (+ meta/<name> over any of them)\n")
    print(f"{'name':48s} {'observation':28s} action")
    for name in names:
        if name.startswith("meta/"):
            print(f"{name:48s} (meta-RL wrapper; kwargs num_trials, obs_dim, fixed_inner_reset)")
            continue
        try:
            env, params = make(name)
            obs, act = _describe(env.observation_space(params)), _describe(env.action_space(params))
        except Exception as error:  # e.g. a gymnax env that needs a download
            obs, act = f"(unavailable: {type(error).__name__})", ""
        print(f"{name:48s} {obs:28s} {act}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
