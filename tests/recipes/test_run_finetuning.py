import json
import shutil
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest

from keras_bert_impl.cli import main
from keras_bert_impl.utils.inference_process import FROZEN_WEIGHTS_VARIABLE
from tests.bert_test_case import tiny_backbone


def _last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def small_sst2(shared_data, tmp_path):
    """The first rows of the real SST-2 train and dev files, in GLUE's layout."""
    folder = tmp_path / "SST-2"
    folder.mkdir()
    for split, rows in (("train", 97), ("dev", 41)):
        lines = (
            (shared_data / "glue" / "SST-2" / f"{split}.tsv").read_text().splitlines()
        )
        (folder / f"{split}.tsv").write_text("\n".join(lines[: rows + 1]) + "\n")
    return folder


def test_finetune_evaluate_predict_sst2_from_the_minilm_preset(
    small_sst2, tmp_path, capsys
):
    run = tmp_path / "run"
    flags = [
        "finetune",
        "--task_name=SST-2",
        f"--data_dir={small_sst2}",
        f"--output_dir={run}",
        "--preset=all_minilm_l6_v2",
        "--max_seq_length=32",
        "--train_batch_size=16",
        "--num_train_epochs=1",
        "--learning_rate=5e-5",
    ]
    assert main(flags) == 0
    metrics = _last_json(capsys)
    assert metrics["task"] == "sst-2"
    assert metrics["global_step"] == 97 // 16
    assert 0.0 <= metrics["accuracy"] <= 1.0
    for name in ("model/task.weights.h5", "run_config.json", "training_curves.png"):
        assert (run / name).is_file(), name

    assert main(["evaluate", f"--model={run}", f"--data_dir={small_sst2}"]) == 0
    # The reloaded run directory gives the metrics the finished run reported.
    assert _last_json(capsys)["accuracy"] == pytest.approx(metrics["accuracy"])

    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(
        '{"text_a": "a gorgeous, witty, seductive movie."}\n'
        '{"text_a": "plain text line"}\n\n'
    )
    assert main(["predict", f"--model={run}", f"--input={inputs}"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 2
    for line in lines:
        assert line["label"] in ("0", "1")
        assert sum(line["probabilities"]) == pytest.approx(1.0, abs=1e-5)

    # The run directory exports to a SavedModel that serves the same labels.
    import tensorflow as tf

    assert main(["export", f"--model={run}", f"--out={tmp_path / 'serving'}"]) == 0
    served = tf.saved_model.load(_last_json(capsys)["saved_model"])
    outputs = served.signatures["serving_default"](
        text=tf.constant(["a gorgeous, witty, seductive movie.", "plain text line"])
    )
    assert [label.decode() for label in outputs["label"].numpy()] == [
        line["label"] for line in lines
    ]

    # Running the finished command again resumes at the planned step: no training.
    assert main(flags) == 0
    assert _last_json(capsys)["global_step"] == 97 // 16


def _tiny_sst2_flags(data_dir, run, tiny_preset):
    folder, vocabulary_flag = tiny_preset
    return [
        "finetune",
        "--task_name=sst-2",
        f"--data_dir={data_dir}",
        f"--output_dir={run}",
        f"--preset={folder}",
        vocabulary_flag,
    ]


@pytest.mark.parametrize("dtype", ["mixed_bfloat16", "mixed_float16"])
def test_finetune_in_mixed_precision_keeps_float32_weights(
    dtype, small_sst2, tiny_preset, tmp_path, capsys
):
    run = tmp_path / "run"
    flags = _tiny_sst2_flags(small_sst2, run, tiny_preset)
    flags += ["--max_seq_length=32", "--num_train_epochs=1", f"--dtype={dtype}"]
    assert main(flags) == 0
    assert 0.0 <= _last_json(capsys)["accuracy"] <= 1.0
    # The model computed in `dtype`; what it saved is float32, as the preset.
    with h5py.File(run / "model" / "task.weights.h5") as weights:
        dtypes = set()
        weights.visititems(
            lambda name, item: (
                dtypes.add(item.dtype) if isinstance(item, h5py.Dataset) else None
            )
        )
    assert dtypes == {np.dtype("float32")}


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_a_bad_dev_file_fails_before_the_model_and_leaves_no_folder(
    kind, small_sst2, tiny_preset, tmp_path, capsys, monkeypatch
):
    from keras_bert_impl.recipes.finetuning_tasks import TaskSpec

    def build_model(*args, **kwargs):
        raise AssertionError("the model was built before the data was checked")

    monkeypatch.setattr(TaskSpec, "build_model", build_model)
    (small_sst2 / "dev.tsv").unlink()
    if kind == "folder":
        (small_sst2 / "dev.tsv").mkdir()
    run = tmp_path / "run"
    flags = _tiny_sst2_flags(small_sst2, run, tiny_preset)
    assert main(flags) == 2
    error = capsys.readouterr().err
    assert "dev" in error and len(error.strip().splitlines()) == 1
    assert "--data_dir" in error if kind == "missing" else "found a folder" in error
    assert not run.exists()
    # An empty folder the user made stays, as it was.
    run.mkdir()
    assert main(flags) == 2
    assert run.is_dir() and not any(run.iterdir())


def test_max_seq_length_beyond_the_model_fails_before_training(
    small_sst2, tiny_preset, tmp_path, capsys
):
    run = tmp_path / "run"
    flags = _tiny_sst2_flags(small_sst2, run, tiny_preset)
    assert main([*flags, "--max_seq_length=128", "--train_batch_size=8"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("pass --max_seq_length=64 or less.")
    assert "--max_seq_length=128 is longer than the model allows" in error
    assert len(error.splitlines()) == 1
    assert not run.exists()


@pytest.mark.parametrize("kind", ["file", "missing"])
def test_data_dir_must_be_a_folder(kind, tmp_path, capsys):
    data_dir = tmp_path / "SST-2"
    if kind == "file":
        data_dir.write_text("not a folder")
    code = main(
        [
            "finetune",
            "--task_name=sst-2",
            f"--data_dir={data_dir}",
            f"--output_dir={tmp_path / 'run'}",
            "--preset=all_minilm_l6_v2",
        ]
    )
    assert code == 2
    assert f"--data_dir={data_dir}: expected the folder" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_unknown_task_lists_the_known_ones(tmp_path, capsys):
    code = main(
        [
            "finetune",
            "--task_name=imdb",
            f"--data_dir={tmp_path}",
            f"--output_dir={tmp_path / 'run'}",
            "--preset=all_minilm_l6_v2",
        ]
    )
    assert code == 2
    assert "Unknown --task_name 'imdb'" in capsys.readouterr().err


# === The other task families, on a tiny model built here ===


def write_tiny_preset(folder, shared_data):
    """A 2-layer, 32-wide backbone preset for Google's uncased vocabulary.

    The preset has no vocabulary of its own: give it as `--vocab_file`.

    Returns:
        `(folder, the --vocab_file flag)`.
    """
    tiny_backbone(
        vocabulary_size=30522,
        num_layers=2,
        hidden_dim=32,
        intermediate_dim=64,
        max_sequence_length=64,
    ).save_to_preset(folder)
    (folder / "tokenizer.json").write_text('{"lowercase": true}')
    vocabulary = shared_data / "vocab" / "uncased" / "vocab.txt"
    return folder, f"--vocab_file={vocabulary}"


@pytest.fixture
def tiny_preset(shared_data, tmp_path):
    return write_tiny_preset(tmp_path / "tiny_preset", shared_data)


def _finetune_evaluate_predict(task, data_dir, preset, tmp_path, capsys, inputs):
    """Runs the three commands; returns finetune's metrics, the run, predictions."""
    folder, vocabulary_flag = preset
    run = tmp_path / "run"
    flags = [
        "finetune",
        f"--task_name={task}",
        f"--data_dir={data_dir}",
        f"--output_dir={run}",
        f"--preset={folder}",
        vocabulary_flag,
        "--max_seq_length=64",
        "--train_batch_size=8",
        "--eval_batch_size=16",
        "--num_train_epochs=1",
        "--learning_rate=1e-3",
    ]
    assert main(flags) == 0
    metrics = _last_json(capsys)
    assert metrics["task"] == task
    # Everything predict and export read, without the preset.
    for name in ("model/task.json", "model/task.weights.h5", "model/config.json"):
        assert (run / name).is_file(), name
    for name in ("run_config.json", "vocab.txt", "eval_results.json"):
        assert (run / name).is_file(), name
    assert json.loads((run / "run_config.json").read_text())["task_name"] == task

    assert main(["evaluate", f"--model={run}", f"--data_dir={data_dir}"]) == 0
    reloaded = _last_json(capsys)
    for name, value in metrics.items():
        if name != "global_step":
            assert reloaded[name] == pytest.approx(value, abs=1e-5), name

    input_file = tmp_path / "inputs.jsonl"
    input_file.write_text("".join(json.dumps(line) + "\n" for line in inputs))
    assert main(["predict", f"--model={run}", f"--input={input_file}"]) == 0
    predictions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(predictions) == len(inputs)
    return metrics, predictions


def _first_conll_sentences(path, count):
    """The first `count` sentences of a CoNLL file, as its own lines."""
    blocks = path.read_text().split("\n\n")
    sentences = [b for b in blocks if b.strip() and not b.startswith("-DOCSTART-")]
    return "\n\n".join(sentences[:count]) + "\n"


def test_finetune_evaluate_predict_conll2003(
    shared_data, tiny_preset, tmp_path, capsys
):
    data_dir = tmp_path / "conll2003"
    data_dir.mkdir()
    for name, count in (("train.txt", 48), ("valid.txt", 24)):
        source = shared_data / "conll2003" / name
        (data_dir / name).write_text(_first_conll_sentences(source, count))
    inputs = [
        {"text_a": "Peter Blackburn flew to London ."},
        {"text_a": "EU rejects German call to boycott British lamb ."},
    ]
    metrics, predictions = _finetune_evaluate_predict(
        "conll2003", data_dir, tiny_preset, tmp_path, capsys, inputs
    )
    assert metrics["global_step"] == 48 // 8
    for name in ("precision", "recall", "f1", "accuracy"):
        assert 0.0 <= metrics[name] <= 1.0, name
    from keras_bert_impl.data.conll import CONLL2003_NER_LABELS

    for line, prediction in zip(inputs, predictions):
        assert set(prediction) == {"tags"}
        assert len(prediction["tags"]) == len(line["text_a"].split())
        assert set(prediction["tags"]) <= set(CONLL2003_NER_LABELS)


def _squad_subset(shared_data, articles, version):
    """The sample's paragraphs `articles` maps to, as a SQuAD `version` file.

    SQuAD v1.1 has no unanswerable questions: they are dropped, with the flag.
    """
    sample = shared_data / "squad" / "haystack_squad_v2_dev_subset_small.json"
    document = json.loads(sample.read_text())
    data = []
    for article_index, paragraphs in articles.items():
        article = document["data"][article_index]
        kept = []
        for paragraph in article["paragraphs"][paragraphs]:
            questions = paragraph["qas"]
            if version == "1.1":
                questions = [
                    {k: v for k, v in qa.items() if k != "is_impossible"}
                    for qa in questions
                    if not qa["is_impossible"]
                ]
            kept.append({"context": paragraph["context"], "qas": questions})
        data.append({"title": article["title"], "paragraphs": kept})
    return json.dumps({"version": version, "data": data})


@pytest.mark.parametrize(
    "task, version, files",
    [("squad", "1.1", "{}-v1.1.json"), ("squad_v2", "v2.0", "{}-v2.0.json")],
)
def test_finetune_evaluate_predict_squad(
    task, version, files, shared_data, tiny_preset, tmp_path, capsys
):
    data_dir = tmp_path / task
    data_dir.mkdir()
    for split, articles in (
        ("train", {0: slice(0, 4)}),
        ("dev", {1: slice(0, 2)}),
    ):
        (data_dir / files.format(split)).write_text(
            _squad_subset(shared_data, articles, version)
        )
    context = (
        "The Normans were the people who in the 10th and 11th centuries gave "
        "their name to Normandy, a region in France."
    )
    inputs = [
        {"question": "In what country is Normandy located?", "context": context},
        {"question": "When were the Normans in Normandy?", "context": context},
    ]
    metrics, predictions = _finetune_evaluate_predict(
        task, data_dir, tiny_preset, tmp_path, capsys, inputs
    )
    if task == "squad":
        names = {"exact_match", "f1"}
    else:
        # The official v2.0 script's keys, with the has-answer / no-answer split.
        names = {"exact", "f1", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1"}
    assert names <= set(metrics)
    for name in names:
        assert 0.0 <= metrics[name] <= 100.0, name
    for line, prediction in zip(inputs, predictions):
        assert set(prediction) == {"answer", "start", "end"}
        if prediction["answer"]:
            start, end = prediction["start"], prediction["end"]
            assert line["context"][start:end] == prediction["answer"]
    if task == "squad":
        # The exported model reads the run's windows (a 32-piece question limit
        # at length 64) and serves spans of the context.
        import tensorflow as tf

        served = tmp_path / "served"
        assert main(["export", f"--model={tmp_path / 'run'}", f"--out={served}"]) == 0
        outputs = tf.saved_model.load(str(served)).signatures["serving_default"](
            question=tf.constant([line["question"] for line in inputs]),
            context=tf.constant([line["context"] for line in inputs]),
        )
        for line, answer, start, end in zip(
            inputs, outputs["answer"].numpy(), outputs["start"], outputs["end"]
        ):
            assert line["context"][int(start) : int(end)] == answer.decode()


SWAG_HEADER = (
    ",video-id,fold-ind,startphrase,sent1,sent2,gold-source,"
    "ending0,ending1,ending2,ending3,label\n"
)


def _swag_csv(rows, start):
    """SWAG's CSV layout (rowanz/swagaf `data/train.csv`), `rows` made-up examples."""
    people = ("A man", "The woman", "Someone", "A girl", "The boy", "A chef")
    actions = ("opens the door", "picks up a cup", "sits on a bench", "waves")
    lines = [SWAG_HEADER]
    for index in range(start, start + rows):
        person = people[index % len(people)]
        action = actions[index % len(actions)]
        sent1 = f"{person} walks into the kitchen."
        sent2 = person.split()[-1].capitalize() if index % 2 else "Then"
        endings = [f'"{action}, slowly."', "flies away.", "is asleep.", "melts."]
        label = index % 4
        endings[0], endings[label] = endings[label], endings[0]
        lines.append(
            f'{index},anetv_{index},{index},"{sent1} {sent2}","{sent1}",{sent2},gold,'
            + ",".join(endings)
            + f",{label}\n"
        )
    return "".join(lines)


def test_finetune_evaluate_predict_swag(tiny_preset, tmp_path, capsys):
    data_dir = tmp_path / "swag"
    data_dir.mkdir()
    (data_dir / "train.csv").write_text(_swag_csv(32, 0))
    (data_dir / "val.csv").write_text(_swag_csv(12, 32))
    inputs = [
        {
            "sent1": "A man walks into the kitchen.",
            "sent2": "He",
            "ending0": "opens the door.",
            "ending1": "flies away.",
            "ending2": "is asleep.",
            "ending3": "melts.",
        },
        {
            # `sent2` is optional, but one file gives it on every line or none.
            "sent1": "The woman sits down.",
            "sent2": "She",
            "ending0": "eats.",
            "ending1": "sings.",
            "ending2": "runs.",
            "ending3": "swims.",
        },
    ]
    metrics, predictions = _finetune_evaluate_predict(
        "swag", data_dir, tiny_preset, tmp_path, capsys, inputs
    )
    assert metrics["global_step"] == 32 // 8
    assert 0.0 <= metrics["accuracy"] <= 1.0
    for prediction in predictions:
        assert set(prediction) == {"label", "probabilities"}
        assert len(prediction["probabilities"]) == 4
        assert sum(prediction["probabilities"]) == pytest.approx(1.0, abs=1e-5)
        assert prediction["label"] == max(
            range(4), key=prediction["probabilities"].__getitem__
        )

    # An input without all four endings is named, with its line and field.
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({k: v for k, v in inputs[0].items() if k != "ending3"}))
    assert main(["predict", f"--model={tmp_path / 'run'}", f"--input={bad}"]) == 2
    error = capsys.readouterr().err
    assert f"{bad}:1: expected fields ['sent1', 'ending0'," in error
    assert error.strip().endswith("fix: add 'ending3'.")


def test_predict_in_bfloat16_caches_weights_in_its_own_process_and_predicts_the_same(
    small_sst2, tiny_preset, tmp_path, capsys
):
    run = tmp_path / "run"
    flags = _tiny_sst2_flags(small_sst2, run, tiny_preset)
    flags += ["--max_seq_length=32", "--num_train_epochs=1"]
    assert main(flags) == 0
    capsys.readouterr()
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("the movie was good\nthe movie was dull\na great movie\n")
    predict = ["predict", f"--model={run}", f"--input={inputs}"]
    assert main(predict) == 0
    full = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    predict.append("--dtype=mixed_bfloat16")
    # In this process (which trains too) weights are not cached.
    assert main(predict) == 0
    expected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # The model computed in bfloat16: not the float32 figures.
    assert not np.array_equal(
        [line["probabilities"] for line in expected],
        [line["probabilities"] for line in full],
    )
    # The `keras-bert` command runs in its own process, where they are (on
    # TensorFlow: oneDNN's weight caching is a TensorFlow setting).
    script = (
        "import os, sys\n"
        "from keras_bert_impl.cli import console_main\n"
        f"sys.argv = ['keras-bert'] + {predict!r}\n"
        "status = console_main()\n"
        f"print(os.environ.get({FROZEN_WEIGHTS_VARIABLE!r}))\n"
        "sys.exit(status)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert child.returncode == 0, child.stderr[-2000:]
    *lines, setting = child.stdout.strip().splitlines()
    assert setting == ("1" if keras.backend.backend() == "tensorflow" else "None")
    served = [json.loads(line) for line in lines]
    np.testing.assert_allclose(
        [line["probabilities"] for line in served],
        [line["probabilities"] for line in expected],
        atol=1e-2,  # bfloat16 matmuls in another kernel: another rounding
    )
    # And bfloat16 predicts what the saved float32 model does, within its rounding.
    np.testing.assert_allclose(
        [line["probabilities"] for line in expected],
        [line["probabilities"] for line in full],
        atol=2e-2,
    )


def test_a_run_in_a_bucket_is_trained_evaluated_served_and_exported_from_it(
    small_sst2, tiny_preset, shared_data, tmp_path, capsys, monkeypatch
):
    # Every input and output a URL, as on a Cloud TPU VM with gs:// (`file://`
    # takes the same tf.io.gfile calls); the same commands on local paths are
    # the reference.
    import tensorflow as tf

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    preset, _ = tiny_preset
    for source in (preset, small_sst2):
        shutil.copytree(source, bucket / source.name)
    shutil.copy(shared_data / "vocab" / "uncased" / "vocab.txt", bucket)
    inputs = tmp_path / "inputs.txt"
    inputs.write_text("the movie was good\nthe movie was dull\n")
    shutil.copy(inputs, bucket)
    url = f"file://{bucket}"
    finetune = [
        "finetune",
        "--task_name=sst-2",
        f"--data_dir={url}/{small_sst2.name}",
        f"--output_dir={url}/run",
        f"--preset={url}/{preset.name}",
        f"--vocab_file={url}/vocab.txt",
        "--max_seq_length=32",
        "--num_train_epochs=1",
    ]
    assert main(finetune) == 0
    trained = _last_json(capsys)
    assert (bucket / "run" / "model" / "task.weights.h5").is_file()
    assert list((bucket / "run" / "checkpoints").glob("ckpt-*"))

    assert main(["evaluate", f"--model={url}/run", f"--data_dir={small_sst2}"]) == 0
    assert _last_json(capsys)["accuracy"] == pytest.approx(trained["accuracy"])
    # The run's folder copied here by hand predicts as the bucket's copy does.
    shutil.copytree(bucket / "run", tmp_path / "run_here")
    assert (
        main(["predict", f"--model={tmp_path / 'run_here'}", f"--input={inputs}"]) == 0
    )
    expected = capsys.readouterr().out.splitlines()
    assert main(["predict", f"--model={url}/run", f"--input={url}/inputs.txt"]) == 0
    assert capsys.readouterr().out.splitlines() == expected

    export = ["export", f"--model={url}/run", f"--out={url}/serving/1"]
    assert main(export) == 0
    assert _last_json(capsys) == {"saved_model": f"{url}/serving/1"}
    served = tf.saved_model.load(f"{url}/serving/1").signatures["serving_default"](
        text=tf.constant(inputs.read_text().splitlines())
    )
    assert [label.decode() for label in served["label"].numpy()] == [
        json.loads(line)["label"] for line in expected
    ]
    assert main(export) == 2  # not replaced without --overwrite
    assert "--overwrite" in capsys.readouterr().err
    # Read without its checkpoints; the local folders written and uploaded are gone.
    copies = tmp_path / "cache" / "keras_bert_impl" / "remote_inputs"
    assert list(copies.rglob("task.weights.h5"))
    assert not list(copies.rglob("ckpt-*"))
    written = tmp_path / "cache" / "keras_bert_impl" / "remote_outputs"
    assert not list(written.rglob("*.pb"))
