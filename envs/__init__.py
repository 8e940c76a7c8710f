"""JAX environment suites for ssmrl: POPGym, meta-RL wrapper, gymnax bridge (and host-side Atari later).

``envs.make("popgym/RepeatPreviousHard") -> (env, params)``; ``envs.available()`` lists the names;
``python -m envs`` prints them with their spaces.
"""

from envs.registry import available, make

__all__ = ["available", "make"]
