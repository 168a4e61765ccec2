"""`TokenIdChecks`: models that refuse out-of-range ids where they come in."""

from keras_bert_impl.utils.raw_inputs import is_dataset
from keras_bert_impl.utils.token_id_ranges import assert_id_ranges
from keras_bert_impl.utils.token_id_ranges import check_id_ranges
from keras_bert_impl.utils.token_id_ranges import id_limits


def _has_integer_ids(x_spec):
    spec = x_spec.get("token_ids") if isinstance(x_spec, dict) else None
    return spec is not None and getattr(spec.dtype, "is_integer", False)


class TokenIdChecks:
    """Checks the ids of every input dict `fit`, `evaluate` and `predict` get.

    Inside a compiled step an out-of-range id cannot raise (JAX's gather gives
    NaN past the end; a negative id reads from the end of the table on both
    backends), so the data is checked on its way in: arrays at once in
    Python, a `tf.data.Dataset` by a check mapped into it (the error comes
    when the bad batch is read). Raw strings need none: the tokenizer only
    makes ids of its vocabulary, whose size a task checks when it is attached.
    The ids index the embeddings of the model's `backbone` (a backbone's
    own, for a backbone).
    """

    def _id_limits(self):
        # Not a property: Keras' saving walks properties, and one returning
        # the model itself would recurse.
        return id_limits(getattr(self, "backbone", self))

    def _checked_inputs(self, x):
        limits = self._id_limits()
        if not is_dataset(x):
            check_id_ranges(x, limits)
            return x
        is_tuple = isinstance(x.element_spec, tuple)
        x_spec = x.element_spec[0] if is_tuple else x.element_spec
        if not _has_integer_ids(x_spec):
            return x
        where = type(self).__name__

        def check(*element):
            inputs = assert_id_ranges(element[0], limits, where)
            return (inputs, *element[1:]) if is_tuple else inputs

        return x.map(check)

    def fit(self, x=None, *args, **kwargs):
        return super().fit(self._checked_inputs(x), *args, **kwargs)

    def evaluate(self, x=None, *args, **kwargs):
        return super().evaluate(self._checked_inputs(x), *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        return super().predict(self._checked_inputs(x), *args, **kwargs)

    def __call__(self, inputs, *args, **kwargs):
        check_id_ranges(inputs, self._id_limits())
        return super().__call__(inputs, *args, **kwargs)
