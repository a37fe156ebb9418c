"""mkdocs hook: put the code and its numbers into the stage pages at build time.

Directives, written as HTML comments so that a page read as plain Markdown (on a code
host, in an editor) just skips them:

* ``<!-- source: minis2t.reference.features.frame_signal, minis2t.reference.features.preemphasize -->`` —
  the current source of each function, from the code itself (``inspect.getsource``), in an
  open collapsible block that names the file and lines. The page can never show code that
  is not the code.
* ``<!-- worked: frames -->`` — the Markdown returned by ``worked.frames()``: a worked
  example computed on a real recording, with shapes and numbers as the package produces
  them in this build.
* ``<!-- listen: librispeech, test_00 -->`` — an audio player per clip, with its caption
  (the clips are encoded by the figures hook into ``build/docs/audio/``); ``voice_*``
  names every clip of a group;
* ``<!-- answer: NAME -->`` inside an exercise's answer — what ``answers.NAME()`` computes
  (and asserts) for it; ``<!-- n: NAME -->`` — one number inside a sentence.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
import textwrap
from pathlib import Path

HOOKS = Path(__file__).resolve().parent
ROOT = HOOKS.parents[1]

DIRECTIVE = re.compile(r"^<!-- (source|worked|side-by-side): ([\w., -]+) -->$", re.MULTILINE)
LISTEN = re.compile(r"^<!-- listen: ([\w, *-]+) -->$", re.MULTILINE)  # audio players
ANSWER = re.compile(r"^( *)<!-- answer: (\w+) -->$", re.MULTILINE)  # inside an indented answer
NUMBER = re.compile(r"<!-- n: (\w+) -->")  # a number inside a sentence


def resolve(dotted: str):
    """The object a dotted name points to: the longest importable module prefix, then
    attributes (``minis2t.reference.model.KVCache``, ``minis2t.io.features.FeatureExtractor.__call__``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


# A docstring paragraph that starts "Numerics:" (float32 rounding, drift against another
# implementation, ...) is true but not the math: the listing leaves it out, and a collapsed
# box under the listing holds it, word for word.
NUMERICS = re.compile(r"\n\n([ \t]*)Numerics: (.*?)(?=\n[ \t]*\n|\n[ \t]*\"\"\"|\"\"\")", re.S)


def source_block(dotted: str) -> str:
    obj = resolve(dotted)
    lines, first = inspect.getsourcelines(obj)
    path = Path(inspect.getsourcefile(obj)).resolve().relative_to(ROOT).as_posix()
    source = textwrap.dedent("".join(lines)).rstrip()
    caveats = [" ".join(m.group(2).split()) for m in NUMERICS.finditer(source)]
    source = NUMERICS.sub("", source)
    code = textwrap.indent(source, "    ")  # inside the block
    title = f"Source: <code>{dotted}</code> — {path}, lines {first}–{first + len(lines) - 1}"
    block = f'???+ abstract "{title}"\n\n    ```python\n{code}\n    ```\n'
    for caveat in caveats:
        block += (f'\n??? note "Numerics of <code>{dotted.rpartition(".")[2]}</code> (a paragraph of its docstring, '
                  f'left out of the listing above)"\n\n    {caveat}\n')  # fmt: skip
    return block


def side_by_side(left: str, right: str) -> str:
    """Two functions' sources in two columns (the reference and its twin read as a
    translation): an HTML table whose cells hold highlighted code blocks."""
    import html

    cells = []
    for dotted in (left, right):
        obj = resolve(dotted)
        lines, first = inspect.getsourcelines(obj)
        path = Path(inspect.getsourcefile(obj)).resolve().relative_to(ROOT).as_posix()
        code = html.escape(textwrap.dedent("".join(lines)).rstrip())
        cells.append(f'<td style="vertical-align:top;width:50%"><p><code>{dotted}</code> — {path}, '
                     f"lines {first}–{first + len(lines) - 1}</p>"
                     f'<pre style="font-size:0.68rem;white-space:pre-wrap"><code>{code}</code></pre></td>')
    return f'<table class="side-by-side"><tr>{"".join(cells)}</tr></table>\n'


def worked_block(name: str) -> str:
    if str(HOOKS) not in sys.path:
        sys.path.insert(0, str(HOOKS))
    import worked

    return getattr(worked, name)()


def answers_module():
    if str(HOOKS) not in sys.path:
        sys.path.insert(0, str(HOOKS))
    import answers

    return answers


def answer_block(indent: str, name: str) -> str:
    """``answers.NAME()``'s Markdown, indented to sit inside the answer it belongs to."""
    body = getattr(answers_module(), name)()
    return "\n".join(indent + line if line else "" for line in body.rstrip("\n").split("\n"))


def players(names: list[str], page_url: str) -> str:
    """An audio player per clip (``build/docs/audio/NAME.mp3``, written by the figures
    hook with its caption), linked relative to the page."""
    import html
    import json

    from fnmatch import fnmatchcase

    captions = json.loads((ROOT / "build" / "docs" / "audio" / "captions.json").read_text(encoding="utf-8"))
    # "voice_*": every clip of that group, in the order the figures hook wrote them
    names = [n for pattern in names for n in ([c for c in captions if fnmatchcase(c, pattern)] if "*" in pattern else [pattern])]
    assert names, "a listen directive that matches no clip"
    up = "../" * page_url.count("/")  # from the page's directory to the site's root
    items = [f'<div class="listen"><audio controls preload="none" src="{up}audio/{name}.mp3"></audio>'
             f'<span>{html.escape(captions[name])}</span></div>' for name in names]  # fmt: skip
    return "\n".join(items) + "\n"


def expand(markdown: str, page_url: str = "") -> str:
    markdown = LISTEN.sub(lambda m: players([n.strip() for n in m.group(1).split(",")], page_url), markdown)
    def replace(match: re.Match) -> str:
        kind, names = match.group(1), [n.strip() for n in match.group(2).split(",")]
        if kind == "source":
            return "\n".join(source_block(n) for n in names)
        if kind == "side-by-side":
            return side_by_side(*names)
        return "\n".join(worked_block(n) for n in names)

    markdown = DIRECTIVE.sub(replace, markdown)
    markdown = ANSWER.sub(lambda m: answer_block(m.group(1), m.group(2)), markdown)
    return NUMBER.sub(lambda m: answers_module().NUMBERS[m.group(1)](), markdown)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return expand(markdown, page.url)
