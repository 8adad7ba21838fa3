"""scripts/llama_backend.py in-process: the prebuilt-or-source decision, the build key, progress."""

from __future__ import annotations

import importlib.util
import io
import os
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "llama_backend.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llama_backend_under_test", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


lb = _load()


def cpuinfo(model: str, flags: str) -> str:
    """A /proc/cpuinfo text with two processors, as the kernel writes it."""
    block = textwrap.dedent(
        f"""\
        vendor_id\t: {"AuthenticAMD" if "AMD" in model else "GenuineIntel"}
        model name\t: {model}
        flags\t\t: {flags}
        bugs\t\t: spectre_v1 spectre_v2
        """
    )
    return "\n".join(f"processor\t: {i}\n{block}" for i in range(2))


# An AMD EPYC 7B13 (Zen 3) VM: AVX2, FMA, F16C, BMI2, VAES... and no AVX-512 at all.
ZEN3 = cpuinfo(
    "AMD EPYC 7B13",
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 "
    "ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid "
    "extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes "
    "xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch "
    "osvw topoext invpcid_single ssbd ibrs ibpb stibp vmmcall fsgsbase tsc_adjust bmi1 avx2 smep bmi2 "
    "erms invpcid rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 clzero xsaveerptr "
    "arat npt nrip_save umip vaes vpclmulqdq rdpid fsrm",
)
# A Sapphire Rapids Xeon VM: AVX-512 with VNNI/BF16/FP16, AVX-VNNI and AMX.
SAPPHIRE_RAPIDS = cpuinfo(
    "Intel(R) Xeon(R) Processor",
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss "
    "ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid pni pclmulqdq "
    "ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand "
    "hypervisor lahf_lm abm 3dnowprefetch fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm "
    "avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw avx512vl "
    "xsaveopt xsavec xgetbv1 xsaves avx_vnni avx512_bf16 wbnoinvd arat avx512vbmi umip pku ospke waitpkg "
    "avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg avx512_vpopcntdq rdpid movdiri "
    "movdir64b fsrm md_clear serialize tsxldtrk amx_bf16 avx512_fp16 amx_tile amx_int8 arch_capabilities",
)
# Zen 4: AVX-512 with VNNI and BF16, but no VEX-encoded AVX-VNNI (that came with Zen 5).
ZEN4 = cpuinfo(
    "AMD EPYC 9B14",
    "fpu sse sse2 pni ssse3 fma sse4_1 sse4_2 popcnt avx f16c bmi1 avx2 bmi2 avx512f avx512dq avx512cd "
    "avx512bw avx512vl avx512_bf16 avx512_vnni avx512vbmi gfni vaes vpclmulqdq",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LLAMA_BACKEND_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LLAMA_BACKEND_CACHE", str(tmp_path / "cache"))


class SmokeCheck:
    def __init__(self, failure: str | None = None) -> None:
        self.failure = failure
        self.calls = 0

    def __call__(self) -> str | None:
        self.calls += 1
        return self.failure


def test_a_cpu_without_avx512_builds_from_source_without_trying_the_prebuilt_server() -> None:
    smoke = SmokeCheck()
    decision = lb.decide(lb.cpu_flags(ZEN3), smoke)
    assert decision.source is True
    assert decision.reason.startswith("prebuilt llama-server needs avx512f,avx512bw,avx512dq,avx512vl,")
    assert decision.reason.endswith("(this CPU lacks them): building from source")
    assert "avx2" not in decision.reason  # Zen 3 has it: only what is missing is named
    assert smoke.calls == 0


def test_a_cpu_with_avx512_but_no_avx_vnni_builds_from_source() -> None:
    decision = lb.decide(lb.cpu_flags(ZEN4), SmokeCheck())
    assert decision.source is True
    assert "needs avx_vnni (this CPU lacks them)" in decision.reason


def test_an_avx512_cpu_uses_the_prebuilt_server_once_its_smoke_check_passes() -> None:
    smoke = SmokeCheck()
    decision = lb.decide(lb.cpu_flags(SAPPHIRE_RAPIDS), smoke)
    assert decision.source is False
    assert smoke.calls == 1


def test_a_failed_smoke_check_falls_back_to_source_and_says_why() -> None:
    decision = lb.decide(lb.cpu_flags(SAPPHIRE_RAPIDS), SmokeCheck("killed by SIGILL"))
    assert decision.source is True
    assert "smoke check (killed by SIGILL)" in decision.reason


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_from_source_override(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LLAMA_BACKEND_FROM_SOURCE", value)
    smoke = SmokeCheck()
    decision = lb.decide(lb.cpu_flags(SAPPHIRE_RAPIDS), smoke)
    assert decision.source is True
    assert "LLAMA_BACKEND_FROM_SOURCE=1" in decision.reason
    assert smoke.calls == 0


def test_a_cpuinfo_without_flags_needs_everything() -> None:
    assert lb.missing_prebuilt_flags(lb.cpu_flags("processor\t: 0\nmodel name\t: ?\n")) == list(
        lb.PREBUILT_REQUIRED_FLAGS
    )


def _simulate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> dict[str, Any]:
    """Point LLAMA_BACKEND_CPUINFO at ``text``; record which provisioning path ensure_server takes."""
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    monkeypatch.setenv("LLAMA_BACKEND_CPUINFO", str(path))
    taken: dict[str, Any] = {}

    def source(key: str, model: Path) -> Path:
        taken["source"] = key
        return tmp_path / "built"

    def wheel() -> Path:
        taken["wheel"] = True
        return tmp_path / "wheel"

    def smoke(binary: Path, model: Path) -> str | None:
        taken["smoke"] = (binary, model)
        return None

    monkeypatch.setattr(lb, "ensure_source_server", source)
    monkeypatch.setattr(lb, "ensure_wheel_server", wheel)
    monkeypatch.setattr(lb, "smoke_check", smoke)
    return taken


def test_ensure_server_on_a_simulated_zen3_takes_the_source_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = _simulate(monkeypatch, tmp_path, ZEN3)
    assert lb.ensure_server(tmp_path / "model.gguf") == tmp_path / "built"
    assert taken == {"source": lb.build_key(lb.cpu_flags(ZEN3))}
    assert "(this CPU lacks them): building from source" in capsys.readouterr().err


def test_ensure_server_on_a_simulated_avx512_cpu_takes_the_prebuilt_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    taken = _simulate(monkeypatch, tmp_path, SAPPHIRE_RAPIDS)
    assert lb.ensure_server(tmp_path / "model.gguf") == tmp_path / "wheel"
    assert "source" not in taken
    assert taken["smoke"] == (tmp_path / "wheel", tmp_path / "model.gguf")
    # the verdict is remembered per CPU kind: no second smoke check
    del taken["smoke"]
    assert lb.ensure_server(tmp_path / "model.gguf") == tmp_path / "wheel"
    assert "smoke" not in taken


def test_a_build_for_this_cpu_is_reused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    taken = _simulate(monkeypatch, tmp_path, ZEN3)
    built = lb.source_binary(lb.build_key(lb.cpu_flags(ZEN3)))
    built.parent.mkdir(parents=True)
    built.write_text("")
    assert lb.ensure_server(tmp_path / "model.gguf") == built
    assert taken == {}


def test_the_build_key_differs_by_cpu_features() -> None:
    keys = {lb.build_key(lb.cpu_flags(text)) for text in (ZEN3, ZEN4, SAPPHIRE_RAPIDS)}
    assert len(keys) == 3
    assert all(key.startswith(f"llama-cpp-python-{lb.SOURCE_SDIST_VERSION}-") for key in keys)


def test_the_build_key_ignores_flag_order_and_non_isa_flags() -> None:
    flags = lb.cpu_flags(ZEN3)
    reordered = frozenset(sorted(flags, reverse=True))
    assert lb.build_key(reordered) == lb.build_key(flags)
    assert lb.build_key(flags - {"hypervisor", "arat", "fsrm"}) == lb.build_key(flags)
    assert lb.build_key(flags - {"avx2"}) != lb.build_key(flags)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("[12/345] Building CXX object ggml/src/CMakeFiles/ggml-cpu.dir/ggml-cpu/ops.cpp.o\n", (12, 345)),
        ("[1/206] Generating build details from Git", (1, 206)),
        ("[206/206] Linking CXX executable bin/llama-server", (206, 206)),
        ("[ 42%] Building CXX object common/CMakeFiles/common.dir/arg.cpp.o", (42, 100)),
        ("[100%] Built target llama-server", (100, 100)),
        ("-- Configuring done", None),
        ("In file included from [12/345]", None),
        ("ninja: build stopped: subcommand failed.", None),
    ],
)
def test_parse_progress(line: str, expected: tuple[int, int] | None) -> None:
    assert lb.parse_progress(line) == expected


class FakeStream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_on_a_tty_updates_one_line() -> None:
    stream = FakeStream(tty=True)
    progress = lb.Progress(stages=2, stream=stream)
    progress.name = "compiling"
    progress.index = 2
    for done in (1, 2, 3):
        progress.step(done, 4)
    progress.end_line()
    out = stream.getvalue()
    assert out.count("\r") == 3
    assert out.count("\n") == 1
    assert "[2/2] compiling: step 3/4 75% (0m00s elapsed)" in out


def test_progress_off_a_tty_prints_periodic_lines(capsys: pytest.CaptureFixture[str]) -> None:
    stream = FakeStream(tty=False)
    progress = lb.Progress(stages=1, stream=stream)
    progress.stage("compiling")
    for done in range(1, 50):
        progress.step(done, 100)  # within one period: nothing
    progress.last -= lb.Progress.PERIOD
    progress.step(50, 100)
    progress.step(100, 100)  # the last step is always shown
    err = capsys.readouterr().err.splitlines()
    assert stream.getvalue() == ""  # lines go through log(), never bare \r
    assert err[0].startswith("[llama_backend] [1/1] compiling ...")
    assert [line.split(": ", 1)[1].split(" (")[0] for line in err[1:]] == [
        "step 50/100 50%",
        "step 100/100 100%",
    ]


def test_exit_description_names_sigill() -> None:
    assert "SIGILL (illegal instruction" in lb.exit_description(-4)
    assert lb.exit_description(3) == "exited with code 3"


def test_smoke_check_reports_a_sigill(tmp_path: Path) -> None:
    fake = tmp_path / "llama-server"
    fake.write_text("#!/bin/sh\nkill -ILL $$\n")
    fake.chmod(0o755)
    failure = lb.smoke_check(fake, tmp_path / "model.gguf")
    assert failure is not None
    assert failure.startswith("killed by SIGILL (illegal instruction")


FAKE_SERVER = """\
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port = int(sys.argv[sys.argv.index("--port") + 1])
class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self.reply({"status": "ok"})
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.reply({"content": " Bob", "tokens_predicted": TOKENS if req["n_predict"] else 0})
HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


@pytest.mark.parametrize(("tokens", "ok"), [(4, True), (0, False)])
def test_smoke_check_needs_a_real_completion(tmp_path: Path, tokens: int, ok: bool) -> None:
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER.replace("TOKENS", str(tokens)))
    fake = tmp_path / "llama-server"
    fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
    fake.chmod(0o755)
    failure = lb.smoke_check(fake, tmp_path / "model.gguf")
    if ok:
        assert failure is None
    else:
        assert failure is not None
        assert "predicted no token" in failure


@pytest.mark.parametrize(
    ("failure", "checks"),
    [("killed by SIGILL (illegal instruction)", 1), ("no /health within 90s; log: x", 2)],
)
def test_a_smoke_failure_is_remembered_only_when_it_cannot_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, failure: str, checks: int
) -> None:
    calls: list[Path] = []

    def smoke(binary: Path, model: Path) -> str | None:
        calls.append(binary)
        return failure

    monkeypatch.setattr(lb, "ensure_wheel_server", lambda: tmp_path / "wheel")
    monkeypatch.setattr(lb, "smoke_check", smoke)
    flags = lb.cpu_flags(SAPPHIRE_RAPIDS)
    for _ in range(2):
        assert lb.prebuilt_smoke_check(tmp_path / "model.gguf", flags) == failure
    assert len(calls) == checks


def test_every_variable_the_script_reads_is_documented() -> None:
    source = SCRIPT.read_text()
    read = set(re.findall(r'"(LLAMA_BACKEND_[A-Z_]+)"', source))
    readme = (SCRIPT.parents[1] / "README.md").read_text()
    documented = set(re.findall(r"`(LLAMA_BACKEND_[A-Z_]+)`", readme))
    assert read
    assert read <= documented, sorted(read - documented)
    assert all(f"  {name} " in source for name in read), "the script's docstring lists each variable"
