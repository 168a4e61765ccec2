import pathlib

import pytest

from keras_bert_impl.utils.devices import cpu_flags
from keras_bert_impl.utils.mixed_precision import bfloat16_instructions_listed
from keras_bert_impl.utils.mixed_precision import cpu_has_bfloat16_instructions

# "flags"/"Features" lines in the Linux kernel's format, with its flag names
# for each CPU, shortened to a few flags around the matmul-relevant ones.
ZEN4_EPYC = "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512_bf16 avx512_vnni\n"
SAPPHIRE_RAPIDS = "flags\t\t: avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8\n"
ZEN3_EPYC = "flags\t\t: fpu sse2 avx avx2 fma bmi2 vaes vpclmulqdq\n"
SKYLAKE_SP = "flags\t\t: avx2 avx512f avx512dq avx512cd avx512bw avx512vl\n"
GRAVITON3 = "Features\t: fp asimd sve asimddp svebf16 i8mm bf16 dgh rng\n"
GRAVITON2 = "Features\t: fp asimd evtstrm aes pmull asimddp ssbs\n"


@pytest.mark.parametrize(
    "cpuinfo, expected",
    [
        (ZEN4_EPYC, True),
        (SAPPHIRE_RAPIDS, True),
        (GRAVITON3, True),
        (ZEN3_EPYC, False),
        (SKYLAKE_SP, False),
        (GRAVITON2, False),
        ("processor\t: 0\nmodel name\t: unknown\n", None),
    ],
)
def test_bfloat16_instructions_are_read_from_cpuinfo_flags(cpuinfo, expected):
    text = "processor\t: 0\nvendor_id\t: x\n" + cpuinfo + "bogomips\t: 4000\n"
    assert bfloat16_instructions_listed(text) is expected


def test_a_machine_without_proc_cpuinfo_is_unknown_not_warned(monkeypatch):
    def unreadable(path, *args, **kwargs):
        raise FileNotFoundError(str(path))

    monkeypatch.setattr(pathlib.Path, "read_text", unreadable)
    cpu_flags.cache_clear()
    try:
        assert cpu_has_bfloat16_instructions() is None
    finally:
        cpu_flags.cache_clear()
