"""POPGym in JAX: every family of the reference ``popgym`` package, each with Easy / Medium / Hard.

``FAMILIES`` maps a family name (``"RepeatPrevious"``) to its environment class; the registry turns
``"popgym/RepeatPreviousHard"`` into ``FAMILIES["RepeatPrevious"](difficulty="hard")``-style construction.
"""

from envs.popgym.autoencode import Autoencode
from envs.popgym.battleship import Battleship
from envs.popgym.concentration import Concentration
from envs.popgym.count_recall import CountRecall
from envs.popgym.higher_lower import HigherLower
from envs.popgym.labyrinth_escape import LabyrinthEscape
from envs.popgym.labyrinth_explore import LabyrinthExplore
from envs.popgym.minesweeper import MineSweeper
from envs.popgym.multiarmed_bandit import MultiarmedBandit
from envs.popgym.noisy_position_only_cartpole import NoisyPositionOnlyCartPole
from envs.popgym.noisy_position_only_pendulum import NoisyPositionOnlyPendulum
from envs.popgym.position_only_cartpole import PositionOnlyCartPole
from envs.popgym.position_only_pendulum import PositionOnlyPendulum
from envs.popgym.repeat_first import RepeatFirst
from envs.popgym.repeat_previous import RepeatPrevious
from envs.popgym.velocity_only_cartpole import VelocityOnlyCartPole

FAMILIES: dict[str, type] = {
    # Card, bandit and board games.
    "Autoencode": Autoencode,
    "Battleship": Battleship,
    "Concentration": Concentration,
    "CountRecall": CountRecall,
    "HigherLower": HigherLower,
    "MultiarmedBandit": MultiarmedBandit,
    "RepeatFirst": RepeatFirst,
    "RepeatPrevious": RepeatPrevious,
    # Control (cart-pole / pendulum variants), MineSweeper and the labyrinths.
    "PositionOnlyCartPole": PositionOnlyCartPole,
    "VelocityOnlyCartPole": VelocityOnlyCartPole,
    "NoisyPositionOnlyCartPole": NoisyPositionOnlyCartPole,
    "PositionOnlyPendulum": PositionOnlyPendulum,
    "NoisyPositionOnlyPendulum": NoisyPositionOnlyPendulum,
    "MineSweeper": MineSweeper,
    "LabyrinthEscape": LabyrinthEscape,
    "LabyrinthExplore": LabyrinthExplore,
}
