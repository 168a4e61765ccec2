"""`keras-bert finetune --strategy=multiworker` as two processes on localhost.

The job is started the way a user starts it (docs/distributed.md), by
`run_job` of the pretraining job tests: bounded time, every process killed
at the end.
"""

import json

import numpy as np
import pytest

from keras_bert_impl.cli import main
from tests.recipes.test_run_finetuning import tiny_preset  # noqa: F401
from tests.recipes.test_run_pretraining_processes import _losses
from tests.recipes.test_run_pretraining_processes import final_lines_of_job


@pytest.fixture
def small_stsb(shared_data, tmp_path):
    """97 real STS-B training pairs, and the next 41 as the dev split.

    A regression's loss falls from the first step on (the scores' mean is far
    from the fresh head's output), so the training curves of two runs say
    whether they took the same batches.
    """
    folder = tmp_path / "STS-B"
    folder.mkdir()
    header, *rows = (
        (shared_data / "glue" / "STS-B" / "train.tsv").read_text().splitlines()
    )
    (folder / "train.tsv").write_text("\n".join([header, *rows[:97]]) + "\n")
    (folder / "dev.tsv").write_text("\n".join([header, *rows[97:138]]) + "\n")
    return folder


def test_two_processes_finetune_as_one_process_on_the_same_global_batch(
    small_stsb,
    tiny_preset,  # noqa: F811 (the fixture imported above)
    tmp_path,
    capsys,
):
    one = tmp_path / "one"
    preset, vocabulary_flag = tiny_preset
    flags = [
        "finetune",
        "--task_name=sts-b",
        f"--data_dir={small_stsb}",
        f"--output_dir={one}",
        f"--preset={preset}",
        vocabulary_flag,
        "--max_seq_length=64",
        "--train_batch_size=16",
        "--num_train_epochs=3",
        "--learning_rate=1e-2",
        "--save_checkpoints_steps=9",
    ]
    assert main(flags) == 0
    alone = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    job = tmp_path / "job"
    flags[flags.index(f"--output_dir={one}")] = f"--output_dir={job}"
    finals = final_lines_of_job(flags, tmp_path)
    # Every process evaluated the whole dev set with the same weights.
    assert finals[0] == finals[1]
    assert finals[0]["global_step"] == alone["global_step"] == 3 * (97 // 16)
    # The chief alone wrote the run, and what it saved is what it evaluated.
    assert sorted(p.name for p in (job / "checkpoints").glob("ckpt-*")) == [
        "ckpt-18.weights.h5",
        "ckpt-9.weights.h5",
    ]
    assert not list(job.glob("*.lock"))
    assert main(["evaluate", f"--model={job}", f"--data_dir={small_stsb}"]) == 0
    reloaded = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert reloaded["pearson"] == pytest.approx(finals[0]["pearson"])
    # Same global batches (each process takes half of every one), same
    # starting weights: the training loss tracks the one-process run's
    # (dropout masks differ).
    alone_losses, job_losses = _losses(one), _losses(job)
    assert sorted(alone_losses) == sorted(job_losses)
    np.testing.assert_allclose(
        [job_losses[s] for s in sorted(job_losses)],
        [alone_losses[s] for s in sorted(alone_losses)],
        atol=0.05,
    )
