"""match_params: parameter counts of core stacks from ``init``'s shapes, and the width that gives about N of them."""

import dataclasses

import pytest

from ssmrl.benchmark.sizing import match_d_model, stack_param_count, tree_param_count
from ssmrl.config import ModelConfig

TARGET = 10_000
# Counts grow about as d_model^2, so neighbouring widths differ by about 2 / d_model relative (near 10k params:
# d_model 25-50, 4-8%; the transformer, whose width must be a multiple of its 4 heads, by up to about 25%). The
# nearest width is therefore within half that of N: 5% for the others, 10% for the transformer.
TOLERANCE = {"s5": 0.05, "gru": 0.05, "lstm": 0.05, "transformer": 0.10}
MODELS = {
    "s5": ModelConfig("s5", 64, 1, "glu", "layer", {"state_size": 16}),
    "gru": ModelConfig("gru", 64, 1, "glu", "layer"),
    "lstm": ModelConfig("lstm", 64, 1, "glu", "layer"),
    "transformer": ModelConfig("transformer", 64, 1, "mlp", "layer", {"n_heads": 4, "window": 8}),
}


def test_identity_stack_count_by_hand():
    # identity core (no parameters) in one residual layer of width H = 8 with a GLU and layer norms:
    # layer norm 2H + GLU two Dense(H -> H) 2 (H^2 + H) + final layer norm 2H = 16 + 144 + 16 = 176
    assert stack_param_count(ModelConfig("identity", 8, 1, "glu", "layer")) == 176


def test_gru_stack_count_by_hand():
    # flax GRUCell of width H = 8: input Dense r, z, n with biases 3 (H^2 + H) = 216, hidden Dense r, z without
    # bias and n with bias 3 H^2 + H = 200 -> 416; plus the layer of the test above (norms, GLU): 176 -> 592
    assert stack_param_count(ModelConfig("gru", 8, 1, "glu", "layer")) == 592


def test_tree_param_count_counts_complex_twice():
    import jax.numpy as jnp

    assert tree_param_count({"a": jnp.zeros((2, 3)), "b": jnp.zeros(4, jnp.complex64)}) == 6 + 8


@pytest.mark.parametrize("name", list(MODELS))
def test_match_params_within_tolerance_and_nearest(name):
    model = MODELS[name]
    match = match_d_model(model, TARGET)
    assert match.params == stack_param_count(dataclasses.replace(model, d_model=match.d_model))
    assert abs(match.rel_error) <= TOLERANCE[name], match
    step = 4 if name == "transformer" else 1  # the neighbouring accepted widths are no closer to N
    for other in (match.d_model - step, match.d_model + step):
        count = stack_param_count(dataclasses.replace(model, d_model=other))
        assert abs(count - TARGET) >= abs(match.params - TARGET), (other, count, match)


def test_match_params_rejects_a_bad_target():
    with pytest.raises(ValueError, match="match_params must be a positive int"):
        match_d_model(MODELS["gru"], 0)
