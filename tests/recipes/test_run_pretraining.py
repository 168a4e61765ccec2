import json
import os
import signal
import socket
import subprocess
import sys
import time

import h5py
import keras
import numpy as np
import pytest

from keras_bert_impl.cli import main
from keras_bert_impl.convert.huggingface_writer import huggingface_config_from_backbone
from keras_bert_impl.models import BertClassifier
from keras_bert_impl.models import BertPretrainer
from keras_bert_impl.recipes.run_pretraining import build_pretrainer
from tests.bert_test_case import TINY_BACKBONE_CONFIG
from tests.bert_test_case import TINY_VOCABULARY
from tests.bert_test_case import tiny_backbone


@pytest.fixture
def sample_corpus(shared_data, tmp_path):
    """The BERT sample corpus, its last document held out for evaluation."""
    text = (shared_data / "bert_sample_text" / "sample_text.txt").read_text()
    documents = [d for d in text.split("\n\n") if d.strip()]
    (tmp_path / "train.txt").write_text("\n\n".join(documents[:-1]) + "\n")
    (tmp_path / "heldout.txt").write_text(documents[-1] + "\n")
    config = tmp_path / "bert_config.json"
    # The tiny test architecture as an original bert_config.json, for Google's
    # uncased vocabulary.
    backbone = tiny_backbone(
        vocabulary_size=30522,
        num_layers=2,
        hidden_dim=64,
        intermediate_dim=128,
        max_sequence_length=64,
    )
    config.write_text(json.dumps(huggingface_config_from_backbone(backbone)))
    return tmp_path


def _records(corpus_dir, shared_data, name, dupe_factor, capsys, extra_flags=()):
    vocab = shared_data / "vocab" / "uncased" / "vocab.txt"
    assert (
        main(
            [
                "create-pretraining-data",
                f"--input_file={corpus_dir / (name + '.txt')}",
                f"--output_file={corpus_dir / (name + '.tfrecord')}",
                f"--vocab_file={vocab}",
                "--max_seq_length=64",
                "--max_predictions_per_seq=10",
                f"--dupe_factor={dupe_factor}",
                "--num_workers=1",
                *extra_flags,
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["instances"] > 0
    return corpus_dir / (name + ".tfrecord")


def _pretrain_flags(corpus_dir, train, heldout, steps, output):
    return [
        "pretrain",
        f"--input_file={train}",
        f"--eval_input_file={heldout}",
        f"--bert_config_file={corpus_dir / 'bert_config.json'}",
        f"--output_dir={output}",
        "--train_batch_size=16",
        "--max_seq_length=64",
        "--max_predictions_per_seq=10",
        f"--num_train_steps={steps}",
        "--num_warmup_steps=20",
        "--learning_rate=2e-3",
        "--save_checkpoints_steps=50",
    ]


def test_a_few_hundred_steps_raise_heldout_masked_lm_accuracy(
    sample_corpus, shared_data, tmp_path, capsys
):
    train = _records(sample_corpus, shared_data, "train", 5, capsys)
    heldout = _records(sample_corpus, shared_data, "heldout", 5, capsys)
    flags = _pretrain_flags(sample_corpus, train, heldout, 300, tmp_path / "run")
    assert main(flags + ["--num_train_steps=0"]) == 0
    before = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(flags) == 0
    after = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert after["global_step"] == 300
    # Untrained, one right guess in ~30522; after 300 steps on a 4 KB corpus the
    # model gets the frequent words of the unseen document right.
    assert before["masked_lm_accuracy"] < 0.005
    assert after["masked_lm_accuracy"] > 0.03
    assert after["masked_lm_loss"] < before["masked_lm_loss"] - 0.5
    run = tmp_path / "run"
    assert (run / "training_curves.png").is_file()
    assert list((run / "logs").rglob("events.out.tfevents.*"))
    assert (run / "model" / "task.weights.h5").is_file()


def test_killed_run_resumes_and_ends_at_the_planned_step(
    sample_corpus, shared_data, tmp_path, capsys
):
    train = _records(sample_corpus, shared_data, "train", 1, capsys)
    output = tmp_path / "run"
    flags = _pretrain_flags(sample_corpus, train, train, 100, output)
    flags[flags.index("--save_checkpoints_steps=50")] = "--save_checkpoints_steps=20"
    command = [sys.executable, "-m", "keras_bert_impl.cli", *flags]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoints = output / "checkpoints"
    deadline = time.monotonic() + 300
    while not list(checkpoints.glob("ckpt-40*")) and time.monotonic() < deadline:
        assert process.poll() is None, "training ended before it could be killed"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert list(checkpoints.glob("ckpt-*")), "no checkpoint before the kill"

    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-2000:]
    result = json.loads(finished.stdout.strip().splitlines()[-1])
    assert result["global_step"] == 100
    assert (output / "model" / "task.weights.h5").is_file()


def test_a_run_in_a_bucket_is_killed_and_resumes_on_another_host(
    sample_corpus, shared_data, tmp_path, capsys
):
    # `--output_dir=gs://...`, with a `file://` URL: the same `tf.io.gfile`
    # calls without a bucket. Each "host" has its own cache, where the run's
    # local mirror lives; the second starts with none.
    train = _records(sample_corpus, shared_data, "train", 1, capsys)
    bucket = tmp_path / "bucket" / "run"
    flags = _pretrain_flags(sample_corpus, train, train, 60, f"file://{bucket}")
    flags[flags.index("--save_checkpoints_steps=50")] = "--save_checkpoints_steps=20"
    command = [sys.executable, "-m", "keras_bert_impl.cli", *flags]
    host_a = dict(
        os.environ, TF_CPP_MIN_LOG_LEVEL="3", XDG_CACHE_HOME=str(tmp_path / "a")
    )
    process = subprocess.Popen(
        command, env=host_a, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while not (bucket / "checkpoints" / "ckpt-20.weights.h5").exists():
        assert process.poll() is None, "training ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint uploaded in 300 s"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    (bucket / ".keras_bert_impl.lock").unlink()  # host a's, which is gone

    host_b = dict(host_a, XDG_CACHE_HOME=str(tmp_path / "b"))
    finished = subprocess.run(command, env=host_b, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert json.loads(finished.stdout.strip().splitlines()[-1])["global_step"] == 60
    # Resumed: `fit` starts at the epoch (of 20 steps) after the checkpoint.
    assert "Epoch 1/3" not in finished.stdout and "Epoch 3/3" in finished.stdout
    names = {p.relative_to(bucket).as_posix() for p in bucket.rglob("*")}
    for name in ("model/task.weights.h5", "eval_results.json", "training_curves.png"):
        assert name in names
    assert "checkpoints/ckpt-60.weights.h5" in names
    assert any(name.startswith("logs/") for name in names)
    # Host b's mirror is gone with the run that ended well; host a's, killed, stays.
    assert not list((tmp_path / "b").rglob("*.h5"))
    assert list((tmp_path / "a").rglob("ckpt-*.weights.h5"))


def test_packed_records_train_through_pretrain(
    sample_corpus, shared_data, tmp_path, capsys
):
    packing = ["--pack_sequences=true", "--short_seq_prob=0.5"]
    train = _records(sample_corpus, shared_data, "train", 2, capsys, packing)
    heldout = _records(sample_corpus, shared_data, "heldout", 2, capsys, packing)
    flags = _pretrain_flags(sample_corpus, train, heldout, 30, tmp_path / "run")
    assert main(flags + ["--save_checkpoints_steps=10"]) == 0
    results = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert results["global_step"] == 30
    assert 0 <= results["next_sentence_accuracy"] <= 1
    assert results["loss"] > 0
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert config["config"]["packed_sequences"] is True


def _layer_variable_dtypes(path):
    dtypes = set()

    def visit(name, item):
        if isinstance(item, h5py.Dataset) and name.startswith("layers/"):
            dtypes.add(item.dtype)

    with h5py.File(path) as checkpoint:
        checkpoint.visititems(visit)
    return dtypes


def test_mixed_precision_pretraining_tracks_float32(
    sample_corpus, shared_data, tmp_path, capsys
):
    train = _records(sample_corpus, shared_data, "train", 1, capsys)
    finals = {}
    mixed = ["mixed_bfloat16", "mixed_float16"]
    if keras.backend.backend() == "jax":
        # XLA on CPU emulates float16 (a third of this test's time there);
        # float16 loss scaling is proved on both backends in
        # tests/optimizers/test_create_optimizer.py.
        mixed.remove("mixed_float16")
    for dtype in ["float32", *mixed]:
        flags = _pretrain_flags(sample_corpus, train, train, 40, tmp_path / dtype)
        assert main(flags + [f"--dtype={dtype}"]) == 0
        finals[dtype] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # 40 steps at 2e-3 take the masked-LM loss from ~10.3 to ~6; the mixed
    # runs (bfloat16: 8-bit mantissa; float16 with dynamic loss scaling) end
    # within 0.3 of float32, with float32 master weights in the checkpoints.
    for dtype in mixed:
        assert np.isfinite(finals[dtype]["loss"])
        assert abs(finals[dtype]["loss"] - finals["float32"]["loss"]) < 0.3, dtype
    assert finals["float32"]["masked_lm_loss"] < 8.0
    for path in (tmp_path / mixed[-1] / "checkpoints").glob("ckpt-*.h5"):
        dtypes = _layer_variable_dtypes(path)
        assert dtypes and dtypes == {np.dtype("float32")}


def test_packed_and_unpacked_files_do_not_mix(
    sample_corpus, shared_data, tmp_path, capsys
):
    train = _records(
        sample_corpus, shared_data, "train", 1, capsys, ["--pack_sequences=true"]
    )
    heldout = _records(sample_corpus, shared_data, "heldout", 1, capsys)
    flags = _pretrain_flags(sample_corpus, train, heldout, 1, tmp_path / "run")
    assert main(flags) == 2
    assert "must be both packed" in capsys.readouterr().err


def _assert_same_weights(found, expected):
    assert len(found) == len(expected)
    for a, b in zip(found, expected):
        np.testing.assert_array_equal(a, b)


def test_init_checkpoint_takes_whatever_the_folder_holds(tmp_path):
    config = {"vocabulary_size": len(TINY_VOCABULARY), **TINY_BACKBONE_CONFIG}
    # A saved pretrainer: every weight, the heads included.
    pretrainer = BertPretrainer(tiny_backbone())
    pretrainer.save_to_preset(tmp_path / "pretrainer")
    started = build_pretrainer(
        backbone_config=config, init_checkpoint=tmp_path / "pretrainer"
    )
    _assert_same_weights(started.get_weights(), pretrainer.get_weights())

    # A finetune run directory: its classifier's backbone (no head to take).
    classifier = BertClassifier(tiny_backbone(), num_classes=2)
    classifier.save_to_preset(tmp_path / "run" / "model")
    started = build_pretrainer(backbone_config=config, init_checkpoint=tmp_path / "run")
    _assert_same_weights(
        started.backbone.get_weights(), classifier.backbone.get_weights()
    )

    with pytest.raises(ValueError, match="does not fit the model"):
        build_pretrainer(
            backbone_config={**config, "hidden_dim": 8},
            init_checkpoint=tmp_path / "pretrainer",
        )


def test_an_output_dir_in_use_someone_elses_or_another_architecture_is_refused(
    sample_corpus, shared_data, tmp_path, capsys
):
    # Issue 13 items 3 and 4: reruns and concurrent runs mixed or lost results.
    train = _records(sample_corpus, shared_data, "train", 1, capsys)
    output = tmp_path / "run"
    flags = _pretrain_flags(sample_corpus, train, train, 2, output)
    flags[flags.index("--save_checkpoints_steps=50")] = "--save_checkpoints_steps=1"
    assert main(flags) == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    checkpoints = sorted(p.name for p in (output / "checkpoints").iterdir())
    # A rerun of the finished run trains no further and reports, and saves, the
    # trained model (it used to evaluate and save a freshly built one).
    assert main(flags) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == first

    other = json.loads((sample_corpus / "bert_config.json").read_text())
    other["hidden_size"], other["intermediate_size"] = 32, 64
    (tmp_path / "other_config.json").write_text(json.dumps(other))
    changed = [
        f"--bert_config_file={tmp_path / 'other_config.json'}"
        if flag.startswith("--bert_config_file")
        else flag
        for flag in flags
    ]
    assert main(changed) == 2
    error = capsys.readouterr().err
    assert "another configuration" in error and "architecture" in error
    assert sorted(p.name for p in (output / "checkpoints").iterdir()) == checkpoints

    lock = output / ".keras_bert_impl.lock"
    lock.write_text(
        json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
        )
    )
    assert main(flags) == 2
    assert f"in use by another run (host {socket.gethostname()}, pid {os.getpid()}" in (
        capsys.readouterr().err
    )
    lock.unlink()

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(_pretrain_flags(sample_corpus, train, train, 2, mine)) == 2
    assert "did not write" in capsys.readouterr().err
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def _one_line_error(capsys):
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    return error


def test_bad_inputs_are_one_line_errors_naming_the_flag(
    sample_corpus, shared_data, tmp_path, capsys
):
    train = _records(sample_corpus, shared_data, "train", 1, capsys)
    output = tmp_path / "run"
    flags = _pretrain_flags(sample_corpus, train, train, 2, output)

    # Records written for --max_seq_length=64 read with 32: refused before training.
    assert main([*flags, "--max_seq_length=32"]) == 2
    error = _one_line_error(capsys)
    assert "train.tfrecord: its records' input_ids hold 64 values" in error
    assert "--max_seq_length=32; pass --max_seq_length=64" in error
    assert not output.exists()

    assert main([*flags, "--max_predictions_per_seq=20"]) == 2
    assert "--max_predictions_per_seq=20" in _one_line_error(capsys)

    # A folder as --input_file, a file as --output_dir.
    assert main([*flags, f"--input_file={sample_corpus}"]) == 2
    assert "is a folder, expected pretraining files" in _one_line_error(capsys)
    output.write_text("a file")
    assert main(flags) == 2
    assert f"--output_dir={output}: expected a folder" in _one_line_error(capsys)

    # A folder as --vocab_file or --output_file of create-pretraining-data.
    data_flags = [
        "create-pretraining-data",
        f"--input_file={sample_corpus / 'train.txt'}",
        f"--output_file={tmp_path / 'out.tfrecord'}",
        f"--vocab_file={shared_data / 'vocab' / 'uncased' / 'vocab.txt'}",
    ]
    assert main([*data_flags, f"--vocab_file={tmp_path}"]) == 2
    error = _one_line_error(capsys)
    assert "--vocab_file" in error and "expected a vocab.txt file" in error
    assert main([*data_flags, f"--output_file={tmp_path}"]) == 2
    assert str(tmp_path) in _one_line_error(capsys)


def test_dynamic_masking_checks_its_vocabulary_before_the_run_starts(tmp_path):
    from keras_bert_impl.recipes.run_pretraining import run_pretraining

    output = tmp_path / "run"
    records = str(tmp_path / "train.tfrecord")
    with pytest.raises(ValueError, match=r"dynamic_masking=True: expected vocab_file"):
        run_pretraining(output, input_file=records, dynamic_masking=True)
    no_mask = tmp_path / "vocab.txt"
    no_mask.write_text("[PAD]\n[CLS]\n[SEP]\nthe\n")
    with pytest.raises(ValueError, match=r"vocab.txt: the vocabulary lacks \[MASK\]"):
        run_pretraining(
            output, input_file=records, dynamic_masking=True, vocab_file=no_mask
        )
    assert not output.exists()


def test_corpus_text_with_several_processes_is_refused_before_anything_is_written(
    sample_corpus, shared_data, tmp_path, monkeypatch
):
    from keras_bert_impl.recipes.run_pretraining import run_pretraining
    from keras_bert_impl.training import job_processes

    # What `--strategy=multiworker` on two processes reports.
    monkeypatch.setattr(job_processes, "num_processes", lambda distribution: 2)
    output = tmp_path / "run"
    with pytest.raises(ValueError, match="--corpus with 2 processes: .* --input_file"):
        run_pretraining(
            output,
            corpus=str(sample_corpus / "train.txt"),
            vocab_file=shared_data / "vocab" / "uncased" / "vocab.txt",
        )
    assert not output.exists()


def test_unreadable_records_and_configs_are_one_line_naming_the_file(
    sample_corpus, shared_data, tmp_path, capsys
):
    train = _records(sample_corpus, shared_data, "train", 1, capsys)
    output = tmp_path / "run"
    flags = _pretrain_flags(sample_corpus, train, train, 2, output)

    # A record cut inside the first one, and a text file named .tfrecord.
    cut = tmp_path / "cut.tfrecord"
    cut.write_bytes(train.read_bytes()[:20])
    text = tmp_path / "notes.tfrecord"
    text.write_text("This is a text file, not TFRecords.\n" * 20)
    for records in (cut, text):
        assert main([*flags, f"--input_file={records}"]) == 2
        error = _one_line_error(capsys)
        assert f"{records}: not a readable TFRecord file (" in error
        assert "function_node" not in error and "[Op:" not in error

    # A missing --bert_config_file, and one that is not JSON.
    missing = tmp_path / "nothere.json"
    assert main([*flags, f"--bert_config_file={missing}"]) == 2
    error = _one_line_error(capsys)
    assert f"--bert_config_file={missing}: expected a bert_config.json" in error
    broken = tmp_path / "broken.json"
    broken.write_text('{"vocab_size": 30522,\n}')
    assert main([*flags, f"--bert_config_file={broken}"]) == 2
    assert f"{broken}:2:1: expected valid JSON" in _one_line_error(capsys)
    assert not output.exists()


def test_pretrain_on_chinese_text_masks_whole_segmenter_words(
    shared_data, tmp_path, capsys
):
    """`--chinese_word_segmenter=jieba` from the command line to the records."""
    pytest.importorskip("jieba")
    import tensorflow as tf

    from tests.tokenizers.reference import MIXED_CHINESE_LINES

    corpus = tmp_path / "zh.txt"
    corpus.write_text("\n".join(MIXED_CHINESE_LINES) + "\n", encoding="utf-8")
    vocab = shared_data / "vocab" / "chinese" / "vocab.txt"
    config = tmp_path / "bert_config.json"
    backbone = tiny_backbone(vocabulary_size=21128, max_sequence_length=64)
    config.write_text(json.dumps(huggingface_config_from_backbone(backbone)))
    flags = [
        "pretrain",
        f"--corpus={corpus}",
        f"--vocab_file={vocab}",
        "--chinese_word_segmenter=jieba",
        f"--bert_config_file={config}",
        f"--output_dir={tmp_path / 'run'}",
        "--train_batch_size=8",
        "--max_seq_length=64",
        "--max_predictions_per_seq=10",
        "--num_train_steps=2",
        "--num_warmup_steps=1",
        "--max_eval_steps=1",
    ]
    assert main(flags) == 2  # the segmenter needs whole-word masking
    error = _one_line_error(capsys)
    assert "--do_whole_word_mask=true" in error and "jieba" in error
    assert main([*flags, "--do_whole_word_mask=true"]) == 0
    assert (
        json.loads(capsys.readouterr().out.strip().splitlines()[-1])["global_step"] == 2
    )
    records = tmp_path / "run" / "pretraining_data" / "train.tfrecord"
    first = next(iter(tf.data.TFRecordDataset(str(records))))
    marks = tf.train.Example.FromString(first.numpy()).features.feature[
        "word_continuation"
    ]
    assert sum(marks.int64_list.value) > 0
