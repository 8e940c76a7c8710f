"""Structured initialisers and discretisations for the SSM cores.

The deterministic, expensive parts (HiPPO matrices and their eigendecompositions) are computed once in numpy,
outside any traced graph; random parts are drawn with ``jax.random`` inside parameter initialisers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array


def hippo_legs(n: int) -> np.ndarray:
    """The HiPPO-LegS state matrix A [n, n] (float64), Gu et al. 2020.

    ``A[i, k] = -sqrt(2i+1) sqrt(2k+1)`` for ``i > k``, ``-(i+1)`` on the diagonal, 0 above it.
    """
    scale = np.sqrt(2.0 * np.arange(n) + 1.0)
    a = np.tril(np.outer(scale, scale)) - np.diag(np.arange(n))
    return -a


def hippo_legs_nplr(n: int) -> tuple[np.ndarray, np.ndarray]:
    """LegS as normal plus low rank: ``A = S - p p^T`` with ``S`` normal. Returns (S [n, n], p [n])."""
    p = np.sqrt(np.arange(n) + 0.5)
    return hippo_legs(n) + np.outer(p, p), p


def hippo_normal_eig(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigendecomposition of the normal part S of HiPPO-LegS (HiPPO-N): ``S = V diag(lam) V^H``.

    S has constant diagonal -1/2 and a skew-symmetric remainder, so ``lam = -1/2 + i w`` and V is unitary.
    Returns (lam [n] complex128 sorted by descending imaginary part, V [n, n] complex128).
    """
    s, _ = hippo_legs_nplr(n)
    skew = s + 0.5 * np.eye(n)
    # i * skew is Hermitian: its real eigenvalues w give the skew part's eigenvalues -i w.
    w, v = np.linalg.eigh(1j * skew)
    lam = -0.5 - 1j * w
    order = np.argsort(-lam.imag, kind="stable")
    return lam[order], v[:, order]


def s5_block_init(state_size: int, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """Conjugate-symmetric block-diagonal HiPPO-N initialisation for S5.

    The full real system has ``2 * state_size`` states in ``blocks`` HiPPO-N blocks; we keep the
    ``state_size`` modes with positive imaginary part (the others are their conjugates).
    Returns (lam [state_size] complex128, V_kept [2 * state_size, state_size] complex128), where V_kept holds
    the kept eigenvectors of the full block-diagonal matrix (so ``V_kept^H`` maps real states to kept modes).
    """
    if state_size % blocks:
        raise ValueError(f"state_size={state_size} must be divisible by blocks={blocks}")
    half = state_size // blocks
    lam_b, v_b = hippo_normal_eig(2 * half)
    lam_b, v_b = lam_b[:half], v_b[:, :half]
    lam = np.tile(lam_b, blocks)
    v = np.zeros((2 * state_size, state_size), dtype=np.complex128)
    for j in range(blocks):
        v[2 * half * j : 2 * half * (j + 1), half * j : half * (j + 1)] = v_b
    return lam, v


def s4d_lin(half: int) -> np.ndarray:
    """S4D-Lin diagonal init: ``A_n = -1/2 + i pi n``, n < half (the kept half of a conjugate pair set)."""
    return -0.5 + 1j * np.pi * np.arange(half)


def s4d_inv(half: int) -> np.ndarray:
    """S4D-Inv diagonal init: ``A_n = -1/2 + i (N / pi) (N / (2n + 1) - 1)`` with N = 2 * half."""
    n = 2 * half
    return -0.5 + 1j * (n / np.pi) * (n / (2 * np.arange(half) + 1) - 1)


def log_step_init(dt_min: float, dt_max: float):
    """Initialiser: log step sizes uniform in [log dt_min, log dt_max]."""

    def init(key: Array, shape, dtype=jnp.float32) -> Array:
        u = jax.random.uniform(key, shape, dtype)
        return jnp.log(dt_min) + u * (jnp.log(dt_max) - jnp.log(dt_min))

    return init


def zoh(lam: Array, log_step: Array) -> tuple[Array, Array]:
    """Zero-order hold for a diagonal system: returns (lam_bar = exp(lam dt), (lam_bar - 1) / lam), the latter
    multiplies B."""
    lam_bar = jnp.exp(lam * jnp.exp(log_step))
    return lam_bar, (lam_bar - 1.0) / lam


def complex_from_pair(x: Array) -> Array:
    """[..., 2] real pair -> [...] complex."""
    return x[..., 0] + 1j * x[..., 1]


def pair_from_complex(z) -> np.ndarray:
    """[...] complex -> [..., 2] real pair (numpy or jax)."""
    return jnp.stack([jnp.real(z), jnp.imag(z)], axis=-1)


def hippo_legs_dplr(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """HiPPO-LegS in diagonal-plus-low-rank form for S4, keeping one mode of each conjugate pair.

    With ``S = V diag(lam) V^H`` (``hippo_normal_eig``), ``A = S - p p^T`` and the LegS input vector
    ``b_i = sqrt(2i + 1)``, the kept modes are those with ``Im(lam) > 0``; because S, p and b are real, the full
    eigenbasis is ``V_full = [V_kept, conj(V_kept)]`` and ``V_full^H p = [P, conj(P)]`` (likewise for b), so
    ``A = V_full (diag(lam_full) - P_full P_full^H) V_full^H`` exactly.
    Returns (lam [n/2], P [n/2], B [n/2], V_kept [n, n/2]), all complex128.
    """
    if n < 2 or n % 2:
        raise ValueError(f"the DPLR HiPPO-LegS state size must be an even int >= 2, got {n}")
    lam, v = hippo_normal_eig(n)
    _, p = hippo_legs_nplr(n)
    b = np.sqrt(2.0 * np.arange(n) + 1.0)
    v_kept = v[:, : n // 2]  # sorted by descending imaginary part: the positive half
    return lam[: n // 2], v_kept.conj().T @ p, v_kept.conj().T @ b, v_kept
