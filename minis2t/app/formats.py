"""Transcripts as files: plain text, JSON, SubRip (SRT), WebVTT and TSV.

Each writer takes one recording's result, ``{"text": str, "segments": [{"start": s,
"end": s, "text": str, ...}]}`` (what :meth:`minis2t.Speech2Text.transcribe_long`
returns), and returns the file's text. TSV has whisper's columns: start and end in
integer milliseconds, then the text.

A segment that was not understood (``"understood": false``, see
:mod:`minis2t.app.confidence`) shows the marker *and* what the model heard —
``[not understood: call bob]`` — in text, SRT, WebVTT and TSV, so a reader knows both that
the model was unsure and what it guessed; JSON keeps its text, its confidence and the flag.
"""

from __future__ import annotations

import json

FORMATS = ("txt", "json", "srt", "vtt", "tsv")
MARKER = "[not understood]"  # around a segment's text when the model was not confident of it


def segment_text(segment: dict) -> str:
    """What a reader is shown of a segment: its text, or, when not understood, the marker
    with the text it heard (``[not understood: call bob]``; the bare marker if it heard none)."""
    if segment.get("understood", True):
        return segment["text"]
    heard = " ".join(segment["text"].split())
    return f"{MARKER[:-1]}: {heard}]" if heard else MARKER


def escaped(text) -> str:
    """``text`` safe to print on a terminal line: every control or format character (a
    newline, a carriage return, ESC and the terminal sequences it starts, a bidirectional
    override, ...) written as its Python escape (``\\n``, ``\\x1b``, ``\\u202e``), so that a
    file name or an option a user gave can neither break a one-line message nor move,
    recolour or clear the screen. Printable text, accents and scripts included, is kept."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def shown_text(result: dict) -> str:
    """The recording's text with each segment not understood replaced by the marker."""
    if all(s.get("understood", True) for s in result["segments"]):
        return result["text"]
    return " ".join(segment_text(s) for s in result["segments"])


def timestamp(seconds: float, marker: str, always_hours: bool = True) -> str:
    """``HH:MM:SS<marker>mmm`` (SRT: ``,``; WebVTT: ``.``)."""
    ms = max(0, int(round(seconds * 1000)))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    head = f"{hours:02d}:" if always_hours or hours else ""
    return f"{head}{minutes:02d}:{secs:02d}{marker}{ms:03d}"


def _line(text: str) -> str:
    """Subtitle text on one line (a blank line would end the cue)."""
    return " ".join(text.split()) or "…"


def to_txt(result: dict) -> str:
    return "".join(segment_text(s) + "\n" for s in result["segments"])


def cues(result: dict, max_line_width: int | None = None, max_line_count: int | None = None) -> list[tuple]:
    """``(start, end, text)`` of each subtitle cue: one per segment, or — with
    ``max_line_width`` (characters per line, words kept whole: a longer word is a line of
    its own) and/or ``max_line_count`` (lines per cue) — each segment's words wrapped into
    lines and the lines grouped into cues, a cue timed from its first word's start to its
    last word's end (the segment's start for its first cue, its end for its last). Needs
    the segments' ``words``.

    No cue is ever empty: blank words are left out (a segment without a word left is one
    cue of its text), and a cue whose words' times coincide (a word of 0 ms) is given at
    least one millisecond, its neighbours moved aside within the segment
    (:func:`_spread`)."""
    if max_line_width is None and max_line_count is None:
        return [(s["start"], s["end"], _line(segment_text(s))) for s in result["segments"]]
    out = []
    for segment in result["segments"]:
        words = [w for w in segment.get("words") or [] if w["word"].strip()]
        if not segment.get("understood", True) or not words:  # one cue: the marker with what was heard
            out.append((segment["start"], segment["end"], _line(segment_text(segment))))
            continue
        lines = _wrap(words, max_line_width)
        per_cue = max_line_count or len(lines)
        group_cues = []
        for k in range(0, len(lines), per_cue):
            group = lines[k : k + per_cue]
            text = "\n".join(" ".join(w["word"].strip() for w in line) for line in group)
            start = segment["start"] if k == 0 else group[0][0]["start"]
            end = segment["end"] if k + per_cue >= len(lines) else max(group[-1][-1]["end"], start)
            group_cues.append((start, end, text))
        out.extend(_spread(group_cues, segment["start"], segment["end"]))
    return out


def _spread(cues_: list[tuple], first: float, last: float) -> list[tuple]:
    """One segment's cues with times in whole milliseconds (what SRT and WebVTT write), each
    lasting at least 1 ms and none overlapping the next: pushed forward from ``first``, then
    pulled back within ``last``. A segment shorter than one millisecond a cue (no real
    recording) becomes one cue holding every line."""
    ms = [[round(1000 * a), round(1000 * b), text] for a, b, text in cues_]
    lo, hi = round(1000 * first), max(round(1000 * last), round(1000 * first))
    if hi - lo < len(ms):
        return [(first, last, "\n".join(text for _, _, text in ms))]
    floor = lo
    for cue in ms:  # forward: after the previous cue, at least 1 ms long
        cue[0] = max(cue[0], floor)
        cue[1] = max(cue[1], cue[0] + 1)
        floor = cue[1]
    ceiling = hi
    for cue in reversed(ms):  # backward: within the segment's end, still at least 1 ms long
        cue[1] = min(cue[1], ceiling)
        cue[0] = min(cue[0], cue[1] - 1)
        ceiling = cue[0]
    return [(a / 1000, b / 1000, text) for a, b, text in ms]


def _wrap(words: list[dict], width: int | None) -> list[list[dict]]:
    """Words filled into lines of at most ``width`` characters (a longer word alone)."""
    lines: list[list[dict]] = []
    used = 0
    for w in words:
        size = len(w["word"].strip())
        if lines and (width is None or used + 1 + size <= width):
            lines[-1].append(w)
            used += 1 + size
        else:
            lines.append([w])
            used = size
    return lines


def to_srt(result: dict, max_line_width: int | None = None, max_line_count: int | None = None) -> str:
    cues_ = cues(result, max_line_width, max_line_count)
    return "\n".join(f"{i}\n{timestamp(a, ',')} --> {timestamp(b, ',')}\n{text}\n"
                     for i, (a, b, text) in enumerate(cues_, 1))  # fmt: skip


def to_vtt(result: dict, max_line_width: int | None = None, max_line_count: int | None = None) -> str:
    cues_ = cues(result, max_line_width, max_line_count)
    return "WEBVTT\n\n" + "\n".join(f"{timestamp(a, '.')} --> {timestamp(b, '.')}\n{text}\n"
                                     for a, b, text in cues_)  # fmt: skip


def tsv_row(segment: dict) -> str:
    """``start<TAB>end<TAB>text``, times in integer milliseconds (whisper's columns)."""
    return f"{int(round(1000 * segment['start']))}\t{int(round(1000 * segment['end']))}\t{_line(segment_text(segment))}"


def to_tsv(result: dict) -> str:
    return "start\tend\ttext\n" + "".join(tsv_row(s) + "\n" for s in result["segments"])


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False) + "\n"


WRITERS = {"txt": to_txt, "json": to_json, "srt": to_srt, "vtt": to_vtt, "tsv": to_tsv}
