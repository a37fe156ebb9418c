"""Hostile pytorch_model.bin files: every one is refused, and a canary file proves that
nothing in them ran. Each payload is first shown to be live: a plain ``pickle.loads`` in a
subprocess does create the canary."""

import copyreg
import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from minis2t import errors
from minis2t.io.checkpoint import read_torch_bin


def torch_zip(path: Path, data_pkl: bytes, storages: dict[str, bytes] | None = None) -> Path:
    """Wrap a pickle into the zip layout torch.save writes."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/version", "3\n")
        for key, raw in (storages or {}).items():
            z.writestr(f"archive/data/{key}", raw)
    return path


def payloads(canary: Path) -> dict[str, bytes]:
    cmd = f"touch {canary}".encode()
    py = f"open({str(canary)!r}, 'w').write('ran')".encode()

    class Evil:  # what an attacker's torch.save-d object looks like
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    return {
        "GLOBAL os.system + REDUCE": b"cos\nsystem\n(S'" + cmd + b"'\ntR.",
        "GLOBAL builtins.exec + REDUCE": b"cbuiltins\nexec\n(S\"" + py + b"\"\ntR.",
        "STACK_GLOBAL builtins.eval (protocol 4)":
            b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c" + bytes([len(py)]) + py
            + b"\x94\x85\x94R\x94.",
        "INST os.system": b"(S'" + cmd + b"'\nios\nsystem\n.",
        "OBJ subprocess.call": b"(csubprocess\ncall\n(S'touch'\nS'" + str(canary).encode() + b"'\nlo.",
        "__reduce__ object, protocol 2": pickle.dumps(Evil(), protocol=2),
        "__reduce__ object, protocol 5": pickle.dumps(Evil(), protocol=5),
        "payload inside a state dict": pickle.dumps({"weight": 1, "bias": Evil()}, protocol=2),
        "BUILD via copyreg._reconstructor": b"ccopyreg\n_reconstructor\n(cos\n_wrap_close\nc__builtin__\nobject\nNtR}b.",
        "EXT1 to os.system (copyreg extension)": b"\x80\x02\x82\xf0(S'" + cmd + b"'\ntR.",
    }


def run_plain_pickle(payload: bytes, cwd: Path) -> None:
    """Load with the standard, unrestricted unpickler in a child process."""
    code = (
        "import copyreg, pickle, sys; copyreg.add_extension('os', 'system', 0xf0)\n"
        "try: pickle.loads(sys.stdin.buffer.read())\nexcept Exception: pass\n"
    )
    subprocess.run([sys.executable, "-c", code], input=payload, cwd=cwd, timeout=60,
                   capture_output=True)  # fmt: skip


@pytest.mark.parametrize("name", list(payloads(Path("x"))))
def test_hostile_pickle_is_refused_and_never_runs(tmp_path, name):
    canary = tmp_path / "canary"
    payload = payloads(canary)[name]
    if name != "BUILD via copyreg._reconstructor":  # that one only probes, it runs nothing
        run_plain_pickle(payload, tmp_path)
        assert canary.exists(), f"payload {name!r} is not live: the test proves nothing"
        canary.unlink()
    copyreg.add_extension("os", "system", 0xF0)  # give EXT1 its target in our process too
    try:
        with pytest.raises(errors.UnsafePickleError, match="not run|refused|nothing was run"):
            read_torch_bin(torch_zip(tmp_path / "pytorch_model.bin", payload))
    finally:
        copyreg.remove_extension("os", "system", 0xF0)
    assert not canary.exists()


def test_torch_saved_state_dict_with_a_payload(tmp_path):
    """The real-world shape: torch.save of real tensors plus one hostile object."""
    canary = tmp_path / "canary"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    torch.save({"weight": torch.zeros(3), "evil": Evil()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(errors.UnsafePickleError, match="posix.system|os.system|nt.system"):
        read_torch_bin(tmp_path / "pytorch_model.bin")
    assert not canary.exists()


def test_abuse_of_allowed_names(tmp_path):
    """Allowed callables with hostile arguments: refused, not crashed."""
    rebuild = b"ctorch._utils\n_rebuild_tensor_v2\n"
    cases = {
        "rebuild from a non-storage": rebuild + b"(S'x'\nI0\n(I1\nt(I1\ntI00\ntR.",
        "calling a storage marker": b"ctorch\nFloatStorage\n(tR.",
        "BUILD on a tensor": rebuild
        + b"((S'storage'\nctorch\nFloatStorage\nS'0'\nS'cpu'\nI1\ntQI0\n(I1\nt(I1\ntI00\ntR}b.",
        "bad persistent id": b"(S'storage'\nS'evil'\ntQ.",
    }
    for name, payload in cases.items():
        path = torch_zip(tmp_path / f"{len(name)}.bin", payload, {"0": b"\x00" * 4})
        with pytest.raises(errors.UnsafePickleError):
            read_torch_bin(path)


def test_out_of_bounds_tensor_is_corrupt_not_a_crash(tmp_path):
    payload = (b"ccollections\nOrderedDict\n)R(S'w'\nctorch._utils\n_rebuild_tensor_v2\n"
               b"((S'storage'\nctorch\nFloatStorage\nS'0'\nS'cpu'\nI4\ntQI2\n(I4\nt(I1\ntI00\n"
               b"ccollections\nOrderedDict\n)RtRu.")  # fmt: skip
    path = torch_zip(tmp_path / "x.bin", payload, {"0": b"\x00" * 16})
    with pytest.raises(errors.CheckpointError, match="corrupt"):
        read_torch_bin(path)


def test_legacy_and_plain_pickles_are_not_unpickled(tmp_path):
    canary = tmp_path / "canary"
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(payloads(canary)["GLOBAL os.system + REDUCE"])  # a bare pickle, no zip
    with pytest.raises(errors.CheckpointError, match="not a torch zip"):
        read_torch_bin(path)
    assert not canary.exists()
