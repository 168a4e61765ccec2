import json

import pytest

from keras_bert_impl.cli import main


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
        '{"text_a": "a gorgeous, witty, seductive movie."}\nplain text line\n\n'
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
