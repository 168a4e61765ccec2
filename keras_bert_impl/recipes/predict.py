"""`keras-bert predict`: a fine-tuned run's answers for raw inputs, one per line."""

import codecs
import difflib
import json
import os
import pathlib

from keras_bert_impl.recipes.run_finetuning import load_run_task
from keras_bert_impl.utils.inference_process import cache_weights_for_inference
from keras_bert_impl.utils.preset_files import RUN_MODEL_DIR
from keras_bert_impl.utils.preset_io import load_preset_model


def _decode_line(path, line_number, raw):
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path}:{line_number}: not valid UTF-8 (byte {error.start + 1} of the "
            "line); save the file as UTF-8."
        ) from None


def _parse_json_record(path, line_number, line):
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}:{line_number}: not valid JSON ({error.msg}, column "
            f"{error.colno}); the first line was a JSON object, so every line must "
            "be one."
        ) from None
    if not isinstance(record, dict):
        raise ValueError(
            f"{path}:{line_number}: expected a JSON object, got "
            f"{type(record).__name__}; write one object per line."
        )
    return record


def _check_values(path, line_number, record):
    for name, value in record.items():
        if not isinstance(value, str):
            raise ValueError(
                f"{path}:{line_number}: field {name!r} must be a string, got "
                f"{type(value).__name__} ({json.dumps(value)[:40]}); fix: write "
                "it in quotes."
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                f"{path}:{line_number}: field {name!r} holds a lone surrogate (an "
                "unpaired \\ud800-\\udfff escape), not text; fix the escape."
            ) from None


def _field_fixes(fields, expected):
    """How to turn a record's `fields` into `expected`: rename, remove, add."""
    missing = set(expected) - set(fields)
    fixes = []
    for name in sorted(set(fields) - set(expected)):
        # A wrong case or a typo of a missing field is a rename.
        close = difflib.get_close_matches(name.lower(), sorted(missing), n=1)
        if close:
            fixes.append(f"rename {name!r} to {close[0]!r}")
            missing.discard(close[0])
        else:
            fixes.append(f"remove {name!r}")
    return fixes + [f"add {name!r}" for name in sorted(missing)]


def _fields_error(path, line_number, expected, why, fields, fixes):
    return ValueError(
        f"{path}:{line_number}: expected fields {expected} ({why}), got "
        f"{sorted(fields)}; fix: {', '.join(fixes)}."
    )


def read_prediction_inputs(path, required=("text_a",), optional=()):
    """The records of a `predict` input file, one per line, all of one schema.

    The first line decides the file's format and schema: a JSON object makes
    every line a JSON object, anything else makes every line plain text, read
    as `{"text_a": line}`. That first record must hold the `required` fields
    and may hold some `optional` ones, nothing else (an unknown field is a
    typo); every later record must hold exactly its fields. A record that
    differs is an error naming its line, never a silent default (a pair
    scored against an empty second text, a missing field scored as "").
    A blank line is an error, not skipped: every input line gets its output
    line, so skipping one would shift the outputs against the inputs. Blank
    lines at the end of the file are ignored.

    Args:
        path: the input file.
        required: field names every record must have.
        optional: field names a record may have; the first record decides.

    Returns:
        list of dict.
    """
    if os.path.isdir(path) or not os.path.exists(path):
        what = "a directory" if os.path.isdir(path) else "nothing"
        raise ValueError(
            f"--input={path}: expected a file of JSON or text lines, found {what}; "
            "pass the input file."
        )
    with open(path, "rb") as file:
        # A byte order mark (Windows editors write one) is not part of line 1.
        lines = file.read().removeprefix(codecs.BOM_UTF8).split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    records, schema, is_json = [], None, None
    for line_number, raw in enumerate(lines, 1):
        line = _decode_line(path, line_number, raw).rstrip("\r")
        if not line.strip():
            raise ValueError(
                f"{path}:{line_number}: blank line; every line is one input and "
                "gets one output line: remove it or give the text."
            )
        if is_json is None:
            is_json = line.lstrip().startswith("{")
        record = (
            _parse_json_record(path, line_number, line) if is_json else {"text_a": line}
        )
        fields = set(record)
        if schema is None:
            expected = set(required) | (fields & set(optional))
            if fields != expected:
                why = "the run's task" + (
                    f"; optional {list(optional)}" if optional else ""
                )
                fixes = (
                    _field_fixes(fields, expected)
                    if is_json
                    else ["write one JSON object per line (this line is plain text)"]
                )
                raise _fields_error(
                    path, line_number, list(required), why, fields, fixes
                )
            schema, schema_line = fields, line_number
        elif fields != schema:
            raise _fields_error(
                path,
                line_number,
                sorted(schema),
                f"decided by line {schema_line}",
                fields,
                _field_fixes(fields, schema),
            )
        _check_values(path, line_number, record)
        records.append(record)
    return records


def run_prediction(
    run_dir, input_file, batch_size=32, dtype=None, inference_only_process=False
):
    """One result dict per input line, as DESIGN.md specifies for `predict`.

    Each task's spec (`finetuning_tasks/`) says what its records hold and what
    it answers: GLUE `{"text_a"}` (plus `"text_b"` for pair tasks) ->
    `{"label", "probabilities"}` or `{"score"}`; conll2003 `{"text_a"}` ->
    `{"tags"}`; squad `{"question", "context"}` -> `{"answer", "start",
    "end"}`; swag `{"sent1", "ending0"..."ending3"}` (optional `"sent2"`) ->
    `{"label", "probabilities"}`. A plain text line is `{"text_a": line}`.
    The whole input is checked (`read_prediction_inputs`) before the model
    loads.

    Args:
        run_dir: the run directory `run_finetuning` wrote.
        input_file: the input file.
        batch_size: int.
        dtype: the dtype policy the model computes in (e.g.
            `"mixed_bfloat16"`); None: as saved (float32).
        inference_only_process: bool. True where this process runs nothing
            else (the `predict` command): TF may then keep a bfloat16 model's
            weights in oneDNN's AMX layout (`cache_weights_for_inference`).
    """
    task, _ = load_run_task(run_dir)
    records = read_prediction_inputs(
        input_file, task.required_fields, task.optional_fields
    )
    if not records:
        return []
    model = load_preset_model(pathlib.Path(run_dir) / RUN_MODEL_DIR, dtype)
    if inference_only_process:
        cache_weights_for_inference(model)
    return task.predict(model, records, batch_size)
