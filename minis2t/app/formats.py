"""Transcripts as files: plain text, JSON, SubRip (SRT), WebVTT and TSV.

Each writer takes one recording's result, ``{"text": str, "segments": [{"start": s,
"end": s, "text": str, ...}]}`` (what :meth:`minis2t.Speech2Text.transcribe_long`
returns), and returns the file's text. TSV has whisper's columns: start and end in
integer milliseconds, then the text.
"""

from __future__ import annotations

import json

FORMATS = ("txt", "json", "srt", "vtt", "tsv")


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
    return "".join(s["text"] + "\n" for s in result["segments"])


def to_srt(result: dict) -> str:
    cues = [f"{i}\n{timestamp(s['start'], ',')} --> {timestamp(s['end'], ',')}\n{_line(s['text'])}\n"
            for i, s in enumerate(result["segments"], 1)]  # fmt: skip
    return "\n".join(cues)


def to_vtt(result: dict) -> str:
    cues = [f"{timestamp(s['start'], '.')} --> {timestamp(s['end'], '.')}\n{_line(s['text'])}\n"
            for s in result["segments"]]  # fmt: skip
    return "WEBVTT\n\n" + "\n".join(cues)


def tsv_row(segment: dict) -> str:
    """``start<TAB>end<TAB>text``, times in integer milliseconds (whisper's columns)."""
    return f"{int(round(1000 * segment['start']))}\t{int(round(1000 * segment['end']))}\t{_line(segment['text'])}"


def to_tsv(result: dict) -> str:
    return "start\tend\ttext\n" + "".join(tsv_row(s) + "\n" for s in result["segments"])


def to_json(result: dict) -> str:
    return json.dumps(result, indent=2, ensure_ascii=False) + "\n"


WRITERS = {"txt": to_txt, "json": to_json, "srt": to_srt, "vtt": to_vtt, "tsv": to_tsv}
