"""Dense gradients for the optimizers (TensorFlow's sparse embedding gradients)."""

import keras


def densify(grads):
    """Turn TensorFlow `IndexedSlices` gradients into dense tensors.

    On TensorFlow an `Embedding` lookup's gradient is a `tf.IndexedSlices`
    with one row per looked-up id, repeated ids repeated. Keras 3.15's
    optimizers feed it to element-wise ops as is, so Adam's
    `ops.square(gradient)` sums the squares of the repeated rows instead of
    squaring their sum: the second moment of every token that occurs twice in
    a batch is wrong (JAX, and TF with `global_clipnorm`, which densifies,
    are right). Converting to dense sums the repeated rows first. The update
    touches every row of the moments anyway (they decay), so nothing is lost.
    Gradients of other types are returned unchanged.
    """
    if keras.backend.backend() != "tensorflow":
        return grads
    import tensorflow as tf

    return [
        tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads
    ]


def clipped_gradients(optimizer, grads):
    """Norm clipping on TensorFlow, where Keras' own is wrong or slower.

    Under a `tf.distribute` strategy, Keras 3.15 clips inside each replica
    *before* summing the replicas' gradients, so `global_clipnorm=1.0` under
    `MirroredStrategy` or `TPUStrategy` bounds each replica's share instead
    of the gradient that is applied, and the result differs from one
    device's. Here the clipping factor is computed from the all-reduced
    gradient and applied to the local ones, whose sum Keras forms next: the
    applied gradient is then exactly one device's clipped gradient. It costs
    one extra all-reduce.

    In one replica, the global norm is taken with TF's fused `L2Loss` (one
    pass over each gradient) instead of Keras' `sum(square(g))`, which writes
    every squared gradient out first: 110 M floats a BERT-Base step (the step
    1.0-1.5% faster on a 2-core CPU).

    Returns:
        The clipped gradients, or `None` where Keras' own clipping is right
        and as fast (not TensorFlow, per-tensor `clipnorm` in one replica, or
        no norm clipping).
    """
    if keras.backend.backend() != "tensorflow":
        return None
    if not (optimizer.global_clipnorm or optimizer.clipnorm):
        return None
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    across = context is not None and context.num_replicas_in_sync > 1
    per_tensor = bool(optimizer.clipnorm and optimizer.clipnorm > 0)
    if per_tensor and not across:
        return None
    present = [g for g in grads if g is not None]
    measured = (
        context.all_reduce(tf.distribute.ReduceOp.SUM, present) if across else present
    )
    if per_tensor:
        clip = tf.cast(optimizer.clipnorm, present[0].dtype)
        scales = [clip / tf.maximum(tf.norm(s), clip) for s in measured]
    else:
        clip = tf.cast(optimizer.global_clipnorm, present[0].dtype)
        norm = tf.linalg.global_norm(measured)
        # NaN/inf norms give a NaN scale, as Keras' clip_by_global_norm.
        scale = clip / tf.maximum(norm, clip) + (norm - norm)
        scales = [scale] * len(present)
    scaled = iter([g * s for g, s in zip(present, scales)])
    return [None if g is None else next(scaled) for g in grads]


class BertGradientHandling:
    """Mixin of BERT's optimizers: dense embedding gradients, cross-replica clipping,
    no traced train step kept alive after `fit` on TensorFlow.

    Put it before the Keras optimizer class in the bases.
    """

    def apply(self, grads, trainable_variables=None):
        # Sparse TF embedding gradients with repeated ids would get wrong
        # second moments (see `gradients.densify`).
        return super().apply(densify(grads), trainable_variables)

    def _clip_gradients(self, grads):
        # On TF: under a strategy, clip by the norm of the summed gradient, not
        # of each replica's share; in one replica, take the norm in one pass
        # (see `gradients.clipped_gradients`).
        clipped = clipped_gradients(self, grads)
        return super()._clip_gradients(grads) if clipped is None else clipped

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # Keras' TF optimizer sums gradients across replicas even without a
        # strategy, where the sum is the identity. tf.distribute's all-reduce
        # of dense gradients is a graph-mode `custom_gradient`, which registers
        # a closure over the traced train step in TensorFlow's global gradient
        # registry, never removed: every `fit` then kept its step graph and the
        # buffers it holds, +210 MB per BERT-mini fit after `clear_session()`
        # (issue 13; `benchmarks/repeated_fit_memory.py`).
        import tensorflow as tf

        if not tf.distribute.has_strategy():
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)
