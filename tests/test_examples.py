"""Each script of examples/ runs end to end, on a tiny preset and a few examples."""

import importlib.util
import pathlib

import pytest

from tests.recipes.test_run_finetuning import write_tiny_preset

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def _example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tiny_preset_flags(shared_data, tmp_path):
    folder, vocabulary_flag = write_tiny_preset(tmp_path / "tiny", shared_data)
    return [f"--preset={folder}", vocabulary_flag]


@pytest.mark.parametrize(
    "name", ["pretrain", "finetune_glue", "finetune_ner", "finetune_squad", "export"]
)
def test_every_example_documents_its_command_and_flags(name, capsys):
    module = _example(name)
    assert f"python examples/{name}.py" in module.__doc__
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    assert "--output_dir" in capsys.readouterr().out or name == "export"


def test_finetune_glue_then_export(shared_data, tiny_preset_flags, tmp_path):
    run = tmp_path / "mrpc"
    metrics = _example("finetune_glue").main(
        [
            "--task_name=MRPC",
            f"--data_dir={shared_data / 'glue' / 'MRPC'}",
            f"--output_dir={run}",
            *tiny_preset_flags,
            "--max_seq_length=32",
            "--train_batch_size=8",
            "--num_train_epochs=1",
            "--max_train_examples=16",
            "--max_eval_examples=16",
        ]
    )
    assert metrics["task"] == "mrpc"
    assert metrics["train_examples"] == metrics["dev_examples"] == 16
    # GLUE's MRPC metrics (google-research/bert reports accuracy and F1).
    assert {"accuracy", "f1"} <= set(metrics)

    served = _example("export").main(
        [
            f"--model={run / 'model'}",
            f"--out={tmp_path / 'serving'}",
            "--label_names=different,paraphrase",
            "--text=The cat sat.",
        ]
    )
    assert [result["label"] for result in served] in (["different"], ["paraphrase"])
    assert sum(served[0]["probabilities"]) == pytest.approx(1.0, abs=1e-5)


def test_finetune_ner(shared_data, tiny_preset_flags, tmp_path):
    metrics = _example("finetune_ner").main(
        [
            f"--data_dir={shared_data / 'conll2003'}",
            f"--output_dir={tmp_path / 'ner'}",
            *tiny_preset_flags,
            "--max_seq_length=32",
            "--train_batch_size=8",
            "--num_train_epochs=1",
            "--max_train_examples=16",
            "--max_eval_examples=8",
        ]
    )
    assert set(metrics) == {"precision", "recall", "f1", "accuracy"}
    assert (tmp_path / "ner" / "model" / "task.weights.h5").is_file()


@pytest.mark.parametrize("version", ["1.1", "2.0"])
def test_finetune_squad_on_the_shared_sample(
    version, shared_data, tiny_preset_flags, tmp_path
):
    metrics = _example("finetune_squad").main(
        [
            f"--version={version}",
            f"--output_dir={tmp_path / 'squad'}",
            *tiny_preset_flags,
            "--max_seq_length=64",
            "--max_query_length=24",
            "--doc_stride=32",
            "--train_batch_size=8",
            "--num_train_epochs=1",
            "--max_train_examples=8",
            "--max_eval_examples=8",
        ]
    )
    # The official scripts' keys: v1.1 exact_match/f1, v2.0 exact/f1/HasAns_*.
    expected = {"exact_match", "f1"} if version == "1.1" else {"exact", "HasAns_f1"}
    assert expected <= set(metrics)


def test_pretrain_on_the_sample_corpus(shared_data, tmp_path):
    metrics = _example("pretrain").main(
        [
            f"--output_dir={tmp_path / 'pretrain'}",
            "--max_seq_length=32",
            "--max_predictions_per_seq=5",
            "--train_batch_size=4",
            "--num_train_steps=2",
            "--num_warmup_steps=1",
            "--max_eval_steps=1",
        ]
    )
    assert metrics["global_step"] == 2
    assert 0.0 <= metrics["masked_lm_accuracy"] <= 1.0
