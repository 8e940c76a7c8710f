"""POPGym in JAX: every family of the reference ``popgym`` package, each with Easy / Medium / Hard.

``FAMILIES`` maps a family name (``"RepeatPrevious"``) to its environment class; the registry turns
``"popgym/RepeatPreviousHard"`` into ``FAMILIES["RepeatPrevious"](difficulty="hard")``-style construction.
"""

from envs.popgym.autoencode import Autoencode
from envs.popgym.battleship import Battleship
from envs.popgym.concentration import Concentration
from envs.popgym.count_recall import CountRecall
from envs.popgym.higher_lower import HigherLower
from envs.popgym.multiarmed_bandit import MultiarmedBandit
from envs.popgym.repeat_first import RepeatFirst
from envs.popgym.repeat_previous import RepeatPrevious

FAMILIES: dict = {}

# Card, bandit and board games (one file each).
FAMILIES.update(
    Autoencode=Autoencode,
    Battleship=Battleship,
    Concentration=Concentration,
    CountRecall=CountRecall,
    HigherLower=HigherLower,
    MultiarmedBandit=MultiarmedBandit,
    RepeatFirst=RepeatFirst,
    RepeatPrevious=RepeatPrevious,
)
