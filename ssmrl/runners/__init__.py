"""Runners: the fused (all under jit, vmap over seeds) chunk runner and the host loop around it."""
