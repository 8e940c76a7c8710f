"""DreamerV3-style agent on the sequence cores: the world model of ``ssmrl.world_model`` and an imagination
actor-critic.

Modules: ``config`` (the ``algo.*`` schema), ``train`` (init / update / evaluate), ``imagine`` (rollouts in
imagination, actor and critic), ``losses`` (KL balancing, lambda-returns, return normalisation, actor and critic
losses) and ``replay`` (the device-resident sequence replay); the numerical building blocks live in
``ssmrl.nets.twohot`` and ``ssmrl.nets.latent``. This package imports none of its modules: import them directly.
"""
