"""`TorchBackendModel`: what our models need to run well on Keras' torch backend.

Two things, both no-ops on TensorFlow and JAX:

- Layers set before `keras.Model.__init__`. Our models follow keras-hub's
  pattern: layers are created and assigned as attributes, then the functional
  graph is built from them and handed to `super().__init__`. On torch a Keras
  layer is a `torch.nn.Module`, whose `__setattr__` refuses a module assigned
  before `Module.__init__` ran. Until then the plain Python assignment is
  enough: every weight is tracked by the functional graph, and Keras
  registers them all with torch (one `ParameterDict`) when it builds the
  model. Afterwards torch's own `__setattr__` runs, so that what Keras
  registers later (that dict included) is seen by `parameters()` and
  `zero_grad()`; without it gradients would accumulate across steps.
- Prediction under `torch.inference_mode()` instead of Keras' `no_grad()`:
  no autograd bookkeeping at all, 1.1-1.3x faster at BERT-Base in bfloat16
  (benchmarks/precision.py).
"""

import keras


class TorchBackendModel:
    def __setattr__(self, name, value):
        if keras.config.backend() == "torch" and "_modules" not in self.__dict__:
            object.__setattr__(self, name, value)
            return
        super().__setattr__(name, value)

    def predict_step(self, *args):
        # A model built inside would make inference-only weights, untrainable.
        if keras.config.backend() != "torch" or not self.built:
            return super().predict_step(*args)
        import torch

        with torch.inference_mode():
            return super().predict_step(*args)
