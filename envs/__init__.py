"""JAX environment suites for ssmrl: POPGym, meta-RL wrapper, gymnax bridge (and host-side Atari later)."""
