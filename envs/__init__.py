"""JAX environment suites for ssmrl: POPGym, wm_memory, meta-RL wrapper, gymnax bridge; ``envs.atari`` holds the
host-side Atari100k environment (not a JAX env, so not in ``envs.make``).

``envs.make("popgym/RepeatPreviousHard") -> (env, params)``; ``envs.available()`` lists the names;
``python -m envs`` prints them with their spaces.
"""

from envs.registry import available, make

__all__ = ["available", "make"]
