"""The run layer: ``loop`` (the one loop of every run: compile, progress, logging, checkpoints, exact resume,
evaluation), driving ``fused`` (JAX environments, all under jit, vmapped over seeds) or ``host_envs`` (host-side
environments such as the Atari emulators); ``rundir`` (run directories and their lock), ``progress`` and ``signals``
(SIGTERM stops a run as Ctrl-C does)."""
