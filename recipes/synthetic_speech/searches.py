"""The two beam searches on the bundled model's test utterances: transformers' rules
(what minis2t and transformers use by default) and fairseq's (``search="fairseq"``, what
fairseq's published WERs were decoded with). How often do their transcripts differ, and
what does each score?

    .venv/bin/python recipes/synthetic_speech/searches.py

Reuses the test speech the recipe cached in ``work/`` (run ``run.py`` first); writes
``results/searches.json``, which the documentation's fairseq page reads.
"""

from __future__ import annotations

import os

os.environ.setdefault("MINIS2T_RUNTIME", "numpy")  # the recipes run (and train) the NumPy engine

import json
import time

import jiwer

import run  # noqa: F401 (puts the recipe and the checkout on sys.path)
from evaluate import decode
from run import HERE, cached, split_sentences, test_speech

import minis2t  # noqa: E402


def main() -> None:
    t0 = time.time()
    _, test_text = split_sentences(16000, 300, 0)
    tests = cached("test_0_300", lambda: test_speech(test_text, 2))
    model = minis2t.Speech2Text.from_pretrained()
    rows, refs, hyps = [], [], {"transformers": [], "fairseq": []}
    for (engine, group), (feats, _, _) in tests.items():
        out = {search: decode(model, feats, search=search) for search in hyps}
        differ = [i for i, (a, b) in enumerate(zip(out["transformers"], out["fairseq"])) if a != b]
        rows.append({"engine": engine, "voices": group, "n": len(feats), "differ": len(differ),
                     **{f"wer_{s}": jiwer.wer(test_text, h) for s, h in out.items()},
                     "examples": [{"ref": test_text[i], **{s: out[s][i] for s in out}} for i in differ[:3]]})  # fmt: skip
        refs += test_text
        for search in hyps:
            hyps[search] += out[search]
        print(f"{engine:10s} {group:16s} differ on {len(differ):3d} of {len(feats)}", flush=True)
    result = {"model": "bundled", "num_beams": model.generation_config.num_beams, "utterances": len(refs),
              "differ": sum(r["differ"] for r in rows),
              **{f"wer_{s}": jiwer.wer(refs, h) for s, h in hyps.items()},
              "table": rows, "seconds": round(time.time() - t0)}  # fmt: skip
    (HERE / "results" / "searches.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "table"}, indent=2))


if __name__ == "__main__":
    main()
