"""`keras-bert demo`, the quick start's first command: it runs, and runs again."""

import json

from keras_bert_impl.cli import main


def _last_json(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_the_demo_learns_and_a_second_run_reports_the_same(tmp_path, capsys):
    flags = ["demo", f"--output_dir={tmp_path / 'demo'}", "--num_train_steps=5"]
    assert main(flags) == 0
    first = _last_json(capsys)
    assert set(first) == {"before", "after"}
    assert first["after"]["masked_lm_accuracy"] > first["before"]["masked_lm_accuracy"]
    assert (tmp_path / "demo" / "run" / "training_curves.png").is_file()
    # The second run reuses the corpus, vocabulary and records and resumes the
    # finished run: the trained model, not a new one, is measured.
    assert main(flags) == 0
    assert _last_json(capsys) == first


def test_the_demo_refuses_a_folder_of_someone_elses_files(tmp_path, capsys):
    (tmp_path / "vocab.txt").write_text("not a demo vocabulary\n")
    assert main(["demo", f"--output_dir={tmp_path}", "--num_train_steps=1"]) == 2
    assert "did not write" in capsys.readouterr().err
    assert (tmp_path / "vocab.txt").read_text() == "not a demo vocabulary\n"
