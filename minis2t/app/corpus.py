"""Corpora: a manifest of recordings in, one JSON line per recording out, on a Dask cluster.

    minis2t corpus MANIFEST --output OUT.jsonl [--model DIR] [--workers N] [--address ADDR]

The work is many independent files, so the engine's job is plain: hand files to worker
processes that keep a model loaded, collect results as they finish, survive a worker that
dies. `Dask distributed <https://distributed.dask.org>`_ does that; it was chosen over Ray
by measurement on the project's machine (``benchmarks/engines.py``, shown on the docs'
"Corpus scale" page). The pieces, bottom up:

* :func:`read_manifest` — a TSV with a header: ``path`` (required), ``id`` and
  ``reference`` (optional; other columns are ignored). Relative paths are relative to the
  manifest's folder.
* :class:`ResultLog` — OUT.jsonl is the run's memory. Ids already in it are skipped; each
  result is appended and flushed as it arrives, so a crash loses at most the files in
  flight, and re-running the same command finishes the job. Every id is written once.
* :func:`run_tasks` — the engine part: a bounded number of tasks in flight (memory on
  the client and the scheduler stays bounded for a million files), results written in
  the order they finish. A worker process that dies has its files run again on another
  (Dask's scheduler does that); a file that kills workers again and again (Dask's
  ``allowed-failures``, 3 by default) gets an error line instead of stopping the run.
* :func:`transcribe_item` — what a worker does with one file: the same
  :meth:`~minis2t.Speech2Text.transcribe_long` as ``minis2t transcribe``, with the model
  loaded once per worker process.

``dask[distributed]`` (and jiwer, for the scores) come with ``pip install minis2t[cluster]``;
nothing else in minis2t needs them.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import CorpusError, ErrorText, guarded
from ..engine.nn import usable_cores

MANIFEST_MAX_BYTES = 256 * 2**20  # ~2 million lines of paths and transcripts (docs/errors.md)
REQUIRED, OPTIONAL = "path", ("id", "reference")
CONNECT_TIMEOUT_SECONDS = 5  # a scheduler on a network answers in milliseconds


@dataclass(frozen=True)
class Item:
    """One manifest row: ``id`` (the path as written when the manifest has no id column),
    ``path`` (resolved against the manifest's folder) and the ``reference`` text or None."""

    id: str
    path: str
    reference: str | None = None


def read_manifest(manifest: str | os.PathLike) -> list[Item]:
    """The rows of a TSV manifest, checked: a ``path`` column, no empty path, no id twice."""
    manifest = Path(manifest)
    try:
        with open(manifest, "rb") as f:  # bounded: a device or a pipe has no size to check first
            data = f.read(MANIFEST_MAX_BYTES + 1)
        if len(data) > MANIFEST_MAX_BYTES:
            raise CorpusError(f"{manifest}: more than {MANIFEST_MAX_BYTES // 2**20} MiB; a manifest may hold at "
                              f"most that. Split it into several runs.")  # fmt: skip
        text = data.decode("utf-8-sig")  # a spreadsheet's byte-order mark is not part of the header
    except FileNotFoundError:
        raise CorpusError(f"{manifest}: no such manifest file.") from None
    except IsADirectoryError:
        raise CorpusError(f"{manifest} is a folder; give a TSV file with a 'path' column.") from None
    except UnicodeDecodeError as e:
        raise CorpusError(f"{manifest}: not UTF-8 text (byte {e.start}); a manifest is a TSV file.") from None
    except OSError as e:
        raise CorpusError(f"{manifest}: cannot read it ({e.strerror}).") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise CorpusError(f"{manifest}: empty; the first line must be a header naming a 'path' column.")
    header = lines[0].split("\t")
    if REQUIRED not in header:
        raise CorpusError(f"{manifest}: the header {header[:6]} has no 'path' column (columns are "
                          f"separated by tabs: path, and optionally id and reference).")  # fmt: skip
    column = {name: header.index(name) for name in (REQUIRED, *OPTIONAL) if name in header}
    items, seen = [], {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")

        def cell(name, cells=cells):
            i = column.get(name)
            return cells[i].strip() if i is not None and i < len(cells) else ""

        path = cell("path")
        if not path:
            raise CorpusError(f"{manifest}, line {number}: no path.")
        item_id = cell("id") or path
        if item_id in seen:
            raise CorpusError(f"{manifest}, lines {seen[item_id]} and {number}: the id {item_id!r} "
                              f"twice; ids must be unique (OUT.jsonl holds one line per id).")  # fmt: skip
        seen[item_id] = number
        resolved = os.path.abspath(path if os.path.isabs(path) else manifest.parent / path)
        items.append(Item(item_id, resolved, cell("reference") if "reference" in column else None))
    if not items:
        raise CorpusError(f"{manifest}: a header and no rows; nothing to do.")
    return items


class ResultLog:
    """The output file, one JSON object per line, appended as results arrive.

    Opening it reads the ids already done. A last line without its newline (the run was
    killed while writing it) is cut off, so that id runs again; any other line that is
    not a JSON object with an ``id`` stops the run, since the file is then not one this
    command wrote and appending to it would mix two things."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.done: dict[str, dict] = {}
        if self.path.is_dir():
            raise CorpusError(f"--output {self.path} is a folder; give a file name (OUT.jsonl).")
        if self.path.exists():
            self._read_existing()
        elif not self.path.parent.is_dir():
            raise CorpusError(f"--output {self.path}: the folder {self.path.parent} does not exist.")
        target = self.path if self.path.exists() else self.path.parent
        if not os.access(target, os.W_OK):
            raise CorpusError(f"--output {self.path}: cannot write there (permission denied).")
        self._file = None  # opened at the first result: a run that cannot start leaves no file

    def _read_existing(self) -> None:
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) < len(data):  # a line cut short by a crash: drop it, redo that file
            with open(self.path, "r+b") as f:
                f.truncate(len(complete))
        for number, line in enumerate(complete.decode("utf-8", errors="replace").splitlines(), start=1):
            try:
                row = json.loads(line)
                item_id = row["id"]
            except (ValueError, TypeError, KeyError):
                raise CorpusError(f"--output {self.path}, line {number}: not a result line of this command "
                                  f"(a JSON object with an 'id'). Give a new file, or the OUT.jsonl of "
                                  f"an earlier run to resume it.") from None  # fmt: skip
            self.done[str(item_id)] = row

    def write(self, row: dict) -> None:
        if self._file is None:
            self._file = open(self.path, "a", encoding="utf-8")
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())  # on disk before the next file's result
        self.done[row["id"]] = row

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


# --- the worker side --------------------------------------------------------------------

_MODELS: dict[str, object] = {}  # per worker process: model name -> Speech2Text, loaded once


def _model(name: str):
    if name not in _MODELS:
        from .pipeline import Speech2Text

        _MODELS[name] = Speech2Text.from_pretrained(name)
    return _MODELS[name]


def transcribe_item(item: Item, model: str, options: dict) -> dict:
    """One file, on a worker: ``{"id", "path", "text", "segments": [{"start", "end",
    "text", "avg_logprob"}]}`` as ``minis2t transcribe --output-format json`` gives it
    (without word times; with a ``warning`` when the transcript is empty), or ``{"id",
    "path", "error", "error_type"}`` for a file that cannot be transcribed (the others go
    on): its typed error's message and class name, as ``minis2t transcribe`` reports them."""
    loaded, error = guarded(_model, model)
    if error is None:
        result, error = guarded(loaded.transcribe_long, item.path, word_timestamps=False, **options)
    if error is not None:
        return error_row(item, error)
    row = {"id": item.id, "path": item.path, **result}
    if not result["text"]:
        from .longform import NO_WORDS

        row["warning"] = NO_WORDS
    return row


# --- the engine side --------------------------------------------------------------------


def worker_threads(workers: int) -> int:
    """BLAS threads per worker on this machine: its cores shared out, at least one."""
    return max(1, usable_cores() // workers)


def connect(workers: int | None = None, address: str | None = None):
    """A Dask client: to the scheduler at ``address``, or to a new local cluster of
    ``workers`` single-task processes (default: one per core), each with its share of the
    cores for NumPy's BLAS. Returns ``(client, cluster or None)``."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise CorpusError("corpus runs need Dask distributed: pip install 'minis2t[cluster]' "
                          "(or: pip install 'dask[distributed]' jiwer).") from None  # fmt: skip
    import logging

    if address is not None and workers is not None:
        raise CorpusError("--workers starts local workers; with --address the cluster's own workers "
                          "run the files. Give one of them.")  # fmt: skip
    if workers is not None and not 1 <= workers <= usable_cores():
        # Each local worker is a process holding its own copy of the model, with at least one
        # core for its BLAS: more workers than cores only add memory and contention, and an
        # absurd count would start processes until the machine gives out.
        raise CorpusError(f"--workers {workers}: give 1 to {usable_cores()}, at most one local worker process "
                          f"per core this process may run on (os.sched_getaffinity); for more, start a "
                          f"Dask cluster and pass --address.")  # fmt: skip
    logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO lines are not the user's
    if address is not None:
        try:
            return Client(address, timeout=f"{CONNECT_TIMEOUT_SECONDS}s"), None
        except (OSError, TimeoutError, ValueError) as e:  # refused, unreachable, or not an address
            raise CorpusError(f"--address {address}: no Dask scheduler answered ({e}). Start one with "
                              f"`dask scheduler` and workers with `dask worker {address}`.") from None  # fmt: skip
    import dask
    import distributed  # noqa: F401 (its settings must be known before they are changed)

    workers = workers or worker_threads(1)
    threads = worker_threads(workers)
    # Dask sets these to 1 in a new worker before it starts (its "pre-spawn" environment),
    # which is when the BLAS reads them: a lone worker would otherwise use one core of two.
    environ = {f"distributed.nanny.pre-spawn-environ.{name}": threads
               for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}  # fmt: skip
    # Send every task of the window to a worker at once instead of holding some back at
    # the scheduler (its default, made for task graphs): a worker then never waits a
    # round trip for its next file. Measured with 1 worker on 200 short files: ~50 -> ~45
    # ms per file, against 40 ms for the same calls in one task.
    environ["distributed.scheduler.worker-saturation"] = float("inf")
    saved = dict(os.environ)  # LocalCluster sets OMP_NUM_THREADS=1 here too: the caller's process keeps its own
    with dask.config.set(environ):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR)  # fmt: skip
    for name in set(os.environ) - set(saved):
        del os.environ[name]
    os.environ.update(saved)
    return Client(cluster), cluster


def run_on_cluster(function, items: list[Item], log: ResultLog, *args, workers: int | None = None,
                   address: str | None = None, on_result=None) -> dict:  # fmt: skip
    """:func:`run_tasks` on the cluster :func:`connect` gives for ``workers`` or
    ``address``, let go afterwards (a local one stopped), also when interrupted."""
    client, cluster = connect(workers, address)
    try:
        return run_tasks(client, function, items, log, *args, on_result=on_result)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_tasks(client, function, items: list[Item], log: ResultLog, *args, on_result=None) -> dict:
    """``function(item, *args)`` for every item not yet in ``log``, on the cluster; each
    result (a dict with ``id``) is written to ``log`` as it arrives and passed to
    ``on_result``. Returns counts: ``done`` (this run), ``skipped`` (already in the log),
    ``errors`` (this run)."""
    from dask.distributed import as_completed

    todo = [item for item in items if item.id not in log.done]
    counts = {"done": 0, "skipped": len(items) - len(todo), "errors": 0}
    # Tasks in flight: enough that no worker waits for its next file (4 per worker cost ~10
    # ms a file in round trips, measured), few enough that a million-file manifest is not
    # a million tasks on the scheduler. Only finished files are written; the rest run again.
    window = max(32, 16 * sum(client.nthreads().values()))
    pending = iter(todo)

    in_flight, serial = {}, itertools.count()  # task key -> item

    def submit(item):
        key = f"{function.__name__}-{time.time_ns()}-{next(serial)}"  # unique, even across runs
        in_flight[key] = item
        return client.submit(function, item, *args, pure=False, key=key)

    running = as_completed([submit(item) for _, item in zip(range(window), pending)])
    for future in running:
        row = _result_row(future, in_flight.pop(future.key))
        future.release()
        log.write(row)
        counts["done"] += 1
        counts["errors"] += "error" in row
        if on_result is not None:
            on_result(row)
        following = next(pending, None)
        if following is not None:
            running.add(submit(following))
    return counts


def _result_row(future, item: Item) -> dict:
    """The task's own line, or an error line when it raised or its workers kept dying."""
    from distributed import KilledWorker

    row, error = guarded(future.result)  # a task that raised is reported like a failed file
    if error is None:
        return row
    if isinstance(future.exception(), KilledWorker):
        error = ErrorText("the worker processes running this file died each time it was tried (out of memory, "
                          "or killed); the other files went on.", "KilledWorker")  # fmt: skip
    return error_row(item, error)


def error_row(item: Item, error: ErrorText) -> dict:
    """The output line of a file that failed: its message and its error's class name (the
    :class:`~minis2t.errors.ErrorText` crossed the worker boundary by pickle, kind kept)."""
    kind = getattr(error, "kind", "MiniS2TError")
    return {"id": item.id, "path": item.path, "error": str(error), "error_type": kind}


# --- scores ---------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Lower case, punctuation removed (apostrophes inside words kept), spaces collapsed:
    references and outputs are compared as words, not as typography."""
    text = re.sub(r"[^\w\s']|(?<!\w)'|'(?!\w)", " ", text.lower())
    return " ".join(text.split())


def scores(items: list[Item], rows: dict[str, dict]) -> dict | None:
    """WER and CER (jiwer) over the items with a reference and a transcript, normalised,
    with the counts that say what they cover: ``files`` (scored), ``references`` (items
    with a reference), ``failed`` (of those, how many have an error line instead of a
    transcript). None when no item has a reference."""
    with_reference = [i for i in items if i.reference and normalise(i.reference)]
    if not with_reference:
        return None
    failed = sum("error" in rows.get(i.id, {}) for i in with_reference)
    pairs = [(normalise(i.reference), normalise(rows[i.id]["text"])) for i in with_reference
             if "text" in rows.get(i.id, {})]  # fmt: skip
    out = {"files": len(pairs), "references": len(with_reference), "failed": failed, "wer": None, "cer": None}
    if pairs:
        import jiwer

        refs, hyps = [r for r, _ in pairs], [h for _, h in pairs]
        out.update(wer=jiwer.wer(refs, hyps), cer=jiwer.cer(refs, hyps))
    return out


def score_sentence(score: dict) -> str:
    """The scores in one sentence that says which files they cover and which they leave
    out: failed files have no transcript and are not in the WER."""
    n = score["references"]
    left_out = "" if not score["failed"] else (
        f"; {score['failed']} of the {n} files with a reference FAILED (no transcript) and are not in "
        f"these numbers")  # fmt: skip
    if score["wer"] is None:
        return (f"No WER: none of the {n} files with a reference has a transcript "
                f"({score['failed']} failed, the others not run yet).")  # fmt: skip
    return (f"WER {100 * score['wer']:.2f} %, CER {100 * score['cer']:.2f} % over the {score['files']} files "
            f"with a reference and a transcript (lower case, punctuation removed){left_out}.")  # fmt: skip
