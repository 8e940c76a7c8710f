"""ssmrl: state-space-model sequence cores for memory in reinforcement learning, in JAX."""

__version__ = "0.1.0"
