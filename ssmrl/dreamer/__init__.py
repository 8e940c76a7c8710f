"""DreamerV3-style world-model agent on the sequence cores (S4WM posterior by default).

Modules: ``world_model`` (the model and its loss), ``imagine`` (rollouts in imagination, actor and critic),
``losses`` (KL balancing, lambda-returns, return normalisation, actor and critic losses) and ``replay`` (the
device-resident sequence replay); the numerical building blocks live in ``ssmrl.nets.twohot`` and
``ssmrl.nets.latent``. This package imports none of its modules: import them directly.
"""
