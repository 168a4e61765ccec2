"""Export a fine-tuned model as a TensorFlow SavedModel that serves raw text.

Tokenization runs inside the SavedModel graph, so a server (TF Serving,
`tf.saved_model.load`) sends strings and gets labels back. Takes the model
folder `examples/finetune_glue.py` (or `keras-bert finetune`) wrote, exports
it, loads the SavedModel back and prints one JSON line per `--text`: the
served label and probabilities.

Run (after `python examples/finetune_glue.py --output_dir=runs/sst2`):

    python examples/export.py --model=runs/sst2/model --out=runs/sst2/serving \
        --label_names=negative,positive --text="a gorgeous, witty movie."
"""

import argparse
import json

from keras_bert_impl.recipes.export_from_run import export_from_run


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/finetune_glue/model")
    parser.add_argument("--out", default="runs/finetune_glue/serving")
    parser.add_argument("--label_names", help="comma-separated, in class-id order")
    parser.add_argument(
        "--text",
        action="append",
        help="a text to classify (repeatable)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    import tensorflow as tf

    args = parse_args(argv)
    options = {}
    if args.label_names:
        options["label_names"] = args.label_names.split(",")
    saved_model = export_from_run(args.model, args.out, **options)["saved_model"]

    serve = tf.saved_model.load(saved_model).signatures["serving_default"]
    texts = args.text or ["a gorgeous, witty, seductive movie.", "dull and tired."]
    outputs = serve(text=tf.constant(texts))
    results = []
    for index, text in enumerate(texts):
        # The label's name when the export knows the names, else its id.
        label = outputs["label"][index].numpy()
        results.append(
            {
                "text": text,
                "label": label.decode() if isinstance(label, bytes) else int(label),
                "probabilities": outputs["probabilities"][index].numpy().tolist(),
            }
        )
        print(json.dumps(results[-1]))
    return results


if __name__ == "__main__":
    main()
