"""Jittable maze generation for the POPGym labyrinths: hunt-and-kill mazes with entrances on opposite walls.

The reference builds its mazes with mazelib's ``HuntAndKill`` (random hunt) and ``generate_entrances``:

* a grid of ``(2 rows + 1) x (2 cols + 1)`` blocks, walls = 1, passages = 0; cell ``(i, j)`` sits at block
  ``(2i + 1, 2j + 1)``;
* from a uniformly random cell, a random walk carves into unvisited neighbours (each step uniform among them)
  until it is stuck; then the hunt restarts the walk from a random cell, keeping only cells that are visited
  and still have an unvisited neighbour (mazelib draws uniformly among all cells and skips the rest, which is
  the same distribution); repeat until every cell is visited. The result is a perfect maze (a spanning tree:
  ``2 rows cols - 1`` passage blocks), with the long corridors typical of hunt-and-kill.
* a start on a random side's outer wall (odd coordinate) and an end on the opposite wall.

Here every loop iteration carves exactly one new cell, so generation is a ``fori_loop`` of
``rows * cols - 1`` iterations with no data-dependent trip count. (mazelib gives up hunting after
``H * W`` random draws, which very rarely leaves a cell unreached; this version always completes the maze.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array

WALL, PASSAGE = 1, 0
_DR = (-1, 1, 0, 0)  # up, down, left, right (cell steps)
_DC = (0, 0, -1, 1)


def _open_directions(visited: Array) -> Array:
    """bool [4, rows, cols]: the neighbour of each cell in direction d exists and is unvisited."""
    unvisited = jnp.pad(~visited, 1, constant_values=False)
    rows, cols = visited.shape
    return jnp.stack(
        [unvisited[1 + dr : 1 + dr + rows, 1 + dc : 1 + dc + cols] for dr, dc in zip(_DR, _DC, strict=True)]
    )


def _masked_choice(u: Array, mask: Array) -> Array:
    """Index of the ``floor(u * count)``-th ``True`` entry of a flat bool mask: uniform for u ~ U[0, 1)."""
    rank = jnp.minimum(jnp.floor(u * mask.sum()).astype(jnp.int32), mask.sum() - 1)
    return jnp.argmax(mask & (jnp.cumsum(mask) == rank + 1))


def generate_maze(key: Array, rows: int, cols: int) -> Array:
    """A random hunt-and-kill perfect maze. rows, cols: cells (static) -> int32 [2 rows + 1, 2 cols + 1]."""
    if rows < 1 or cols < 1:
        raise ValueError(f"generate_maze: rows and cols must be >= 1, got rows={rows}, cols={cols}")
    dr, dc = jnp.array(_DR), jnp.array(_DC)
    # All randomness in one draw up front (random ops inside the loop compile far more slowly).
    uniforms = jax.random.uniform(key, (rows * cols, 2))
    start = jnp.minimum(jnp.floor(uniforms[-1, 0] * rows * cols).astype(jnp.int32), rows * cols - 1)
    r0, c0 = start // cols, start % cols
    grid = jnp.full((2 * rows + 1, 2 * cols + 1), WALL, jnp.int32).at[2 * r0 + 1, 2 * c0 + 1].set(PASSAGE)
    visited = jnp.zeros((rows, cols), bool).at[r0, c0].set(True)

    def carve(i, carry):
        grid, visited, r, c = carry
        open_dirs = _open_directions(visited)
        frontier = visited & open_dirs.any(axis=0)
        hunted = _masked_choice(uniforms[i, 0], frontier.reshape(-1))
        stuck = ~open_dirs[:, r, c].any()
        r = jnp.where(stuck, hunted // cols, r)
        c = jnp.where(stuck, hunted % cols, c)
        d = _masked_choice(uniforms[i, 1], open_dirs[:, r, c])
        nr, nc = r + dr[d], c + dc[d]
        grid = grid.at[2 * r + 1 + dr[d], 2 * c + 1 + dc[d]].set(PASSAGE).at[2 * nr + 1, 2 * nc + 1].set(PASSAGE)
        return grid, visited.at[nr, nc].set(True), nr, nc

    grid, _, _, _ = jax.lax.fori_loop(0, rows * cols - 1, carve, (grid, visited, r0, c0))
    return grid


def generate_entrances(key: Array, rows: int, cols: int) -> tuple[Array, Array]:
    """Start and end blocks on opposite outer walls, as mazelib's ``generate_entrances(start_outer=True)``.

    rows, cols: cells -> (start int32 [2], end int32 [2]) as (y, x) block coordinates.
    """
    height, width = 2 * rows + 1, 2 * cols + 1
    u = jax.random.uniform(key, (5,))
    pick = lambda v, n: jnp.minimum(jnp.floor(v * n).astype(jnp.int32), n - 1)  # uniform in {0, ..., n - 1}
    side = pick(u[0], 4)  # start on the north, south, west or east wall
    along_cols = 2 * pick(u[1:3], cols) + 1
    along_rows = 2 * pick(u[3:5], rows) + 1
    starts = jnp.array(
        [
            [0, along_cols[0]],
            [height - 1, along_cols[0]],
            [along_rows[0], 0],
            [along_rows[0], width - 1],
        ]
    )
    ends = jnp.array(
        [
            [height - 1, along_cols[1]],
            [0, along_cols[1]],
            [along_rows[1], width - 1],
            [along_rows[1], 0],
        ]
    )
    return starts[side].astype(jnp.int32), ends[side].astype(jnp.int32)
