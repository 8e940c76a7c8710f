"""ssmrl: state-space-model sequence cores for memory in reinforcement learning, in JAX."""

import os

__version__ = "0.1.0"

# XLA's CPU backend deadlocks (every thread parked, no progress, no error) on some of our programs when its
# concurrency-optimised scheduler is on: PPO with a 2-layer GRU or LSTM vmapped over 2 seeds hangs in its first
# update (jax 0.10.2, 2-core CPU), and runs with the scheduler off. XLA reads XLA_FLAGS when its backend starts,
# so the flag is added here, before ssmrl runs anything; a user's own setting of it wins. CPU-only flag.
_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"
if _SCHEDULER_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_SCHEDULER_FLAG}=false".strip()
