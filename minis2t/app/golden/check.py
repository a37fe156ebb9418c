"""``minis2t golden check``: hold a port's intermediates to the goldens, stage by stage.

The port's file has the golden names (any subset); each tensor the two share is measured
as the manifest says (:data:`minis2t.app.golden.stages.MEASURES`) and held to its
tolerance. Stages are visited in data-path order, so the first one that fails is where the
port went wrong: everything after it inherits the error. A search's steps are compared as
token ids, beams and scores; once a port chooses differently at step ``t`` its later steps
describe other hypotheses and are not compared ("skipped"). If the golden's own candidates
at that step are closer than twice the score tolerance, a float32 port may break the tie
either way: that step is a "tie", not a failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from ...errors import TensorFileError
from . import stages as st
from .tensorfile import FLOAT_DTYPES, INT_DTYPES, TensorFile
from .write import FORMAT, MANIFEST_KEY

PASS, FAIL, ABSENT, SKIPPED, TIE = "pass", "FAIL", "absent", "skipped", "tie"
MAX_EXP = 700.0  # exp() of a log-mel beyond this overflows float64: such a port fails anyway


@dataclass
class Row:
    name: str
    shape: tuple
    status: str
    max_abs: float | None = None
    rel: float | None = None
    tolerance: str = ""
    note: str = ""


@dataclass
class CheckResult:
    rows: list[Row]
    unknown: list[str] = field(default_factory=list)  # port names the golden does not have
    divergence: dict = field(default_factory=dict)  # rules -> (step, what happened)

    @property
    def failures(self) -> list[Row]:
        return [r for r in self.rows if r.status == FAIL]

    @property
    def first_failure(self) -> Row | None:
        return next(iter(self.failures), None)

    @property
    def compared(self) -> list[Row]:
        return [r for r in self.rows if r.status in (PASS, FAIL, TIE)]

    @property
    def passed(self) -> bool:
        return not self.failures and bool(self.compared)


def read_manifest(golden: TensorFile) -> dict:
    """The manifest of a golden file, checked against the file: every tensor it lists is in
    the file with the same shape, has a golden name and a tolerance (a number, or null for
    exact stages)."""
    try:
        doc = json.loads(golden.metadata[MANIFEST_KEY])
        ok = doc["format"] == FORMAT and all(_entry_ok(golden, t) for t in doc["tensors"])
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError):
        ok = False
    if not ok:
        raise TensorFileError(f"{golden.path} is not a golden file of this minis2t ({FORMAT}: written by "
                              f"`minis2t golden write`, its manifest in the metadata key {MANIFEST_KEY!r}).")
    return doc


def _entry_ok(golden: TensorFile, entry: dict) -> bool:
    name, tol = entry["name"], entry["tolerance"]
    stage = st.stage_of(name) if isinstance(name, str) else None
    return (stage is not None and name in golden.names and tuple(entry["shape"]) == golden.shape(name)
            and (tol is None) == (stage.measure == "exact")
            and (tol is None or (isinstance(tol, (int, float)) and 0 <= tol < float("inf"))))  # fmt: skip


def check(golden_path, port_path) -> CheckResult:
    """Compare the port's file with the golden file (both safetensors), stage by stage in
    the manifest's order."""
    golden = TensorFile(golden_path)
    doc = read_manifest(golden)
    port = TensorFile(port_path)
    entries = doc["tensors"]
    known = {e["name"] for e in entries}
    result = CheckResult([], unknown=[n for n in port.names if n not in known])
    extents = _search_extents(entries, port.names)
    tolerances = {e["name"]: e["tolerance"] for e in entries}
    for e in entries:
        tol = e["tolerance"]
        row = Row(e["name"], tuple(e["shape"]), ABSENT, tolerance="exact" if tol is None else f"{tol:.1e}")
        result.rows.append(row)
        _compare(row, golden, port, tolerances, extents, result.divergence)
    for rules, extent in extents.items():
        if rules not in result.divergence and extent["port"] > extent["golden"]:
            note = f"the port's search went on after the golden's last step {extent['golden']}"
            result.rows.append(Row(f"search.{rules}.step.{extent['golden'] + 1}", (), FAIL, note=note))
            result.divergence[rules] = (extent["golden"] + 1, note)
    return result


def _compare(row: Row, golden: TensorFile, port: TensorFile, tolerances: dict, extents: dict,
             divergence: dict) -> None:  # fmt: skip
    """Fill in one row; a search's divergence is recorded in ``divergence``."""
    name, tol = row.name, tolerances[row.name]
    rules = name.split(".")[1] if name.startswith("search.") else None
    step = st.step_of(name)
    if rules in divergence:
        row.status, row.note = SKIPPED, f"after the divergence at step {divergence[rules][0]}"
        return
    if step and step[1] > extents[rules]["port"] >= 0:  # the port stopped before this step
        row.status, row.note = FAIL, f"the port's search stopped after step {extents[rules]['port']}"
        divergence[rules] = (step[1], row.note)
        return
    if name not in port.names:
        return
    measure = st.stage_of(name).measure
    problem = _readable(port, name, row.shape, measure)
    if problem:
        row.status, row.note = FAIL, problem
        return
    if measure == "exact":
        _exact(row, port.read(name), golden.read(name))
    else:
        _measured(row, port.read(name), golden.read(name), measure, tol, golden)
    if step and step[2] in ("beam", "token", "ends", "live") and row.status == FAIL:
        score = f"search.{rules}.step.{step[1]}.score"
        row.status, row.note = _divergence(row, golden.read(score), tolerances[score], step[1])
        divergence[rules] = (step[1], row.note)


def _search_extents(entries: list[dict], port_names: list[str]) -> dict:
    """Per rule set, the last step of the golden and of the port (-1: the port has none)."""
    extents: dict[str, dict] = {}
    for names, key in (([e["name"] for e in entries], "golden"), (port_names, "port")):
        for name in names:
            parsed = st.step_of(name)
            if parsed:
                extent = extents.setdefault(parsed[0], {"golden": -1, "port": -1})
                extent[key] = max(extent[key], parsed[1])
    return extents


def _readable(port: TensorFile, name: str, shape: tuple, measure: str) -> str:
    """Why the port's tensor cannot be compared ("" if it can)."""
    if port.shape(name) != shape:
        return f"shape {list(port.shape(name))}, the golden's is {list(shape)}"
    dtype = port.dtype(name)
    if measure != "exact" and dtype not in FLOAT_DTYPES:
        return f"dtype {dtype}: this stage holds real numbers (F64, F32, F16 or BF16)"
    if measure == "exact" and dtype not in INT_DTYPES + ("BOOL",):
        return f"dtype {dtype}: this stage holds integers or flags"
    return ""


def _exact(row: Row, value: np.ndarray, golden: np.ndarray) -> None:
    wrong = int(np.count_nonzero(value.astype(np.int64) != golden.astype(np.int64)))
    row.status = FAIL if wrong else PASS
    if wrong:
        first = tuple(int(i) for i in np.argwhere(value.astype(np.int64) != golden.astype(np.int64))[0])
        row.note = (f"{wrong} of {golden.size} differ; first at {list(first)}: port {value[first]!r}, "
                    f"golden {golden[first]!r}")


def _measured(row: Row, value: np.ndarray, golden: np.ndarray, measure: str, tol: float,
              golden_file: TensorFile) -> None:  # fmt: skip
    p, g = value.astype(np.float64), golden.astype(np.float64)
    finite = np.isfinite(g)
    if not np.array_equal(p[~finite], g[~finite]):
        row.status, row.note = FAIL, "the port differs where the golden is infinite (-inf: not a candidate)"
        return
    if not np.all(np.isfinite(p[finite])):
        row.status, row.note = FAIL, "the port holds NaN or infinite values"
        return
    d = np.where(finite, np.abs(p - np.where(finite, g, 0.0)), 0.0)
    scale = float(np.abs(g[finite]).max(initial=0.0)) or 1.0
    row.max_abs = float(d.max(initial=0.0))
    if measure == "scale":
        row.rel = row.max_abs / scale
    elif measure == "row_peak":
        peak = np.abs(g).max(axis=-1, keepdims=True)
        row.rel = float((d / np.where(peak > 0, peak, scale)).max(initial=0.0))
    elif measure == "energy":
        ep, eg = np.exp(np.minimum(p, MAX_EXP)), np.exp(g)
        peak = eg.max(axis=-1, keepdims=True)
        row.rel = float((np.abs(ep - eg) / peak).max(initial=0.0))
    elif measure == "features":
        log_mel = golden_file.read("frontend.log_mel")
        row.rel = float((d / _features_allowance(g, log_mel, scale)).max(initial=0.0))
    elif measure == "score":
        row.rel = row.max_abs / scale
        row.status = PASS if row.max_abs <= tol else FAIL
        row.note = "" if row.status == PASS else f"max |difference| {row.max_abs:.2e} > {tol:.2e}"
        return
    row.status = PASS if row.rel <= tol else FAIL


def _features_allowance(features: np.ndarray, log_mel: np.ndarray, scale: float) -> np.ndarray:
    """``scale + r / s`` per element (see ``MEASURES["features"]``): ``r`` the frame's peak
    energy over the band's, ``s`` the band's CMVN divisor std(log-mel) / std(features)."""
    r = np.exp(log_mel.max(axis=-1, keepdims=True) - log_mel)  # [T, F], >= 1
    spread = features.std(axis=0)
    s = np.where(spread > 0, log_mel.std(axis=0) / np.where(spread > 0, spread, 1.0), 1.0)  # [F]
    return scale + r / np.where(s > 0, s, 1.0)


def _divergence(row: Row, scores: np.ndarray, tol: float, t: int) -> tuple[str, str]:
    """A step's ids differ: a tie if the golden's candidates there are within twice the
    score tolerance of each other, else a failure."""
    gaps = -np.diff(scores[np.isfinite(scores)].reshape(-1))
    closest = float(gaps.min(initial=np.inf))
    if closest <= 2 * tol:
        return TIE, (f"diverged at step {t} where two golden candidates are {closest:.1e} apart, within twice "
                     f"the score tolerance: a near-tie a float32 port may break either way; later steps not compared")
    return FAIL, f"diverged at step {t}: {row.note}"


# --- the report ------------------------------------------------------------------------------


def _cell(x: float | None) -> str:
    return "-" if x is None else f"{x:.1e}"


def format_report(result: CheckResult, golden_path, port_path) -> str:
    head = ["stage", "shape", "max abs", "max rel", "tolerance", "result"]
    lines = [head]
    for r in result.rows:
        if r.status == ABSENT:
            continue
        status = r.status + (f": {r.note}" if r.note else "")
        lines.append([r.name, "x".join(map(str, r.shape)) or "-", _cell(r.max_abs), _cell(r.rel), r.tolerance, status])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head) - 1)]
    out = ["  ".join(c.ljust(w) for c, w in zip(line[:-1], widths)) + "  " + line[-1] for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 6)
    out.append("")
    out += summary(result, golden_path, port_path)
    return "\n".join(out)


def summary(result: CheckResult, golden_path, port_path) -> list[str]:
    rows, compared = result.rows, result.compared
    absent = [r for r in rows if r.status == ABSENT]
    lines = [f"golden {golden_path}; port {port_path}"]
    lines.append(f"compared {len(compared)} of {len(rows)} golden tensors" + (
        f"; {len(absent)} absent from the port (a subset: fine, but those stages are unchecked): "
        + _patterns(absent) if absent else "") + ".")  # fmt: skip
    skipped = [r for r in rows if r.status == SKIPPED]
    if skipped:
        lines.append(f"{len(skipped)} not compared after a search diverged.")
    if result.unknown:
        shown = ", ".join(ascii(n)[:60] for n in result.unknown[:5])
        lines.append(f"{len(result.unknown)} port tensors have no golden counterpart (misnamed, or not in "
                     f"this golden): {shown}{' ...' if len(result.unknown) > 5 else ''}.")
    for rules, (t, note) in result.divergence.items():
        lines.append(f"search {rules}: {note}" if note.startswith("diverged") else f"search {rules}: step {t}: {note}")
    first = result.first_failure
    if not compared:
        lines.append("FAIL: the port's file shares no tensor with the golden.")
    elif first is None:
        lines.append("PASS: every compared stage is within its float32 tolerance.")
    else:
        lines.append(f"FAIL: {len(result.failures)} stage(s) out of tolerance; the first is {first.name}"
                     + (f" ({first.note})" if first.note else f" (max rel {_cell(first.rel)} > {first.tolerance})"))
    return lines


def _patterns(rows: list[Row]) -> str:
    counts: dict[str, int] = {}
    for r in rows:
        pattern = st.stage_of(r.name).pattern
        counts[pattern] = counts.get(pattern, 0) + 1
    return ", ".join(f"{p} x{n}" if n > 1 else p for p, n in counts.items())
