"""Serving a `BertBackbone`: embeddings of texts or text pairs."""

from keras_bert_impl.export.serving_head import ServingHead
from keras_bert_impl.export.serving_head import as_float32
from keras_bert_impl.models.bert_backbone import BertBackbone


class BackboneServingHead(ServingHead):
    """Texts (or text pairs) in; `pooled_output`, `sequence_output`, `padding_mask` out.

    Args:
        model: `BertBackbone`.
        text_pair: bool. Inputs `text_a`, `text_b` instead of `text`.
    """

    model_class = BertBackbone

    def __init__(self, model, text_pair=False, **unused):
        super().__init__(model)
        self.text_inputs = ("text_a", "text_b") if text_pair else ("text",)

    def token_ids_outputs(self, token_ids, segment_ids, padding_mask):
        outputs = self.call_model(token_ids, segment_ids, padding_mask)
        return {
            "sequence_output": as_float32(outputs["sequence_output"]),
            "pooled_output": as_float32(outputs["pooled_output"]),
        }

    def string_outputs(self, *texts):
        inputs = self.preprocess(*texts)
        outputs = self.run_token_ids_fn(inputs)
        outputs["padding_mask"] = inputs["padding_mask"]
        return outputs
