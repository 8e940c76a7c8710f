"""Environments for ssmrl: the JAX suites (POPGym, wm_memory, the meta-RL wrapper, the gymnax bridge) and the
host-side Atari 100k emulators (``envs.atari``), all named and built by one catalog (``envs.catalog``).

``envs.make("popgym/RepeatPreviousHard") -> (env, params)``; ``envs.available()`` lists the names,
``envs.available("gymnax")`` those of one suite (of ``envs.SUITES``); ``python -m envs`` prints them with their spaces.
"""

from envs.catalog import SUITES, available, make

__all__ = ["SUITES", "available", "make"]
