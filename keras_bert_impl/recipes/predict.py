"""`keras-bert predict`: a fine-tuned run's answers for raw inputs, one per line."""

import json

from keras_bert_impl.recipes.run_finetuning import load_run


def read_prediction_inputs(path, required=()):
    """The records of a `predict` input file, one per non-blank line.

    Args:
        path: a file of JSON lines (one object each) or of plain text lines,
            read as `{"text_a": line}`.
        required: field names every record must have.

    Returns:
        list of dict.
    """
    records = []
    with open(path, encoding="utf-8") as file:
        for line_number, line in enumerate(file, 1):
            if not line.strip():
                continue
            if line.lstrip().startswith("{"):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(
                        f"{path}:{line_number}: not valid JSON ({error.msg})."
                    ) from None
            else:
                record = {"text_a": line.rstrip("\n")}
            missing = [name for name in required if name not in record]
            if missing:
                raise ValueError(
                    f"{path}:{line_number}: missing field(s) {missing}: expected "
                    f"{list(required)}, got {sorted(record)}."
                )
            records.append(record)
    return records


def run_prediction(run_dir, input_file, batch_size=32):
    """One result dict per input line, as DESIGN.md specifies for `predict`.

    Each task's spec (`finetuning_tasks/`) says what its records hold and what
    it answers: GLUE `{"text_a", "text_b"}` -> `{"label", "probabilities"}` or
    `{"score"}`; conll2003 -> `{"tags"}`; squad `{"question", "context"}` ->
    `{"answer", "start", "end"}`; swag -> `{"label", "probabilities"}`. A plain
    text line is `{"text_a": line}`.

    Args:
        run_dir: the run directory `run_finetuning` wrote.
        input_file: the input file.
        batch_size: int.
    """
    model, task, _ = load_run(run_dir)
    records = read_prediction_inputs(input_file, task.required_fields)
    if not records:
        return []
    return task.predict(model, records, batch_size)
