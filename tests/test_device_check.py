"""The accelerator check runs here too, on the CPU: its parity holds, its shell parses.

`benchmarks/device_check.sh` is meant for a lent GPU machine and is never run
by the tests; its parity script is, on a tiny BERT, so that it cannot rot
between loans. It compares our backbone (float32 and mixed_bfloat16, einsum
and fused attention) with transformers' BERT on the same weights.
"""

import importlib.util
import json
import pathlib
import subprocess

import keras
import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="the device check runs JAX and torch (no TensorFlow on the device)",
)
def test_device_parity_holds_on_the_cpu(tmp_path, monkeypatch):
    pytest.importorskip("transformers")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(
        "device_parity", BENCHMARKS / "device_parity.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "parity.json"
    argv = ["--config", "tiny", "--batch", "2", "--length", "16", "--out", str(out)]
    assert module.main(argv) == 0
    result = json.loads(out.read_text())
    rows = {key: row for key, row in result["parity"].items() if isinstance(row, dict)}
    assert len(rows) == 6 and all(row["within"] for row in rows.values())
    assert rows["float32:dot_product_attention"]["sequence_output_max_abs_diff"] < 1e-4


def test_device_check_script_parses():
    subprocess.run(["bash", "-n", str(BENCHMARKS / "device_check.sh")], check=True)
