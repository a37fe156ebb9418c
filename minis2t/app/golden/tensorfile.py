"""Safetensors files of golden and port tensors, read with every claim checked first.

A port's file comes from a program under test, perhaps half-written by a crash, so nothing
in it is trusted: the header's length, its JSON, each tensor's dtype, shape and byte range
are checked against the file's size before a byte of data is read, and a tensor is read
only when the caller asks for it (and has checked its shape). Any failure is a
:class:`~minis2t.errors.TensorFileError` naming the file and the problem, never an
exception from deep inside a parser, never more memory than the tensors asked for.

The format (https://huggingface.co/docs/safetensors): 8 bytes little-endian ``N``, ``N``
bytes of JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
{str: str}}``, then the data, each tensor's bytes little-endian and row-major at
``8 + N + begin``.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

from ...errors import TensorFileError

MAX_HEADER = 16 * 2**20  # bytes: a golden of s2t-large, 200 steps of both searches, is ~3 MB of header
MAX_TENSORS = 200_000
MAX_RANK = 8
MAX_NAME = 300  # characters
# safetensors' dtype names -> NumPy (little-endian); BF16 is widened to float32 by hand.
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
          "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1",
          "BOOL": "?"}  # fmt: skip
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")
INT_DTYPES = ("I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8")


class TensorFile:
    """The checked header of a safetensors file: ``names``, ``metadata``, ``shape(name)``,
    ``dtype(name)`` (safetensors' spelling) and ``read(name)``."""

    def __init__(self, path):
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise self._error(f"only {len(head)} bytes: not a safetensors file (it starts with "
                                      f"an 8-byte header length)")  # fmt: skip
                (n,) = struct.unpack("<Q", head)
                if n < 2 or n > min(MAX_HEADER, size - 8):
                    raise self._error(f"its header claims {n} bytes, but the file has {size - 8} after the "
                                      f"length (and headers beyond {MAX_HEADER} bytes are refused): "
                                      f"truncated, or not a safetensors file")  # fmt: skip
                raw = f.read(n)
        except OSError as e:
            raise TensorFileError(f"cannot read {self.path}: {e.strerror or e}.") from None
        try:
            header = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise self._error(f"its header is not valid JSON ({type(e).__name__})") from None
        if not isinstance(header, dict):
            raise self._error("its header is not a JSON object")
        self.metadata = self._metadata(header.pop("__metadata__", None))
        if len(header) > MAX_TENSORS:
            raise self._error(f"{len(header)} tensors (more than {MAX_TENSORS} are refused)")
        self.data_start, data_size = 8 + n, size - 8 - n
        self._entries = {name: self._entry(name, entry, data_size) for name, entry in header.items()}
        self.names = list(self._entries)

    def _error(self, problem: str) -> TensorFileError:
        return TensorFileError(f"{self.path}: {problem}.")

    def _metadata(self, value) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in value.items()):  # fmt: skip
            raise self._error("its __metadata__ is not a map of strings to strings")
        return value

    def _entry(self, name, entry, data_size: int) -> tuple[str, tuple[int, ...], int, int]:
        shown = ascii(name)[:80]
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
            raise self._error(f"tensor name {shown} is empty or longer than {MAX_NAME} characters")
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise self._error(f"tensor {shown} needs exactly dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPES:
            raise self._error(f"tensor {shown} has dtype {ascii(dtype)[:20]}; minis2t reads "
                              f"{', '.join(DTYPES)}")  # fmt: skip
        if (not isinstance(shape, list) or len(shape) > MAX_RANK
                or not all(type(d) is int and d >= 0 for d in shape)):  # fmt: skip
            raise self._error(f"tensor {shown} has shape {ascii(shape)[:60]}: not a list of at most "
                              f"{MAX_RANK} non-negative integers")  # fmt: skip
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not 0 <= offsets[0] <= offsets[1] <= data_size):  # fmt: skip
            raise self._error(f"tensor {shown} has data offsets {ascii(offsets)[:60]} outside the "
                              f"{data_size} data bytes the file holds: truncated or malformed")  # fmt: skip
        nbytes = math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize  # Python ints: no overflow
        if nbytes != offsets[1] - offsets[0]:
            raise self._error(f"tensor {shown} of shape {shape} and dtype {dtype} needs {nbytes} bytes, "
                              f"its offsets span {offsets[1] - offsets[0]}")  # fmt: skip
        return dtype, tuple(shape), offsets[0], offsets[1]

    def shape(self, name: str) -> tuple[int, ...]:
        return self._entries[name][1]

    def dtype(self, name: str) -> str:
        return self._entries[name][0]

    def read(self, name: str) -> np.ndarray:
        """The tensor ``name`` (BF16 widened to float32), in native byte order."""
        dtype, shape, begin, end = self._entries[name]
        try:
            with open(self.path, "rb") as f:
                f.seek(self.data_start + begin)
                raw = f.read(end - begin)
        except OSError as e:
            raise TensorFileError(f"cannot read {self.path}: {e.strerror or e}.") from None
        if len(raw) != end - begin:
            raise self._error(f"tensor {ascii(name)[:80]} is cut short (the file changed while read?)")
        array = np.frombuffer(raw, dtype=DTYPES[dtype]).reshape(shape)
        if dtype == "BF16":  # the top half of a float32
            return (array.astype(np.uint32) << 16).view(np.float32)
        return array.astype(array.dtype.newbyteorder("="))


def write(path, tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> None:
    """Write ``tensors`` (contiguous copies) and string ``metadata`` with safetensors' own
    writer (``safetensors.numpy``: no torch)."""
    from safetensors import SafetensorError
    from safetensors.numpy import save_file

    arrays = {name: np.ascontiguousarray(value) for name, value in tensors.items()}
    try:
        save_file(arrays, str(path), metadata=metadata)
    except (OSError, SafetensorError) as e:
        raise TensorFileError(f"cannot write {path}: {getattr(e, 'strerror', None) or e}.") from None
