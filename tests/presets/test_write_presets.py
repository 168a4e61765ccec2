import pytest

from keras_bert_impl.presets.catalog import PRESETS
from keras_bert_impl.utils.preset_files import shipped_presets_dir
from tests.presets.shipped_presets import DOCUMENTED_PARAMETERS
from tests.presets.shipped_presets import write_presets

# LARGE builds take 1.3 GB and 10-30 s each on 2 cores.
LARGE = 300_000_000


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.slow)
        if DOCUMENTED_PARAMETERS[name] > LARGE
        else name
        for name in PRESETS
    ],
)
def test_shipped_folder_is_the_generators_output(name, tmp_path):
    write_presets.main([name, "--out", str(tmp_path)])
    written = {path.name: path.read_bytes() for path in (tmp_path / name).iterdir()}
    shipped = {p.name: p.read_bytes() for p in (shipped_presets_dir() / name).iterdir()}
    assert sorted(written) == sorted(shipped)
    for file_name, content in written.items():
        assert content == shipped[file_name], (
            f"presets/{name}/{file_name} is stale: python tools/write_presets.py {name}"
        )
