"""The one reader of a model directory's JSON files: bounded in size and in depth.

config, generation, preprocessor, tokenizer and confidence files, vocabularies, weight
indexes, safetensors headers (``io``) and an ONNX directory's manifest (``engine``) are all
read here, so that no JSON a user hands over can exhaust memory or recurse until Python's
``RecursionError``: every failure is the caller's typed error, naming the file. It sits in
the bottom layer, beside ``errors``, because the engine and io both read JSON and neither
may import the other.
"""

from __future__ import annotations

import json
import re
from pathlib import Path


# The deepest JSON a model directory holds is 3 levels (generation_config.json's
# alignment_heads: an object of lists of lists); transformers' tokenizer.json reaches 5. 32
# leaves room and stays far below Python's recursion limit (1000), where json.loads fails
# with a RecursionError instead of a message.
MAX_JSON_DEPTH = 32
# The largest JSON file of a model directory is vocab.json: ~0.2 MB for 10 000 pieces, ~6 MB
# for a 250 000-piece vocabulary. Parsed, JSON takes ~10x its size in Python objects.
MAX_JSON_BYTES = 64 * 2**20
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKETS = re.compile(r"[^\[\]{}]+")


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``text``'s arrays and objects nest deeper than ``limit``, found without
    parsing (strings removed, then the brackets counted, stopping at the first too deep)."""
    depth = 0
    for bracket in _JSON_BRACKETS.sub("", _JSON_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > limit:
            return True
    return False


def parse_json(text: str, source, error: type[Exception], advice: str = ""):
    """``text`` parsed as JSON, or ``error`` naming ``source``: nesting deeper than
    :data:`MAX_JSON_DEPTH` is refused before parsing (json.loads would recurse until a
    RecursionError), as is malformed text; ``advice`` ends each message."""
    if json_depth_exceeds(text):
        raise error(f"{source}: JSON nested more than {MAX_JSON_DEPTH} levels deep; no model file is, "
                    f"the file is damaged or not what it claims to be.{advice}")  # fmt: skip
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise error(f"{source} is not valid JSON ({e}).{advice}") from None


def read_json_file(path, error: type[Exception], advice: str = ""):
    """The JSON value in file ``path`` (any JSON value; callers check its type), read at most
    :data:`MAX_JSON_BYTES` and :data:`MAX_JSON_DEPTH` deep; every failure is ``error``
    naming the file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:  # bounded: a device or a pipe has no size to check first
            raw = f.read(MAX_JSON_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{path} not found: a Speech2Text model directory needs it.{advice}") from None
    except OSError as e:
        raise error(f"{path}: cannot read it ({e.strerror or e}).{advice}") from None
    if len(raw) > MAX_JSON_BYTES:
        raise error(f"{path}: more than {MAX_JSON_BYTES // 2**20} MiB of JSON; no model file is that large "
                    f"(vocab.json of 250 000 pieces is ~6 MB).{advice}")  # fmt: skip
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise error(f"{path} is not valid JSON (not UTF-8 text at byte {e.start}).{advice}") from None
    return parse_json(text, path, error, advice)
