import keras
import numpy as np
import pytest

from keras_bert_impl.layers.activations import get_activation


@pytest.mark.parametrize(
    "name, approximate", [("gelu", "none"), ("gelu_approximate", "tanh")]
)
def test_gelu_variants_match_torch(name, approximate):
    torch = pytest.importorskip("torch")
    x = np.linspace(-6, 6, 101).astype("float32")
    expected = torch.nn.functional.gelu(
        torch.tensor(x), approximate=approximate
    ).numpy()
    found = keras.ops.convert_to_numpy(
        get_activation(name)(keras.ops.convert_to_tensor(x))
    )
    np.testing.assert_allclose(found, expected, atol=1e-6)


def test_unknown_activation_is_named():
    with pytest.raises(ValueError, match="'swishy'"):
        get_activation("swishy")
