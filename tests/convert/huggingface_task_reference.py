"""Random tiny `transformers` fine-tuned models: references of the head tests."""

import numpy as np

from tests.huggingface_reference import random_bert_for_pretraining

# Our task model for each `transformers` head class.
TASK_CLASSES = {
    "BertForSequenceClassification": "BertClassifier",
    "BertForTokenClassification": "BertTokenClassifier",
    "BertForQuestionAnswering": "BertQuestionAnswerer",
}


def random_bert_for_task(folder, architecture, seed=0, **config_overrides):
    """Saves a randomly initialised `transformers.<architecture>` into `folder`.

    The backbone is `random_bert_for_pretraining`'s (a wide spread, so every
    parameter visibly moves the outputs); the head gets the same spread.
    """
    import torch
    import transformers

    pretraining = folder.parent / f"{folder.name}_pretraining"
    random_bert_for_pretraining(pretraining, seed=seed, **config_overrides)
    model_class = getattr(transformers, architecture)
    model = model_class.from_pretrained(pretraining, **config_overrides).eval()
    head = model.qa_outputs if hasattr(model, "qa_outputs") else model.classifier
    with torch.no_grad():
        for parameter in head.parameters():
            parameter.copy_(0.2 * torch.randn_like(parameter))
    model.save_pretrained(folder)
    return model


def task_outputs(model, batch):
    """A `transformers` head's outputs on our input dict, as numpy arrays.

    `{"start_logits", "end_logits"}` for question answering, else the logits.
    """
    import torch

    with torch.no_grad():
        outputs = model(
            input_ids=torch.tensor(batch["token_ids"], dtype=torch.long),
            token_type_ids=torch.tensor(batch["segment_ids"], dtype=torch.long),
            attention_mask=torch.tensor(batch["padding_mask"], dtype=torch.long),
        )
    if hasattr(outputs, "start_logits"):
        return {
            "start_logits": outputs.start_logits.numpy(),
            "end_logits": outputs.end_logits.numpy(),
        }
    return outputs.logits.numpy()


def assert_pretraining_outputs_equal(ours, reference, batch, atol=1e-5):
    """Our pretrainer's outputs against `BertForPreTraining`'s on the same batch.

    Ours are the MLM logits at `mask_positions` only; theirs cover every token.
    """
    rows = np.arange(batch["token_ids"].shape[0])[:, None]
    np.testing.assert_allclose(
        ours["mlm_logits"],
        reference.prediction_logits.numpy()[rows, batch["mask_positions"]],
        atol=atol,
        rtol=0,
    )
    np.testing.assert_allclose(
        ours["nsp_logits"], reference.seq_relationship_logits.numpy(), atol=atol, rtol=0
    )
