"""Golden tensors for ports: check a Speech2Text port in any language, stage by stage.

    minis2t golden write MODEL RECORDING OUT.safetensors [--attention] [--beams N]
                         [--max-length N] [--language xx]
    minis2t golden check GOLDEN.safetensors PORT.safetensors

``write`` runs the reference (:mod:`minis2t.reference`, float64, no torch) on one recording
and keeps every named intermediate — front end, encoder, the decoder at each step and
both beam searches' state — with a manifest in the file's metadata
(:mod:`~minis2t.app.golden.write`). ``check`` holds a port's file of the same names to
the goldens, each stage to the tolerance a float32 port must meet, prints a table and
names the first stage that fails (:mod:`~minis2t.app.golden.check`). The names and
tolerances: :mod:`~minis2t.app.golden.stages`. The site's page "Porting Speech2Text"
walks through them.

Exit codes: 0 every compared stage passes; 1 a stage fails (or nothing could be
compared); 2 a usage error or an unreadable file, in one line.
"""

from __future__ import annotations

import argparse

from ..formats import escaped
from .check import check, format_report
from .write import write_golden

__all__ = ["add_parser", "run", "check", "write_golden"]


def add_parser(subparsers) -> None:
    """Register ``golden write`` and ``golden check`` on the command's sub-parsers."""
    golden = subparsers.add_parser("golden", help="golden tensors for ports: write them, or check a port's "
                                   "intermediates against them stage by stage")  # fmt: skip
    actions = golden.add_subparsers(dest="golden_action", metavar="write|check", required=True)
    w = actions.add_parser("write", help="every intermediate of one recording, by the reference in float64")
    w.add_argument("model", help="model directory (Hugging Face or fairseq), bundled-asr or bundled-st")
    w.add_argument("recording", help="audio file")
    w.add_argument("out", help="OUT.safetensors (the manifest is in its metadata, key 'minis2t.golden')")
    w.add_argument("--attention", action="store_true", help="also each encoder layer's attention weights")
    w.add_argument("--beams", type=positive_int, default=None, help="beams (default: the model's)")
    w.add_argument("--max-length", type=positive_int, default=None, help="longest output in tokens")
    w.add_argument("--language", default=None, help="target language of a translation model (bundled-st)")
    c = actions.add_parser("check", help="hold a port's intermediates (same names, any subset) to the goldens")
    c.add_argument("golden", help="GOLDEN.safetensors written by `minis2t golden write`")
    c.add_argument("port", help="PORT.safetensors: the port's intermediates under the golden names")


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    if args.golden_action == "write":
        options = {k: v for k, v in (("num_beams", args.beams), ("max_length", args.max_length)) if v is not None}
        doc = write_golden(args.model, args.recording, args.out, args.attention, args.language, **options)
        left_out = "".join(f"; {r} rules left out: {why}" for r, why in doc["rules_left_out"].items())
        print(f"wrote {escaped(args.out)}: {len(doc['tensors'])} tensors (float64), rules {', '.join(doc['rules'])}"
              f"{left_out}; manifest in its metadata ('minis2t.golden')")  # fmt: skip
        return 0
    result = check(args.golden, args.port)
    print(format_report(result, args.golden, args.port))
    return 0 if result.passed else 1
