"""The ``minis2t`` command.

    minis2t transcribe FILE... [--model DIR|bundled-asr|bundled-st] [--beams N] [--max-length N] [--language xx]
                               [--task transcribe|translate] [--batch-size N] [--device cpu]
                               [--output-format txt|json|srt|vtt|tsv|all] [--output-dir DIR]
                               [--max-line-width N] [--max-line-count N]
                               (FILE "-" reads one recording from standard input; whisper's
                               spellings --output_format, --output_dir, --beam_size also work)
    minis2t FILE...             the same as minis2t transcribe FILE... (whisper's habit)
    minis2t --version
    minis2t corpus MANIFEST --output OUT.jsonl [--model ...] [--workers N] [--address tcp://HOST:8786]
                                a manifest's files on a Dask cluster, resumable (minis2t.app.corpus)
    minis2t demo                transcribe the bundled test recordings, print reference and hypothesis
    minis2t info [DIR]          config, parameter count and files of a model directory
    minis2t features [FILE...]  load audio, extract features, print a summary
    minis2t export-onnx MODEL OUT_DIR [--opset N] [--fused] [--quantize int8] [--traced]
                                ONNX graphs that onnxruntime runs (minis2t.app.onnx_export)
    minis2t golden write MODEL RECORDING OUT.safetensors | golden check GOLDEN PORT
                                golden tensors for ports, and a port checked stage by stage (minis2t.app.golden)

Without ``--model``, ``transcribe`` uses the model bundled with the package; without
FILE, ``features`` uses the bundled recording.

Exit codes: 0 all files transcribed; 1 one or more files failed (each reports its error on
stderr, the others still print their text); 2 a usage error (bad option, unknown model
directory, invalid generation option, unusable --output-dir, a language or task the model
does not have), in one line, before any file is read.

Each sub-command is two functions — one adds its parser (``_add_transcribe(subparsers)``),
one runs it (``_transcribe(args) -> int``, the exit status) — registered in the table
``COMMANDS`` at the end of this module. A sub-command in a module of its own
(``minis2t/app/NAME.py`` with ``add_parser(subparsers)``, which calls
``subparsers.add_parser("NAME", ...)``, and ``run(args) -> int``) is registered by one line
in that table::

    "NAME": _from_module("NAME"),
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import shutil
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from .._version import __version__
from ..engine.nn import usable_cores
from ..engine.onnx_format import DEFAULT_OPSET, GRAPHS
from ..engine.runtime import THREADS_RULE, check_threads
from ..errors import MiniS2TError, OutputError, UsageError, guarded
from ..io.audio import SAMPLING_RATE, load_audio
from ..io.checkpoint import BUNDLED_MODELS, resolve_model_dir
from ..io.decoders import header_seconds
from ..io.features import FeatureExtractor, fbank
from . import corpus
from .formats import FORMATS, WRITERS, escaped, segment_text, shown_text, tsv_row
from .longform import NO_WORDS
from .onnx_cache import describe_runtime
from .onnx_export import export
from .pipeline import BUNDLED_MODEL, Speech2Text

ASSETS = Path(__file__).parents[1] / "assets"
BUNDLED_RECORDING = ASSETS / "en_librispeech_dev-clean_1272-128104-0000.flac"
BUNDLED_TRANSCRIPT = (
    "MISTER QUILTER IS THE APOSTLE OF THE MIDDLE CLASSES AND WE ARE GLAD TO WELCOME HIS GOSPEL"
)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def thread_count(text: str) -> int:
    """``--threads``: a positive integer, at most the usable cores (the API's rule:
    :func:`minis2t.engine.runtime.check_threads`)."""
    value = positive_int(text)
    try:
        return check_threads(value)
    except MiniS2TError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def unit_interval(text: str) -> float:
    """A number in [0, 1] (``--min-confidence``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text}")
    return value


class Parser(argparse.ArgumentParser):
    """argparse, with its usage errors in one line (exit 2): the error and where help is."""
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def shorthand(argv: list[str]) -> list[str]:
    """``minis2t FILE ...`` (whisper's habit) means ``minis2t transcribe FILE ...`` when the
    first argument cannot be anything else: not a command, not --help or --version, and
    an existing path, ``-`` (standard input) or an option of ``transcribe``."""
    if not argv or argv[0] in COMMANDS or argv[0] in ("-h", "--help", "--version"):
        return argv
    first = argv[0]
    if first == "-" or Path(first).exists() or first.startswith("-"):  # a file, stdin, or an option
        return ["transcribe", *argv]
    return argv


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the process's), run the sub-command, return its exit status."""
    argv = shorthand(list(sys.argv[1:] if argv is None else argv))
    parser = Parser(prog="minis2t", description="Speech2Text in NumPy. "
                                     "`minis2t FILE...` is short for `minis2t transcribe FILE...`.")  # fmt: skip
    parser.add_argument("--version", action="version", version=f"minis2t {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add_parser, _ in COMMANDS.values():
        add_parser(subparsers)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # a usage error (exit 2) or --help (0), already printed
        return int(e.code or 0)
    try:
        return COMMANDS[args.command][1](args)
    except MiniS2TError as e:  # found before any file was read: one line, no traceback
        print(f"minis2t: error: {escaped(' '.join(str(e).split()))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`minis2t ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141  # 128 + SIGPIPE, what a shell reports for a program killed by it


# --- the sub-commands' parsers ------------------------------------------------------------------


def _add_transcribe(subparsers) -> None:
    tr = subparsers.add_parser("transcribe", help="transcribe (or translate) audio files")
    tr.add_argument("files", nargs="+", help="audio files (WAV, FLAC, OGG, MP3, M4A, MP4, WebM, MKV, ...); - reads stdin")
    tr.add_argument("--model", default=None, help="model directory, or bundled-asr (the default) or "
                    "bundled-st (English speech -> fr, de, es; with --language)")
    beams = tr.add_argument("--beams", type=positive_int, default=None,
                            help="beam size (default: the model's; whisper's --beam_size works too)")
    max_length = tr.add_argument("--max-length", type=positive_int, default=None, help="longest output in tokens")
    tr.add_argument("--language", default=None, help="the TARGET language of a translation model (e.g. "
                    "--model bundled-st --language de); unlike whisper's --language it does not name the "
                    "spoken language, and a monolingual model takes none")
    tr.add_argument("--task", choices=["transcribe", "translate"], default=None,
                    help="what the model must do, checked against it: transcribe (a recogniser, e.g. "
                         "bundled-asr) or translate (a translation model, e.g. bundled-st, into "
                         "--language); default: what the model does")
    tr.add_argument("--search", choices=["transformers", "fairseq"], default="transformers",
                    help="beam search rules: transformers' generate (default) or fairseq's "
                         "SequenceGenerator (as fairseq's published WERs were decoded)")  # fmt: skip
    tr.add_argument("--batch-size", type=positive_int, default=8, help="segments decoded together")
    output_format = tr.add_argument("--output-format", "-f", choices=["text", "txt", "json", "srt", "vtt", "tsv", "all"],
                                    default="text", help="text (= txt), json, srt, vtt, tsv (whisper's columns), "
                                    "or all of them (with --output-dir)")  # fmt: skip
    output_dir = tr.add_argument("--output-dir", "-o", default=None, help="write DIR/<name>.<format> per recording "
                                 "instead of stdout (created if needed)")  # fmt: skip
    tr.add_argument("--word-timestamps", action=argparse.BooleanOptionalAction, default=True,
                    help="time every word (JSON's segments get 'words'; on by default)")
    line_width = tr.add_argument("--max-line-width", type=positive_int, default=None,
                                 help="subtitles (srt, vtt): at most N characters per line, words kept whole")
    line_count = tr.add_argument("--max-line-count", type=positive_int, default=None,
                                 help="subtitles (srt, vtt): at most N lines per cue; a segment's words are "
                                      "spread over several cues, timed by their words")  # fmt: skip
    # whisper's spellings, hidden from --help; an error names the spelling that was typed
    for action, spellings in ((beams, ["--beam_size", "--beam-size"]), (max_length, ["--max_length"]),
                              (output_format, ["--output_format"]), (output_dir, ["--output_dir"]),
                              (line_width, ["--max_line_width"]), (line_count, ["--max_line_count"])):  # fmt: skip
        for spelling in spellings:
            tr.add_argument(spelling, dest=action.dest, type=action.type, choices=action.choices,
                            default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    tr.add_argument("--min-confidence", type=unit_interval, default=None,
                    help="segments less confident than this (0-1) are 'not understood' (default: the "
                         "model's threshold, from its confidence.json; 0 accepts everything)")  # fmt: skip
    tr.add_argument("--threads", type=thread_count, default=None,
                    help=f"BLAS threads, or onnxruntime's: 1 to {usable_cores()} here, {THREADS_RULE} "
                         f"(default: all cores)")  # fmt: skip
    tr.add_argument("--runtime", choices=["numpy", "onnx"], default=None,
                    help="what computes the network: onnx (onnxruntime on graphs built from the weights and "
                         "cached; the default where minis2t[onnx] is installed) or numpy (the NumPy engine)")
    tr.add_argument("--quiet", action="store_true", help="no progress, no segments as they are decoded")
    tr.add_argument("--device", default="cpu", help="only cpu: minis2t is NumPy")


def _add_corpus(subparsers) -> None:
    co = subparsers.add_parser("corpus", help="transcribe every file of a manifest on a Dask cluster "
                               "(local worker processes, or a running cluster); resumable")  # fmt: skip
    co.add_argument("manifest", help="TSV with a header: path (required), id, reference (optional)")
    co.add_argument("--output", required=True, help="OUT.jsonl: one line per file, {id, path, text, "
                    "segments} (as transcribe's JSON, without word times) or {id, path, error}; ids "
                    "already in it are skipped (re-run to resume)")
    co.add_argument("--model", default=None, help="model directory (readable by every worker), bundled-asr "
                    "(the default) or bundled-st")
    co.add_argument("--workers", type=positive_int, default=None,
                    help="local worker processes (default: one per core); each gets its share of the cores")
    co.add_argument("--address", default=None, help="a running Dask scheduler (tcp://HOST:8786) to use "
                    "instead of local workers")
    co.add_argument("--beams", type=positive_int, default=None, help="beam size (default: the model's)")
    co.add_argument("--language", default=None, help="target language of a multilingual model")
    co.add_argument("--batch-size", type=positive_int, default=8, help="segments decoded together")
    co.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_demo(subparsers) -> None:
    subparsers.add_parser("demo", help="transcribe the bundled recordings with the bundled model")


def _add_info(subparsers) -> None:
    info = subparsers.add_parser("info", help="describe a model directory")
    info.add_argument("model", nargs="?", default=None, help="model directory, bundled-asr (default) or bundled-st")
    info.add_argument("--runtime", choices=["numpy", "onnx"], default=None, help="the runtime to load it with "
                      "(default: onnx where minis2t[onnx] is installed)")


def _add_convert(subparsers) -> None:
    conv = subparsers.add_parser("convert", help="write a model (e.g. a fairseq S2T directory) in the "
                                 "Hugging Face layout, which transformers loads")  # fmt: skip
    conv.add_argument("source", help="model directory: fairseq (*.pt + config.yaml) or Hugging Face")
    conv.add_argument("target", help="new directory to write (must not exist, or be empty)")


def _add_export_onnx(subparsers) -> None:
    exp = subparsers.add_parser("export-onnx", help="export a model to ONNX graphs that onnxruntime runs, "
                                "written from minis2t's reference (needs onnx: pip install 'minis2t[onnx]')")  # fmt: skip
    exp.add_argument("model", help="model directory (Hugging Face or fairseq), bundled-asr or bundled-st")
    exp.add_argument("out_dir", help="new directory to write (must not exist, or be empty); "
                     "then: minis2t transcribe FILE --model OUT_DIR")
    exp.add_argument("--opset", type=positive_int, default=None, help="ONNX opset (default 18; 17 or later)")
    exp.add_argument("--dtype", choices=["float32"], default="float32", help="weights and activations")
    kind = exp.add_mutually_exclusive_group()
    kind.add_argument("--fused", action="store_true", help="onnxruntime's fused operators and a decoder that "
                      "writes its cache in place (run by onnxruntime's CPU provider)")
    exp.add_argument("--quantize", choices=["int8"], default=None, help="dynamic int8 weight products "
                     "(fused graphs; faster, slightly different numbers: see the ONNX page)")
    kind.add_argument("--traced", action="store_true", help="trace transformers' modules instead (the oracle "
                      "of the built graphs; needs torch and transformers: pip install 'minis2t[export]')")


def _add_features(subparsers) -> None:
    feats = subparsers.add_parser("features", help="extract log-mel features and summarise them")
    feats.add_argument("files", nargs="*", help="audio files (default: the bundled recording)")
    feats.add_argument("--num-mel-bins", type=int, default=80)


# --- the sub-commands ----------------------------------------------------------------------------


def _model_dir(given: str | None) -> str:
    if given is not None:
        return given
    if not (BUNDLED_MODEL / "config.json").is_file():
        raise MiniS2TError("no bundled model in this installation: pass --model DIR.")
    return str(BUNDLED_MODEL)


def _transcribe(args) -> int:

    # Everything that can be wrong with the command line is found here, before any file
    # is read: the options, the output directory, the model, the task and the language.
    if args.device != "cpu":
        raise UsageError(f"--device {args.device}: minis2t runs on the CPU (NumPy). The PyTorch twin in "
                         f"parity/ runs on CUDA.")  # fmt: skip
    if args.files.count("-") > 1:
        raise UsageError("standard input (-) can be read only once.")
    formats = _formats(args)
    _check_subtitle_options(args, formats)
    if args.output_dir is not None:
        _check_output_dir(args.output_dir, args.files)
    model = Speech2Text.from_pretrained(_model_dir(args.model), threads=args.threads, runtime=args.runtime)
    _check_task_and_language(model, args)
    options = {"search": args.search}
    if args.beams is not None:
        options["num_beams"] = args.beams
    if args.max_length is not None:
        options["max_length"] = args.max_length
    model.transcribe([], language=args.language, **options)  # validate options and language once
    if not args.quiet:  # everything checked: say what will compute
        print(f"runtime: {describe_runtime(model.runtime)}", file=sys.stderr)
    directory = None if args.output_dir is None else _make_output_dir(args.output_dir)  # all checked: now make it
    results = []  # (path, result or None, error or None) for each input, in order
    printer = ResultPrinter(formats[0], args) if directory is None else None
    with _threads(args.threads):
        for path, result, error in _run_files(model, args, options):
            if error is None and not result["text"]:
                result["warning"] = NO_WORDS
                print(f"{escaped(path)}: warning: {NO_WORDS}", file=sys.stderr)
            if error is None:
                _note_confidence(path, result)
            if error is None and directory is not None:
                _, error = guarded(_write_outputs, directory, path, result, formats, args)
            if error is not None:
                result = None
                print(f"{escaped(path)}: error: {escaped(error)}", file=sys.stderr)
            results.append((path, result, error))
            if printer is not None:  # out and flushed now: a later file's crash cannot take it back
                printer.add(path, result, error)
    if printer is not None:
        printer.close()
    if directory is not None or len(args.files) > 1:
        print(_summary(results, directory), file=sys.stderr)
    return 1 if any(error for _, _, error in results) else 0


def _summary(results: list, directory: Path | None) -> str:
    """One sentence counting every input: transcribed (with how many empty, how many
    segments not understood) and failed."""
    failed = sum(error is not None for _, _, error in results)
    empty = sum(error is None and not result["text"] for _, result, error in results)
    unclear = sum(_not_understood(result) for _, result, error in results if error is None)
    done = len(results) - failed
    where = f", written to {directory}" if directory is not None else ""
    return (f"{len(results)} file{'s' if len(results) != 1 else ''}: {done} transcribed{where}"
            f" ({empty} with no words{_segments_not_understood(unclear)}), {failed} failed.")  # fmt: skip


def _segments_not_understood(count: int) -> str:
    return f", {count} segment{'s' if count != 1 else ''} not understood" if count else ""


def _not_understood(result: dict) -> int:
    return sum(not s.get("understood", True) for s in result["segments"])


def _note_confidence(path: str, result: dict) -> None:
    """A note on stderr when some of the file's segments were not understood."""
    unclear = _not_understood(result)
    if unclear:
        print(f"{escaped(path)}: {unclear} of {len(result['segments'])} segment(s) not understood (confidence below "
              f"the threshold; JSON keeps their text)", file=sys.stderr)  # fmt: skip


def _check_output_dir(given: str, files: list[str]) -> None:
    """``--output-dir``: a directory, or a path where one can be made, that can be written
    in (tried, not judged from permission bits, which say little to root or on a read-only
    file system), and in which no two inputs would get the same output name. Nothing is
    created yet: a usage error found later leaves no directory behind."""
    directory = Path(given)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--output-dir {given} exists and is not a directory; give a directory (it is "
                         f"created if needed).")  # fmt: skip
    existing = next(p for p in [directory, *directory.absolute().parents] if p.exists())
    if not existing.is_dir():
        raise UsageError(f"--output-dir {given}: cannot create it ({existing} is a file).")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".minis2t-probe-"):
            pass
    except OSError as e:
        verb = "write in" if existing == directory else "create"
        raise UsageError(f"--output-dir {given}: cannot {verb} it ({e.strerror or e}).") from None
    seen: dict[str, str] = {}
    for path in files:
        stem = _stem(path)
        if stem in seen and seen[stem] != path:
            raise UsageError(f"{seen[stem]} and {path} would both be written as {given}/{stem}.*; "
                             f"give them different names or separate runs.")  # fmt: skip
        seen[stem] = path


def _make_output_dir(given: str) -> Path:
    directory = Path(given)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--output-dir {given}: cannot create it ({e.strerror or e}).") from None
    return directory


def _stem(path: str) -> str:
    return "stdin" if path == "-" else Path(path).stem


def _check_task_and_language(model, args) -> None:
    """``--task`` and ``--language`` against what the model does: a recogniser (no target
    languages) transcribes; a translation model translates into one of its languages."""
    langs = model.languages
    bundled_st = "--model bundled-st --language de (English speech into fr, de or es)"
    if not langs and args.language is not None:
        raise UsageError(f"--language {args.language}: this model is monolingual (it transcribes one language) and takes no "
                         f"--language (in minis2t it names the TARGET language of a translation model, "
                         f"not the spoken one as in whisper); leave it out, or translate with "
                         f"{bundled_st}.")  # fmt: skip
    if args.task == "translate" and not langs:
        raise UsageError(f"--task translate: this model only transcribes; translation needs a translation "
                         f"model, e.g. {bundled_st}.")  # fmt: skip
    if args.task == "transcribe" and langs:
        raise UsageError(f"--task transcribe: this model translates (into {', '.join(langs)}, with "
                         f"--language); to transcribe, use a recogniser such as the default bundled-asr.")  # fmt: skip


def _check_subtitle_options(args, formats: list[str]) -> None:
    """--max-line-width / --max-line-count shape subtitles from word times."""
    given = [f"--max-line-{n}" for n in ("width", "count") if getattr(args, f"max_line_{n}") is not None]
    if not given:
        return
    options = " and ".join(given)
    if not set(formats) & {"srt", "vtt"}:
        raise UsageError(f"{options} only shape{'s' if len(given) == 1 else ''} subtitles: use "
                         f"{'it' if len(given) == 1 else 'them'} with --output-format srt, vtt or all.")  # fmt: skip
    if not args.word_timestamps:
        raise UsageError(f"{options} place{'s' if len(given) == 1 else ''} lines by their words' times: "
                         f"leave out --no-word-timestamps.")  # fmt: skip


def _corpus(args) -> int:
    """``minis2t corpus``: see :mod:`minis2t.app.corpus`."""



    items = corpus.read_manifest(args.manifest)
    name = args.model or "bundled-asr"  # a name each worker resolves in its own installation
    if name not in BUNDLED_MODELS and Path(name).exists():
        name = str(Path(name).resolve())  # workers may start elsewhere
    options = {"batch_size": args.batch_size, "language": args.language}
    if args.beams is not None:
        options["num_beams"] = args.beams
    Speech2Text.from_pretrained(name).transcribe([], **options)  # model and options checked before any work
    log = corpus.ResultLog(args.output)
    start = time.perf_counter()
    show = not args.quiet and sys.stderr.isatty()
    bar = tqdm(total=len(items), unit="file", disable=not show,
               initial=sum(item.id in log.done for item in items))  # fmt: skip

    def on_result(row):
        bar.update(1)
        if "error" in row:
            bar.write(f"{escaped(row['path'])}: error: {escaped(row['error'])}", file=sys.stderr)

    try:
        counts = corpus.run_on_cluster(corpus.transcribe_item, items, log, name, options, workers=args.workers,
                                       address=args.address, on_result=on_result)  # fmt: skip
    except KeyboardInterrupt:
        print(f"\ninterrupted: {len(log.done)} results are in {args.output}; the same command finishes "
              f"the rest.", file=sys.stderr)  # fmt: skip
        return 130
    finally:
        bar.close()
        log.close()
    failed = [i for i in items if "error" in log.done.get(i.id, {})]
    print(f"{len(items)} files: {counts['done']} done in this run ({counts['errors']} with errors), "
          f"{counts['skipped']} already in {args.output}; {time.perf_counter() - start:.1f} s.")  # fmt: skip
    score = corpus.scores(items, log.done)
    if score is not None:
        print(corpus.score_sentence(score))
    if failed:
        print(f"{len(failed)} files have an error line; the first: {escaped(failed[0].path)}", file=sys.stderr)
    return 1 if failed else 0


def _formats(args) -> list[str]:
    """The file formats asked for (``text`` is ``txt``; ``all`` is every one)."""
    fmt = {"text": "txt"}.get(args.output_format, args.output_format)
    formats = list(FORMATS) if fmt == "all" else [fmt]
    if args.output_dir is None and (fmt == "all" or (fmt in ("srt", "vtt") and len(args.files) > 1)):
        raise UsageError(f"--output-format {args.output_format} writes one file per recording: "
                         f"give --output-dir DIR.")  # fmt: skip
    return formats


def _threads(n: int | None):
    """A context limiting the BLAS threads to ``n`` (threadpoolctl), or doing nothing."""
    if n is None:
        return contextlib.nullcontext()

    return threadpool_limits(limits=n)


def _run_files(model, args, options):
    """Yield ``(path, result, error)`` for every file, ``result`` as
    :meth:`~minis2t.Speech2Text.transcribe_long` returns it. Each file is read in blocks
    and cut at pauses, so files of any length work; a file that fails reports its error
    and the others go on. A progress bar counts files; with one file, its segments are
    printed to stderr as they are decoded (unless --quiet)."""


    show = not args.quiet and sys.stderr.isatty()
    files = tqdm(total=len(args.files), unit="file", disable=not show or len(args.files) < 2)
    for path in args.files:
        # within the file: a bar over its audio time (its length from the header, when it has one;
        # read only for a bar that shows: it opens the file and walks its stream a second time)
        seconds = header_seconds(path) if show else None
        audio = tqdm(total=seconds, unit="s", leave=False, disable=not show, position=1,
                     bar_format="{l_bar}{bar}| {n:.0f}/{total_fmt} s of audio [{elapsed}<{remaining}]")  # fmt: skip

        def on_progress(seconds, audio=audio):
            audio.update(seconds - audio.n)

        on_segment = None
        if show and len(args.files) == 1:
            on_segment = lambda s: audio.write(f"[{s['start']:8.2f} -> {s['end']:8.2f}] {segment_text(s)}",  # noqa: E731
                                               file=sys.stderr)  # fmt: skip
        source = sys.stdin.buffer if path == "-" else path
        result, error = guarded(model.transcribe_long, source, batch_size=args.batch_size,
                                language=args.language, on_segment=on_segment, on_progress=on_progress,
                                word_timestamps=args.word_timestamps, min_confidence=args.min_confidence,
                                **options)  # fmt: skip
        audio.close()
        files.update(1)
        yield path, result, error
    files.close()


def _write_outputs(directory: Path, path: str, result: dict, formats: list[str], args) -> None:
    """Every asked-for file of one recording, each written aside and then moved into
    place, so that a file in the directory is always whole."""
    for fmt in formats:
        target = directory / f"{_stem(path)}.{fmt}"
        try:
            _write_whole(target, WRITERS[fmt](result, **_subtitle_options(fmt, args)))
        except OSError as e:
            raise OutputError(f"cannot write {target} ({e.strerror or e}); the transcript was not "
                              f"saved.") from None  # fmt: skip


def _error_row(error) -> dict:
    """``{"error": message, "error_type": the minis2t.errors class}`` of a failed file."""
    return {"error": str(error), "error_type": getattr(error, "kind", "MiniS2TError")}


def _subtitle_options(fmt: str, args) -> dict:
    if fmt not in ("srt", "vtt"):
        return {}
    return {"max_line_width": args.max_line_width, "max_line_count": args.max_line_count}


def _write_whole(target: Path, text: str) -> None:
    """``text`` into ``target``: written to a hidden file beside it, then renamed (an
    atomic replace on POSIX), so no reader ever sees half a file."""
    aside = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        aside.write_text(text, encoding="utf-8")
        os.replace(aside, target)
    finally:
        aside.unlink(missing_ok=True)


class ResultPrinter:
    """Standard output, one file at a time: each file's output is printed and flushed as
    soon as it is done (a JSON array is written element by element, the same text
    ``json.dumps(rows, indent=2)`` gives), so that whatever happens to a later file, even
    a crash in native code, the earlier files' transcripts are already out."""

    def __init__(self, fmt: str, args):
        self.fmt, self.args, self.rows = fmt, args, 0

    def add(self, f: str, result: dict | None, error) -> None:
        fmt, args = self.fmt, self.args
        if fmt == "json":
            row = {"file": f, **(result if error is None else _error_row(error))}
            text = textwrap.indent(json.dumps(row, indent=2, ensure_ascii=False), "  ")
            sys.stdout.write(("[\n" if self.rows == 0 else ",\n") + text)
            self.rows += 1
        elif error is not None:
            return
        elif fmt == "tsv":  # whisper's columns, after the file's name
            for s in result["segments"]:
                print(f"{escaped(f)}\t{tsv_row(s)}")
        elif fmt in ("srt", "vtt"):
            print(WRITERS[fmt](result, **_subtitle_options(fmt, args)), end="")
        else:
            text = shown_text(result)
            print(text if len(args.files) == 1 else f"{escaped(f)}: {text}")
        sys.stdout.flush()

    def close(self) -> None:
        if self.fmt == "json":
            sys.stdout.write("[]\n" if self.rows == 0 else "\n]\n")
            sys.stdout.flush()


def _demo(args) -> int:
    """The README's main command: the bundled model on its bundled test recordings."""
    samples = BUNDLED_MODEL.parent / "samples"
    refs = json.loads((samples / "references.json").read_text())
    model = Speech2Text.from_pretrained()
    print(f"bundled model: {model}")
    hyps = model.transcribe([str(samples / r["file"]) for r in refs])
    correct = 0
    for r, hyp in zip(refs, hyps):
        correct += hyp == r["text"]
        print(f"\n{r['file']}  ({r.get('engine', 'espeak-ng')} voice {r['voice']})")
        print(f"  reference:  {r['text']}")
        print(f"  hypothesis: {hyp}")
    print(f"\n{correct} of {len(refs)} transcribed exactly. Try: {command_hint()}")
    translated = _demo_translation()
    return 0 if correct == len(refs) and translated else 1


def command_hint() -> str:
    """How this shell reaches the command: ``minis2t`` when it is on PATH, else the path of
    the installed script (``.venv/bin/minis2t`` after scripts/run.sh), with how to make it
    plain ``minis2t``."""
    script = Path(sys.executable).parent / "minis2t"
    found = shutil.which("minis2t")
    if found and (not script.is_file() or Path(found).resolve() == script.resolve()):
        return "minis2t transcribe YOUR.wav"
    if not script.is_file():
        return f"{sys.executable} -m minis2t transcribe YOUR.wav"
    relative = os.path.relpath(script)
    shown = relative if not relative.startswith("..") else str(script)
    return (f"{shown} transcribe YOUR.wav  (or `source {Path(shown).parent}/activate` once per shell, "
            f"then `minis2t transcribe YOUR.wav`)")


def _demo_translation() -> bool:
    """One bundled recording translated by the bundled translation model (into German)."""
    directory = BUNDLED_MODELS["bundled-st"]
    samples = directory.parent / "samples_st"
    if not (directory / "config.json").is_file():
        return True  # an installation without it
    model = Speech2Text.from_pretrained("bundled-st")
    ref = json.loads((samples / "references.json").read_text())[0]
    hyp = model.transcribe(str(samples / ref["file"]), language="de")[0]
    others = ", ".join(x for x in model.languages if x != "de")
    print(f"\ntranslation: {model}, --model bundled-st --language de (also {others})")
    print(f"  {ref['file']}  (English: {ref['text']})")
    print(f"  reference (de): {ref['translations']['de']}")
    print(f"  translation:    {hyp}")
    return hyp == ref["translations"]["de"]


def _info(args) -> int:

    directory = resolve_model_dir(_model_dir(args.model))
    model = Speech2Text.from_pretrained(directory, runtime=args.runtime)
    c, g = model.config, model.generation_config
    print(f"model directory {directory}")
    print(f"  runtime       {describe_runtime(model.runtime)}")
    print(f"  architecture  d_model {c.d_model}, {c.encoder_layers} encoder + {c.decoder_layers} "
          f"decoder layers, {c.encoder_attention_heads} heads, FFN {c.encoder_ffn_dim}, "
          f"conv {c.num_conv_layers} x {list(c.conv_kernel_sizes)} ({c.conv_channels} channels)")  # fmt: skip
    print(f"  vocabulary    {c.vocab_size} tokens" + (
        f", translates into {', '.join(model.languages)}"
        + (f" (codes in the vocabulary: {', '.join(model.tokenizer.langs)})" if model.languages != model.tokenizer.langs else "")
        if model.tokenizer and model.tokenizer.langs else ""))  # fmt: skip
    print(f"  parameters    {model.num_parameters:,} ({'tied' if c.tie_word_embeddings else 'untied'} LM head)")
    print(f"  limits        {c.max_source_positions} encoder positions "
          f"({c.max_source_positions * 2**c.num_conv_layers / 100:.0f} s of audio), "
          f"{c.max_target_positions} decoder positions")  # fmt: skip
    print(f"  generation    num_beams {g.num_beams}, max_length {g.max_length}, "
          f"early_stopping {g.early_stopping}, length_penalty {g.length_penalty}")  # fmt: skip
    print("  files")
    for f in sorted(directory.iterdir()):
        if f.is_file():
            print(f"    {f.name:32s} {f.stat().st_size:>12,} bytes")
    return 0


def _convert(args) -> int:

    target = Path(args.target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise MiniS2TError(f"{target} exists and is not an empty directory; nothing was written.")
    model = Speech2Text.from_pretrained(args.source)
    model.save_pretrained(target)
    print(f"wrote {escaped(target)}: {model.num_parameters:,} parameters, {model.config.vocab_size} tokens")
    extractor = model.feature_extractor
    if extractor is not None and extractor.global_cmvn is not None:
        print("note: this model normalises features with global CMVN statistics (kept in "
              "preprocessor_config.json as 'global_cmvn'); minis2t applies them, but "
              "transformers' feature extractor does not: normalise its features yourself.",
              file=sys.stderr)  # fmt: skip
    return 0


def _export_onnx(args) -> int:
    """``minis2t export-onnx``: see :mod:`minis2t.app.onnx_export`."""
    graphs = "traced" if args.traced else "fused" if (args.fused or args.quantize) else "plain"
    out = export(args.model, args.out_dir, args.opset or DEFAULT_OPSET, args.dtype, graphs, args.quantize)
    sizes = ", ".join(f"{name} {(out / name).stat().st_size / 1e6:.1f} MB" for name in GRAPHS.values())
    print(f"wrote {escaped(out)}: {sizes}; run it with: minis2t transcribe FILE --model {out}")
    return 0


def _features(args) -> int:
    files = args.files or [str(BUNDLED_RECORDING)]
    if not args.files:
        print(f"bundled recording: {BUNDLED_RECORDING.name}")
        print(f"reference:         {BUNDLED_TRANSCRIPT}")
    extractor = FeatureExtractor(feature_size=args.num_mel_bins, num_mel_bins=args.num_mel_bins)
    failures = 0
    for path in files:
        try:
            wave = load_audio(path)
            raw = fbank(wave, args.num_mel_bins)  # [T, F]
            normalised = extractor(wave)["input_features"][0]  # [T, F]
        except MiniS2TError as e:
            print(f"{escaped(path)}: error: {escaped(e)}", file=sys.stderr)
            failures += 1
            continue
        print(escaped(path))
        print(f"  waveform   {wave.shape[0]} samples, {wave.shape[0] / SAMPLING_RATE:.2f} s at "
              f"16 kHz, peak {np.abs(wave).max():.3f}")  # fmt: skip
        print(f"  log-mel    {raw.shape[0]} frames x {raw.shape[1]} bins, "
              f"range [{raw.min():.2f}, {raw.max():.2f}], mean {raw.mean():.2f}")  # fmt: skip
        print(f"  after CMVN mean {normalised.mean():+.1e}, std {normalised.std():.3f}")
        print(f"  loudest frame {int(raw.sum(1).argmax())} "
              f"({raw.sum(1).argmax() * 0.01:.2f} s); mean log-mel per band, low -> high:")  # fmt: skip
        print("  " + _sparkline(raw.mean(axis=0)))
    return 1 if failures else 0


def _sparkline(values: np.ndarray) -> str:
    """A one-line bar chart of ``values`` (low -> high mel bins)."""
    bars = " ▁▂▃▄▅▆▇█"
    lo, hi = float(values.min()), float(values.max())
    scaled = (values - lo) / (hi - lo + 1e-12) * (len(bars) - 1)
    return "".join(bars[int(round(v))] for v in scaled)



# --- the registration table ------------------------------------------------------------------------


def _from_module(name: str) -> tuple:
    """A sub-command in a module of its own, ``minis2t.app.<name>``, with
    ``add_parser(subparsers)`` and ``run(args) -> int``."""
    module = importlib.import_module(f"{__package__}.{name}")
    return module.add_parser, module.run


# name -> (add its parser to the sub-parsers, run it on the parsed arguments -> exit status),
# in the order --help lists them. A sub-command in a module of its own is one line, e.g.
#     "explain": _from_module("explain"),
COMMANDS = {
    "transcribe": (_add_transcribe, _transcribe),
    "corpus": (_add_corpus, _corpus),
    "demo": (_add_demo, _demo),
    "info": (_add_info, _info),
    "convert": (_add_convert, _convert),
    "export-onnx": (_add_export_onnx, _export_onnx),
    "features": (_add_features, _features),
    "explain": _from_module("explain"),
    "golden": _from_module("golden"),
}


if __name__ == "__main__":
    sys.exit(main())
