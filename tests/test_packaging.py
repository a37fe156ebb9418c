"""What is installed: the main job runs without torch, the wheel ships minis2t alone (and
reads its version from minis2t/_version.py)."""

import json
import subprocess
import sys
import zipfile

from minis2t._version import __version__
from tests.bounded import ROOT
from tests.builders import SAMPLES


def test_main_job_runs_without_torch():
    """The main command's install has no torch: prove nothing in it imports torch."""
    code = ("import importlib.abc, sys\n"
            "class NoTorch(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name.split('.')[0] == 'torch': raise ImportError('torch is not installed')\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "from minis2t.app.cli import main; code = main(['demo'])\n"
            "assert 'torch' not in sys.modules; sys.exit(code)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    n = len(json.loads((SAMPLES / "references.json").read_text()))
    assert f"{n} of {n} transcribed exactly" in done.stdout


def test_wheel_ships_minis2t_only(tmp_path):
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = tmp_path.glob("minis2t-*.whl")
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert "minis2t" in tops and "parity" not in tops
    assert {t for t in tops if not t.endswith(".dist-info")} == {"minis2t"}
    metadata = next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA"))
    assert f"\nVersion: {__version__}\n" in zipfile.ZipFile(wheel).read(metadata).decode()
