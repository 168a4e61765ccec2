"""The optimizer that task models compile with when `optimizer="auto"`.

Models may not import `optimizers` (DESIGN.md, "Layout": both sit below
`recipes`), yet `BertTask.compile()` defaults to BERT's AdamW. So
`keras_bert_impl.optimizers` registers its factory here when it is imported,
as `convert` registers its weight readers; `import keras_bert_impl` imports it.
"""

# function(learning_rate, num_train_steps, num_warmup_steps) -> an optimizer.
_FACTORIES = []


def register_default_optimizer(factory):
    """Makes `factory` the optimizer of every `compile(optimizer="auto")`."""
    _FACTORIES[:] = [factory]


def default_optimizer(learning_rate, num_train_steps=None, num_warmup_steps=0):
    """BERT's default optimizer: constant `learning_rate` when
    `num_train_steps` is None, else warmup over `num_warmup_steps` and linear
    decay to 0 at `num_train_steps`."""
    if not _FACTORIES:
        raise RuntimeError(
            'compile(optimizer="auto") needs BERT\'s AdamW, which registers '
            "when keras_bert_impl.optimizers is imported; got none registered. "
            "Fix: `import keras_bert_impl` (it imports it), or pass an "
            "optimizer to compile()."
        )
    return _FACTORIES[0](
        learning_rate=learning_rate,
        num_train_steps=num_train_steps,
        num_warmup_steps=num_warmup_steps,
    )
