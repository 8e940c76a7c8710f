"""Parameter counts and ``match_params``: the width ``d_model`` that gives a core stack about N parameters.

A count is taken from the shapes of ``stack.init`` under ``jax.eval_shape`` (nothing is computed or allocated),
in real numbers by :func:`ssmrl.algorithm.tree_param_count` (imported here for the benchmark): a complex leaf
would count twice (no registered core has one). The stack is the whole residual ``make_stack`` of
:class:`ssmrl.config.ModelConfig` (cores, norms, GLU / MLP mixers, final norm), i.e. the sequence model without
the algorithm's encoder and heads.

:func:`match_d_model` binary-searches ``d_model`` (the only size it changes; the state size and every other
option stay as configured) over the widths the core accepts (e.g. the transformer needs ``n_heads | d_model``),
using that the count grows with ``d_model``, and returns the accepted width whose count is nearest to N
(relative distance).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from ssmrl.algorithm import tree_param_count
from ssmrl.config import ConfigError, ModelConfig


def stack_param_count(model: ModelConfig) -> int:
    """Parameters of the core stack ``model`` describes (shapes of ``init`` on one step of one sequence)."""
    stack = model.make_stack()

    def init(key):
        xs = jnp.zeros((1, 1, model.d_model), jnp.float32)  # [T=1, B=1, H]
        return stack.init(key, stack.initialize_carry(1), xs, jnp.ones((1, 1), bool))

    return tree_param_count(jax.eval_shape(init, jax.random.PRNGKey(0)))


@dataclasses.dataclass(frozen=True)
class Match:
    """d_model: the chosen width; params: the stack's parameter count at that width; target: N."""

    d_model: int
    params: int
    target: int

    @property
    def rel_error(self) -> float:
        """(params - target) / target."""
        return (self.params - self.target) / self.target


def _accepts(model: ModelConfig, d_model: int) -> bool:
    try:
        dataclasses.replace(model, d_model=d_model).make_stack()
    except ValueError:
        return False
    return True


def match_d_model(model: ModelConfig, target: int, max_d_model: int = 8192,
                  count: Callable[[ModelConfig], int] = stack_param_count) -> Match:
    """The accepted ``d_model`` whose stack has the parameter count nearest to ``target`` (see the module
    docstring). Raises ValueError if ``target`` < 1 or no width up to ``max_d_model`` is accepted."""
    if not isinstance(target, int) or isinstance(target, bool) or target < 1:
        raise ValueError(f"match_params must be a positive int, got {target!r}")
    cache: dict[int, int] = {}

    def up(d: int) -> int | None:  # the smallest accepted width >= d
        while d <= max_d_model and not _accepts(model, d):
            d += 1
        return d if d <= max_d_model else None

    def params(d: int) -> int:
        if d not in cache:
            cache[d] = count(dataclasses.replace(model, d_model=d))
        return cache[d]

    first = up(1)
    if first is None:
        raise ValueError(f"model {model.name}: no d_model up to {max_d_model} is accepted")
    # Bracket [lo, hi] with params(lo) < target <= params(hi), starting from a quadratic guess off the configured
    # width (counts grow about as d_model^2), then bisect.
    start = up(model.d_model) or first
    guess = up(max(1, round(start * (target / params(start)) ** 0.5))) or start
    lo = hi = guess
    while params(lo) >= target and lo > first:  # step down until below the target
        hi, smaller = lo, up(max(1, int(lo * 0.8)))
        lo = smaller if smaller < lo else first
    if params(lo) >= target:
        hi = lo  # the target is at or below the smallest width's count
    while params(hi) < target:  # step up until at or above it
        nxt = up(max(hi + 1, int(hi * 1.25)))
        if nxt is None:
            return Match(hi, params(hi), target)  # the widest accepted width is still below the target
        lo, hi = hi, nxt
    while True:  # invariant: lo < hi accepted, params(lo) < target <= params(hi) (or lo == hi == first)
        mid = up((lo + hi) // 2) if hi - lo > 1 else None  # (lo + hi) // 2 > lo
        if mid is None or mid >= hi:
            break
        if params(mid) >= target:
            hi = mid
        else:
            lo = mid
    best = min({lo, hi}, key=lambda d: (abs(params(d) - target), d))
    return Match(best, params(best), target)


def cached_match(model: ModelConfig, target: int, cache: dict) -> Match:
    """:func:`match_d_model` for a grid's ``match_params``: one search per distinct core config (``cache``, keyed by
    the config less its width, shared over a grid's cells); ConfigError ``match_params: ...`` where it fails."""
    key = repr(dataclasses.replace(model, d_model=0))
    if key not in cache:
        try:
            cache[key] = match_d_model(model, target)
        except ValueError as err:
            raise ConfigError(f"match_params: {err}") from None
    return cache[key]
