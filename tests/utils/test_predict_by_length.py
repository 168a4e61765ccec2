"""LengthPlanner: what a compile costs is measured, compiled lengths are reused,
and repeated calls add the lengths that then pay for their compile."""

import numpy as np

from keras_bert_impl.utils.predict_by_length import LengthPlanner


class _SimulatedCompiler:
    """A predict function whose first call at a shape costs `compile_seconds` more."""

    def __init__(self, compile_seconds, seconds_per_token):
        self.compile_seconds = compile_seconds
        self.seconds_per_token = seconds_per_token
        self.compiled = set()
        self.clock = 0.0

    def predict_on_batch(self, batch):
        shape = batch["padding_mask"].shape
        if shape not in self.compiled:
            self.compiled.add(shape)
            self.clock += self.compile_seconds
        self.clock += self.seconds_per_token * shape[0] * shape[1]
        # The output follows the text: the token ids doubled.
        return {"doubled": batch["token_ids"] * 2, "first": batch["token_ids"][:, 0]}


def _features(lengths, sequence_length=64):
    mask = (np.arange(sequence_length)[None, :] < np.asarray(lengths)[:, None]).astype(
        "int32"
    )
    token_ids = mask * (np.arange(len(lengths))[:, None] + 1)
    return {"token_ids": token_ids, "padding_mask": mask}


def _run(planner, features, compiler, monkeypatch):
    monkeypatch.setattr(
        "keras_bert_impl.utils.predict_by_length.time.perf_counter",
        lambda: compiler.clock,
    )
    for rows, length, batch in planner.batches(features):
        planner.record(rows, length, batch, compiler.predict_on_batch)


class _PredictFunction:
    """Stands for a model's predict function: the key of what it compiled."""


class _Symbolic:
    def __init__(self, shape):
        self.shape = shape


MODEL_OUTPUTS = {"doubled": _Symbolic((None, None)), "first": _Symbolic((None,))}


def test_outputs_come_back_in_input_order_with_zeros_past_each_text(monkeypatch):
    lengths = np.random.default_rng(0).integers(1, 64, size=45)
    features = _features(lengths)
    compiler = _SimulatedCompiler(compile_seconds=0.0, seconds_per_token=1e-3)
    mask = features["padding_mask"]
    planner = LengthPlanner(_PredictFunction(), mask, 8, compiles=False)
    _run(planner, features, compiler, monkeypatch)
    outputs = planner.outputs(MODEL_OUTPUTS)
    np.testing.assert_array_equal(outputs["doubled"], features["token_ids"] * 2)
    np.testing.assert_array_equal(outputs["first"], features["token_ids"][:, 0])
    # Without compiles, each batch is cut to its own longest text.
    for rows, length, _ in planner.results:
        assert length == lengths[rows].max()


def test_a_measured_compile_cost_picks_few_lengths_and_later_calls_refine_them(
    monkeypatch,
):
    lengths = np.random.default_rng(1).integers(4, 60, size=200)
    features = _features(lengths)
    function = _PredictFunction()
    seconds_per_token = 1e-4
    # A compile costs as much as 32 rows x 40 tokens: few lengths pay for it.
    compiler = _SimulatedCompiler(32 * 40 * seconds_per_token, seconds_per_token)
    planner = LengthPlanner(function, features["padding_mask"], 32, compiles=True)
    _run(planner, features, compiler, monkeypatch)
    record = planner.record_of_function
    np.testing.assert_allclose(record.cost_tokens, 32 * 40)
    shapes = set(compiler.compiled)
    assert 1 < len(shapes) < len(planner.rows)
    assert {rows for rows, _ in shapes} == {32}  # the partial batch is filled
    outputs = planner.outputs(MODEL_OUTPUTS)
    np.testing.assert_array_equal(outputs["doubled"], features["token_ids"] * 2)

    # The same texts again and again (an evaluation every epoch): the k-th
    # call counts a compile at 1/k of its cost, so calls pad less and less
    # until every batch runs at its own longest text, and the compiles pay
    # for themselves: 39 more calls take less than 39 at the first plan.
    padded = [sum(32 * length for _, length, _ in planner.results)]
    start = compiler.clock
    for _ in range(2, 41):
        again = LengthPlanner(function, features["padding_mask"], 32, compiles=True)
        _run(again, features, compiler, monkeypatch)
        padded.append(sum(32 * length for _, length, _ in again.results))
        np.testing.assert_array_equal(
            again.outputs(MODEL_OUTPUTS)["doubled"], features["token_ids"] * 2
        )
    assert padded == sorted(padded, reverse=True) and padded[-1] < padded[0]
    assert compiler.clock - start < 39 * padded[0] * seconds_per_token
    for rows, length, _ in again.results:
        assert length == lengths[rows].max()
