"""The speed options of our model, each measured against its baseline side by side.

Experiments (pick with `--ablations`, default all that apply to the backend):

- `xla_train`, `xla_inference` (TensorFlow): `jit_compile=True` vs `False` for the
  pretraining train step and for `predict_on_batch`, plus what `"auto"` picks.
  (JAX always compiles with XLA; `jit_compile=False` there means op-by-op
  eager execution, not an option anyone would ship.)
- `heads_first_train`, `heads_first_inference`: the einsum attention with the
  heads transposed to a leading batch dimension before the two contractions
  (the default on JAX) vs contracting in the projections' (batch, seq, heads,
  dim) layout (the default on TensorFlow).
- `attention`: `attention_implementation="dot_product_attention"`
  (`keras.ops.dot_product_attention`) vs `"einsum"`, inference.
- `fused_qkv_train`, `fused_qkv_inference`: one `(H, 3H)` projection built by
  concatenating the three checkpoint kernels at call time (so the variables
  still map 1:1 onto checkpoints) vs the three separate projections.
- `tokens_as_rows_train`, `tokens_as_rows_inference`: the encoder's Dense layers
  on the tokens flattened to rows (`layers/token_matmul.dense_over_tokens`, the
  default) vs on the `(batch, seq, hidden)` tensor (a batched matmul on TF), in
  float32 and in mixed bfloat16.
- `first_token_train`, `first_token_inference`: a `BertClassifier` whose
  `pooled_output` runs only the [CLS] row through the last block (the default:
  `BertEncoderBlock(first_token_only=True)`) vs the full last block, its first
  row taken (the path before), one `train_on_batch` / `predict_on_batch`;
  `first_token_backbone`: the same on a `BertBackbone`'s `predict_on_batch`,
  which returns both outputs and so runs both paths (what the extra path costs).
- `steps_per_execution`: `fit` over 16 batches with `steps_per_execution=16` vs 1,
  on the tiny config, where per-step dispatch is visible at all.

`relative_speed` = baseline time / variant time (median over interleaved rounds).
"""

import types

import _common
import peers
from _common import CONFIGS

EXPERIMENTS = (
    "xla_train",
    "xla_inference",
    "heads_first_train",
    "heads_first_inference",
    "attention",
    "fused_qkv_train",
    "fused_qkv_inference",
    "tokens_as_rows_train",
    "tokens_as_rows_inference",
    "first_token_train",
    "first_token_inference",
    "first_token_backbone",
    "steps_per_execution",
)


def _fused_qkv_call(self, inputs, padding_mask=None, training=False):
    """BertSelfAttention.call with the Q/K/V kernels concatenated per call."""
    from keras import ops

    kernel = ops.concatenate(
        [self.query_dense.kernel, self.key_dense.kernel, self.value_dense.kernel], 1
    )
    bias = ops.concatenate(
        [self.query_dense.bias, self.key_dense.bias, self.value_dense.bias], 0
    )
    qkv = ops.matmul(inputs, ops.cast(kernel, self.compute_dtype)) + ops.cast(
        bias, self.compute_dtype
    )
    batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
    qkv = ops.reshape(qkv, (batch, length, 3, self.num_heads, self.head_dim))
    query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    context = self._einsum_attention(query, key, value, padding_mask, training)
    context = ops.reshape(context, (batch, length, self.hidden_dim))
    return self.output_dense(context)


def _fuse_qkv(model):
    from keras_bert_impl.layers import BertSelfAttention

    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, BertSelfAttention):
            layer.call = types.MethodType(_fused_qkv_call, layer)
    return model


def _compare(steps, baseline, rounds):
    timings = _common.interleaved(steps, rounds, warmup=2)
    return {
        "median_seconds": {
            name: round(_common.median(t["seconds"]), 4) for name, t in timings.items()
        },
        "warmup_seconds": {
            name: [round(s, 2) for s in t["warmup_seconds"]]
            for name, t in timings.items()
        },
        "relative_speed": {
            name: round(
                _common.per_round_ratio(
                    timings[baseline]["seconds"], timings[name]["seconds"]
                ),
                3,
            )
            for name in timings
            if name != baseline
        },
        "baseline": baseline,
    }


def _train_shape(args):
    return (args.train_batch, args.train_length, args.num_masks)


def xla_train(args, config):
    steps = {
        f"jit_compile={value}": peers.ours_train_step(
            config, *_train_shape(args), jit_compile=value
        )
        for value in (False, True)
    }
    auto = peers.ours_pretrainer(config).jit_compile
    result = _compare(steps, "jit_compile=False", args.rounds)
    result["auto_resolves_to"] = auto
    return result


def xla_inference(args, config):
    steps = {
        f"jit_compile={value}": peers.ours_inference_step(
            config, args.infer_batch, args.infer_length, jit_compile=value
        )
        for value in (False, True)
    }
    return _compare(steps, "jit_compile=False", args.rounds)


def attention(args, config):
    from keras_bert_impl.layers.bert_self_attention import set_attention_implementation

    steps = {}
    for implementation in ("einsum", "dot_product_attention"):
        step = peers.ours_inference_step(config, args.infer_batch, args.infer_length)
        set_attention_implementation(step.model, implementation)
        steps[implementation] = step
    return _compare(steps, "einsum", args.rounds)


def _set_heads_first(model, value):
    from keras_bert_impl.layers import BertSelfAttention

    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, BertSelfAttention):
            layer._heads_first = value
    return model


def heads_first_train(args, config):
    steps = {}
    for value in (False, True):
        step = peers.ours_train_step(config, *_train_shape(args))
        _set_heads_first(step.model, value)
        steps[f"heads_first={value}"] = step
    return _compare(steps, "heads_first=False", args.rounds)


def heads_first_inference(args, config):
    steps = {}
    for value in (False, True):
        step = peers.ours_inference_step(config, args.infer_batch, args.infer_length)
        _set_heads_first(step.model, value)
        steps[f"heads_first={value}"] = step
    return _compare(steps, "heads_first=False", args.rounds)


def fused_qkv_train(args, config):
    separate = peers.ours_train_step(config, *_train_shape(args))
    fused = peers.ours_train_step(config, *_train_shape(args))
    _fuse_qkv(fused.model)
    return _compare({"separate": separate, "fused": fused}, "separate", args.rounds)


def fused_qkv_inference(args, config):
    separate = peers.ours_inference_step(config, args.infer_batch, args.infer_length)
    fused = peers.ours_inference_step(config, args.infer_batch, args.infer_length)
    _fuse_qkv(fused.model)
    return _compare({"separate": separate, "fused": fused}, "separate", args.rounds)


def _dense_on_3d(step):
    """`step` with the encoder's Dense layers called on the 3-D tensor.

    Swaps the name the layer modules call for a plain `dense(x)` around every
    call, so that whenever the step traces, it traces the old path.
    """
    from keras_bert_impl.layers import bert_encoder_block
    from keras_bert_impl.layers import bert_self_attention

    modules = (bert_encoder_block, bert_self_attention)
    rows = bert_encoder_block.dense_over_tokens

    def dense_on_3d(dense, x, tokens=None):
        for layer in dense if isinstance(dense, (list, tuple)) else (dense,):
            x = layer(x)
        return x

    def on_3d():
        for module in modules:
            module.dense_over_tokens = dense_on_3d
        try:
            step()
        finally:
            for module in modules:
                module.dense_over_tokens = rows

    return on_3d


def _tokens_as_rows(args, build_step):
    return {
        dtype: _compare(
            {
                "dense_on_3d": _dense_on_3d(build_step(dtype)),
                "tokens_as_rows": build_step(dtype),
            },
            "dense_on_3d",
            args.rounds,
        )
        for dtype in ("float32", "mixed_bfloat16")
    }


def tokens_as_rows_train(args, config):
    return _tokens_as_rows(
        args,
        lambda dtype: peers.ours_train_step(config, *_train_shape(args), dtype=dtype),
    )


def tokens_as_rows_inference(args, config):
    return _tokens_as_rows(
        args,
        lambda dtype: peers.ours_inference_step(
            config, args.infer_batch, args.infer_length, dtype=dtype
        ),
    )


def _full_last_block(build):
    """`build()` with `pooled_output` read from the full last block (the old path)."""
    from keras_bert_impl.models import bert_backbone

    own_path = bert_backbone.first_token_path_pays
    bert_backbone.first_token_path_pays = lambda: False
    try:
        return build()
    finally:
        bert_backbone.first_token_path_pays = own_path


def _first_token(args, build):
    return _compare(
        {"full_last_block": _full_last_block(build), "first_token_only": build()},
        "full_last_block",
        args.rounds,
    )


def _classifier_step(config, batch, length, training):
    import numpy as np

    from keras_bert_impl.models import BertBackbone
    from keras_bert_impl.models import BertClassifier

    classifier = BertClassifier(BertBackbone(**config), num_classes=2)
    x = peers.encoder_batch(config, batch, length)
    y = np.zeros(batch, "int32")

    def step():
        if training:
            classifier.train_on_batch(x, y)
        else:
            classifier.predict_on_batch(x)

    return step


def first_token_train(args, config):
    return _first_token(
        args,
        lambda: _classifier_step(config, args.infer_batch, args.infer_length, True),
    )


def first_token_inference(args, config):
    return _first_token(
        args,
        lambda: _classifier_step(config, args.infer_batch, args.infer_length, False),
    )


def first_token_backbone(args, config):
    return _first_token(
        args,
        lambda: peers.ours_inference_step(config, args.infer_batch, args.infer_length),
    )


def steps_per_execution(args, config):
    import tensorflow as tf

    config = CONFIGS["tiny"]
    num_batches = 16
    x, y, sample_weight = peers.pretraining_batch(
        config, args.train_batch, args.train_length, args.num_masks
    )
    dataset = (
        tf.data.Dataset.from_tensors((x, y, sample_weight)).repeat(num_batches).cache()
    )
    steps = {}
    for value in (1, num_batches):
        model = peers.ours_pretrainer(config, steps_per_execution=value)

        def step(model=model):
            model.fit(dataset, epochs=1, verbose=0)

        steps[f"steps_per_execution={value}"] = step
    result = _compare(steps, "steps_per_execution=1", args.rounds)
    result["config"] = "tiny"
    result["batches_per_fit"] = num_batches
    return result


def run(args):
    backend = _common.backend_name()
    config = CONFIGS[args.config]
    wanted = getattr(args, "ablations", None) or ",".join(EXPERIMENTS)
    experiments = {}
    skipped = {}
    for name in wanted.split(","):
        if name.startswith("xla_") and backend != "tensorflow":
            skipped[name] = "JAX always compiles with XLA"
            continue
        experiments[name] = globals()[name](args, config)
    notes = [f"{name}: skipped, {why}" for name, why in skipped.items()]
    notes.append(
        "fused_qkv concatenates the three (H, H) kernels at every call, keeping "
        "the checkpoint layout; it is measured here, not shipped, unless it pays."
    )
    return {
        "config": args.config,
        "train_shape": list(_train_shape(args)),
        "inference_shape": [args.infer_batch, args.infer_length],
        "experiments": experiments,
        "notes": notes,
    }
