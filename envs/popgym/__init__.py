"""POPGym in JAX: every family of the reference ``popgym`` package, each with Easy / Medium / Hard.

``FAMILIES`` maps a family name (``"RepeatPrevious"``) to its environment class; the registry turns
``"popgym/RepeatPreviousHard"`` into ``FAMILIES["RepeatPrevious"](difficulty="hard")``-style construction.
"""

FAMILIES: dict = {}
