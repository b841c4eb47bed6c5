"""Reading ``.npz`` files that hold object arrays (RealCam-Vid's index: an array of dicts) without unpickling.

``np.load(..., allow_pickle=True)`` unpickles whatever the file holds: a pickle can call any importable function,
and even numpy's own reconstructors are unsafe (``numpy.dtype`` + ``BUILD`` forges a structured dtype with an
object field, and an array of it built from file bytes makes numpy dereference those bytes as object pointers).
So nothing here runs the pickle. Its opcodes are parsed (:func:`pickletools.genops`, which only decodes) and
interpreted by a small validator that admits exactly what ``np.save`` writes for an object array of plain
records: ``numpy...multiarray._reconstruct(ndarray, (0,), b'b')`` + ``BUILD`` (version, shape, dtype, fortran,
data), ``numpy.dtype(name, False, True)`` + ``BUILD`` of a plain state, ``numpy...multiarray.scalar(dtype,
bytes)``, ``_codecs.encode(str, 'latin1')`` and ``bytes()`` (protocol 2 bytes), and lists, tuples, dicts with ``str`` keys, strings,
bytes, numbers, booleans and None. Arrays and scalars are built here with ``np.frombuffer`` from dtypes looked up
by name in a fixed table (booleans, integers, floats, complex, fixed-size str / bytes); no dtype object comes out
of the stream, and object dtype is admitted only for the top-level array. Anything else is refused, naming the
file, the member and what was found, before anything is allocated from it.

Sizes are checked before allocation: a member's declared size against :data:`MAX_MEMBER_BYTES`, every array
header (npy header or pickled shape) against the bytes the member still holds, and every read against the same
bound (an npy header claiming 2^40 elements is refused with a message, not a ``MemoryError``).
"""

from __future__ import annotations

import io
import math
import pickletools
import re
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

__all__ = ["UnsafePickleError", "NpzSizeError", "load_npz_safe", "ALLOWED_GLOBALS", "MAX_MEMBER_BYTES",
           "MAX_NESTING"]

_MULTIARRAY = ("numpy.core.multiarray", "numpy._core.multiarray")  # numpy 1.x and 2.x module paths
#: ``(module, name)`` pairs a pickle may reference; each is interpreted here, none is imported or called
ALLOWED_GLOBALS = frozenset({
    *((m, n) for m in _MULTIARRAY for n in ("_reconstruct", "scalar")),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"), ("__builtin__", "bytes"), ("builtins", "bytes"),  # bytes in protocol-2 pickles
})
#: the largest uncompressed member read (declared size in the zip directory), bytes
MAX_MEMBER_BYTES = 64 << 30
#: members up to this size are read into memory whole (faster opcode parsing); larger ones are streamed
IN_MEMORY_BYTES = 4 << 30
#: containers nested deeper than this are refused (RealCam-Vid: array -> dict -> array)
MAX_NESTING = 16

# dtype names numpy writes in pickles (``dtype.__reduce__``) -> what they may become. Fixed-size numeric types
# by name; str / bytes with their size from the name ("U5", "S3").
_NUMERIC = frozenset({"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"})
_SIZED = re.compile(r"^([US])([1-9][0-9]{0,6})$")
_BYTEORDERS = frozenset("<>|=")


class UnsafePickleError(ValueError):
    """A data file's pickle holds something other than numpy arrays of plain dtypes and plain containers."""


class NpzSizeError(ValueError):
    """A member or an array header declares more bytes than the member holds or than the limit allows."""


# ------------------------------------------------------------------------------------------------------------------
# Bounded reads
# ------------------------------------------------------------------------------------------------------------------
class _Bounded:
    """A file wrapper that refuses any read longer than what the member still holds (a huge length in a header or
    opcode would otherwise allocate that many bytes before reading)."""

    def __init__(self, f, size: int, where: str):
        self.f, self.left, self.where = f, size, where

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.left
        if n > self.left:
            raise NpzSizeError(f"{self.where}: a length of {n} bytes is declared where the member holds only "
                               f"{self.left} more bytes (limit: the member's size)")
        b = self.f.read(n)
        self.left -= len(b)
        return b

    def readline(self) -> bytes:  # GLOBAL / INT / FLOAT text arguments
        out = bytearray()
        while self.left > 0 and len(out) < 4096:
            c = self.read(1)
            out += c
            if c == b"\n":
                break
        return bytes(out)


class _InMemory(io.BytesIO):
    """A member read whole (at most :data:`IN_MEMORY_BYTES`): ``BytesIO.read(n)`` returns what is there without
    allocating ``n`` first, so no wrapper is needed on the hot path of the opcode parser."""

    @property
    def left(self) -> int:
        return len(self.getbuffer()) - self.tell()


# ------------------------------------------------------------------------------------------------------------------
# The pickle validator
# ------------------------------------------------------------------------------------------------------------------
class _Global:
    def __init__(self, name: str):
        self.name = name


_RECONSTRUCT, _NDARRAY, _DTYPE, _SCALAR, _ENCODE, _BYTES = (
    _Global(n) for n in ("_reconstruct", "ndarray", "dtype", "scalar", "encode", "bytes"))
_GLOBALS = {**{(m, "_reconstruct"): _RECONSTRUCT for m in _MULTIARRAY},
            **{(m, "scalar"): _SCALAR for m in _MULTIARRAY},
            ("numpy", "ndarray"): _NDARRAY, ("numpy", "dtype"): _DTYPE, ("_codecs", "encode"): _ENCODE,
            ("__builtin__", "bytes"): _BYTES, ("builtins", "bytes"): _BYTES}


class _Dtype:
    """``numpy.dtype(name, False, True)`` before its ``BUILD``: the name from the table, the byte order from the
    state."""

    def __init__(self, name: str):
        self.name, self.dtype = name, None


class _Array:
    """``_reconstruct(ndarray, (0,), b'b')`` before its ``BUILD``; then shape, dtype and data (bytes, or the list
    of objects of the top-level object array)."""

    def __init__(self):
        self.built = False
        self.shape = self.dtype = self.data = None
        self.fortran = False




def _refuse(where: str, what: str) -> UnsafePickleError:
    return UnsafePickleError(f"{where}: refused {what} (only numpy arrays of plain numeric / str dtypes, numbers, "
                             f"strings, lists and dicts are read from data files; this file may be malicious or not "
                             f"what it claims to be)")


def _dtype_by_name(name: Any, where: str, allow_object: bool) -> str:
    if not isinstance(name, str):
        raise _refuse(where, f"numpy.dtype of a {type(name).__name__}")
    if name in _NUMERIC or _SIZED.match(name) or (allow_object and name == "O8"):
        return name
    raise _refuse(where, f"numpy.dtype {name!r} (not a plain numeric or str dtype)")


def _build_dtype(d: _Dtype, state: Any, where: str) -> None:
    """Check a dtype's ``BUILD`` state ``(version, byteorder, subarray, names, fields, elsize, alignment, flags
    [, metadata])`` is that of a plain dtype and make the dtype from the table entry and the byte order alone."""
    if d.dtype is not None:
        raise _refuse(where, "a second BUILD of a numpy.dtype")
    if not (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)):
        raise _refuse(where, f"a numpy.dtype state {state!r:.200}")
    _, order, subarray, names, fields, elsize, align, flags = state[:8]
    if subarray is not None or names is not None or fields is not None or (len(state) == 9 and state[8] is not None):
        raise _refuse(where, "a numpy.dtype with fields, sub-arrays or metadata (a structured dtype)")
    if order not in _BYTEORDERS or not all(isinstance(v, int) and not isinstance(v, bool)
                                           for v in (elsize, align, flags)):
        raise _refuse(where, f"a numpy.dtype state {state!r:.200}")
    if d.name == "O8":
        d.dtype = np.dtype(object)
        return
    m = _SIZED.match(d.name)
    spec = f"{m.group(1)}{m.group(2)}" if m else d.name
    dt = np.dtype(spec)
    if order in "<>" and dt.itemsize > 1 and dt.kind != "S":
        dt = dt.newbyteorder(order)
    if m and elsize != dt.itemsize:
        raise _refuse(where, f"a numpy.dtype {d.name!r} with element size {elsize}")
    d.dtype = dt


def _shape(v: Any, where: str) -> tuple:
    if not (isinstance(v, tuple) and len(v) <= 32 and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                                          for n in v)):
        raise _refuse(where, f"an array shape {v!r:.200}")
    return v


def _build_array(a: _Array, state: Any, where: str) -> None:
    """Check an array's ``BUILD`` state ``(version, shape, dtype, is_fortran, data)`` and keep its parts."""
    if a.built:
        raise _refuse(where, "a second BUILD of an array")
    if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
        raise _refuse(where, f"an array state of type {type(state).__name__}")
    _, shape, d, fortran, data = state
    shape = _shape(shape, where)
    if not isinstance(d, _Dtype) or d.dtype is None:
        raise _refuse(where, "an array whose dtype is not a plain numpy.dtype")
    if not isinstance(fortran, bool):
        raise _refuse(where, f"an array order {fortran!r:.50}")
    count = math.prod(shape)
    if d.dtype.hasobject:
        if not isinstance(data, list) or len(data) != count:
            raise _refuse(where, f"an object array of shape {shape} whose data is not a list of {count} items")
    else:
        if isinstance(data, bytearray):
            data = bytes(data)
        if not isinstance(data, bytes) or len(data) != count * d.dtype.itemsize:
            raise _refuse(where, f"an array of shape {shape} and dtype {d.dtype.str} whose data is not "
                                 f"{count * d.dtype.itemsize} bytes")
    a.shape, a.dtype, a.fortran, a.data, a.built = shape, d.dtype, fortran, data, True


def _call(fn: Any, args: Any, where: str) -> Any:
    """``REDUCE``: the calls numpy's pickles make, checked and interpreted (nothing is called)."""
    if not isinstance(args, tuple):
        raise _refuse(where, "a call whose arguments are not a tuple")
    if fn is _DTYPE:
        if len(args) != 3 or args[1:] != (False, True):
            raise _refuse(where, f"numpy.dtype{args!r:.200}")
        return _Dtype(_dtype_by_name(args[0], where, allow_object=True))
    if fn is _RECONSTRUCT:
        if len(args) != 3 or args[0] is not _NDARRAY or args[1] != (0,) or args[2] not in (b"b", "b"):
            raise _refuse(where, "a numpy _reconstruct call other than np.save's")
        return _Array()
    if fn is _SCALAR:
        if len(args) != 2 or not isinstance(args[0], _Dtype) or args[0].dtype is None or args[0].dtype.hasobject:
            raise _refuse(where, "a numpy scalar of an object or unbuilt dtype")
        data = bytes(args[1]) if isinstance(args[1], (bytes, bytearray)) else None
        if data is None or len(data) != args[0].dtype.itemsize:
            raise _refuse(where, f"a numpy scalar of dtype {args[0].dtype.str} whose data is not "
                                 f"{args[0].dtype.itemsize} bytes")
        return np.frombuffer(data, dtype=args[0].dtype)[0]
    if fn is _ENCODE:
        if len(args) != 2 or not isinstance(args[0], str) or args[1] not in ("latin1", "latin-1"):
            raise _refuse(where, "a _codecs.encode call other than (str, 'latin1')")
        return args[0].encode("latin1")
    if fn is _BYTES:  # protocol 2's empty bytes
        if args != ():
            raise _refuse(where, "a bytes call with arguments")
        return b""
    raise _refuse(where, f"a call of a {type(fn).__name__}")


def _hashable_key(k: Any, where: str) -> str:
    if not isinstance(k, str):
        raise _refuse(where, f"a dict key of type {type(k).__name__} (keys must be strings)")
    return k


def _interpret(f, where: str) -> Any:
    """Run the validator over one pickle stream; returns the top-level value (placeholders not yet finished)."""
    stack: List[Any] = []
    marks: List[int] = []
    memo: Dict[int, Any] = {}

    def pop_mark() -> List[Any]:
        if not marks:
            raise _refuse(where, "a malformed pickle (no MARK)")
        i = marks.pop()
        items = stack[i:]
        del stack[i:]
        return items

    def pop():
        if not stack:
            raise _refuse(where, "a malformed pickle (stack underflow)")
        return stack.pop()

    try:
        for op, arg, _pos in pickletools.genops(f):
            name = op.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                if len(stack) != 1 or marks:
                    raise _refuse(where, "a malformed pickle (STOP)")
                return stack[0]
            if name == "MEMOIZE":
                if not stack:
                    raise _refuse(where, "a malformed pickle (MEMOIZE on an empty stack)")
                memo[len(memo)] = stack[-1]
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                if not stack:
                    raise _refuse(where, "a malformed pickle (PUT on an empty stack)")
                memo[int(arg)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                if int(arg) not in memo:
                    raise _refuse(where, f"a malformed pickle (memo {arg} unset)")
                stack.append(memo[int(arg)])
            elif name in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
                          "UNICODE", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"):
                stack.append(arg)  # decoded by pickletools (INT "00"/"01" are booleans there)
            elif name == "MARK":
                marks.append(len(stack))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                if len(stack) - (marks[-1] if marks else 0) < n:
                    raise _refuse(where, "a malformed pickle (stack underflow)")
                t = tuple(stack[-n:])
                del stack[-n:]
                stack.append(t)
            elif name == "REDUCE":
                args = pop()
                fn = pop()
                stack.append(_call(fn, args, where))
            elif name == "BUILD":
                state = pop()
                obj = stack[-1] if stack else pop()
                if isinstance(obj, _Dtype):
                    _build_dtype(obj, state, where)
                elif isinstance(obj, _Array):
                    _build_array(obj, state, where)
                else:
                    raise _refuse(where, f"BUILD of a {type(obj).__name__}")
            elif name in ("DICT", "SETITEMS"):
                items = pop_mark()
                if len(items) % 2:
                    raise _refuse(where, "a malformed pickle (odd number of dict items)")
                if name == "DICT":
                    stack.append({})
                if not stack or not isinstance(stack[-1], dict):
                    raise _refuse(where, "SETITEMS on a non-dict")
                for k, v in zip(items[::2], items[1::2]):
                    stack[-1][_hashable_key(k, where)] = v
            elif name in ("BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"):
                stack.append(bytes(arg))
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name in ("NEWTRUE", "NEWFALSE"):
                stack.append(name == "NEWTRUE")
            elif name in ("NONE",):
                stack.append(None)
            elif name in ("GLOBAL", "STACK_GLOBAL"):
                if name == "GLOBAL":
                    module, _, gname = str(arg).partition(" ")
                else:
                    gname, module = pop(), pop()
                    if not (isinstance(module, str) and isinstance(gname, str)):
                        raise _refuse(where, "a malformed pickle (STACK_GLOBAL of non-strings)")
                g = _GLOBALS.get((module, gname))
                if g is None:
                    raise UnsafePickleError(f"{where}: refused to unpickle {module}.{gname} (only numpy arrays, "
                                            f"numbers, strings, lists and dicts are read from data files; this "
                                            f"file may be malicious or not what it claims to be)")
                stack.append(g)
            elif name == "POP":
                pop()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(stack[-1] if stack else pop())
            elif name in ("STRING", "BINSTRING", "SHORT_BINSTRING"):  # Python 2 str: numpy reads it as ASCII
                try:
                    stack.append(arg.encode("latin1").decode("ascii") if isinstance(arg, str) else
                                 bytes(arg).decode("ascii"))
                except UnicodeError:
                    raise _refuse(where, "a non-ASCII Python 2 string") from None
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "LIST":
                stack.append(pop_mark())
            elif name == "APPEND":
                v = pop()
                lst = pop()
                if not isinstance(lst, list):
                    raise _refuse(where, "APPEND to a non-list")
                lst.append(v)
                stack.append(lst)
            elif name == "APPENDS":
                items = pop_mark()
                if not stack or not isinstance(stack[-1], list):
                    raise _refuse(where, "APPENDS to a non-list")
                stack[-1].extend(items)
            elif name == "SETITEM":
                v, k = pop(), pop()
                if not stack or not isinstance(stack[-1], dict):
                    raise _refuse(where, "SETITEM on a non-dict")
                stack[-1][_hashable_key(k, where)] = v
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "TUPLE":
                stack.append(tuple(pop_mark()))
            else:
                raise _refuse(where, f"the pickle opcode {name}")
            if len(marks) > 10_000:
                raise _refuse(where, "a malformed pickle (too many MARKs)")
    except (UnsafePickleError, NpzSizeError):
        raise
    except (ValueError, EOFError, UnicodeError, OverflowError) as e:  # pickletools' decoding errors
        raise ValueError(f"{where}: unreadable object array ({type(e).__name__}: {e})") from None
    raise ValueError(f"{where}: unreadable object array (no STOP)")


def _finish(v: Any, where: str, depth: int, top: bool, path: set, done: Dict[int, Any]) -> Any:
    """Placeholders -> arrays, containers copied; cycles, unbuilt placeholders and nested object arrays refused.
    A value shared through the memo is finished once (``done``), so sharing cannot multiply the work."""
    if v is None or isinstance(v, (bool, int, float, complex, str, bytes, np.generic)):
        return v
    if not isinstance(v, (list, tuple, dict, _Array)):
        raise _refuse(where, f"a {type(v).__name__} value")
    if id(v) in done:
        return done[id(v)]
    if depth > MAX_NESTING:
        raise _refuse(where, f"containers nested deeper than {MAX_NESTING}")
    if id(v) in path:
        raise _refuse(where, "a self-referencing container")
    path.add(id(v))

    def sub(x):
        return _finish(x, where, depth + 1, False, path, done)

    if isinstance(v, list):
        out = [sub(x) for x in v]
    elif isinstance(v, tuple):
        out = tuple(sub(x) for x in v)
    elif isinstance(v, dict):
        out = {k: sub(x) for k, x in v.items()}
    elif not v.built:
        raise _refuse(where, "an array without its data (no BUILD)")
    elif v.dtype.hasobject:
        if not top:
            raise _refuse(where, "an object array inside a record (only the top-level array may hold objects)")
        out = np.empty(len(v.data), dtype=object)
        for i, x in enumerate(v.data):
            out[i] = sub(x)
        out = out.reshape(v.shape, order="F" if v.fortran else "C")
    else:
        out = np.frombuffer(v.data, dtype=v.dtype).reshape(v.shape, order="F" if v.fortran else "C").copy(order="K")
    path.discard(id(v))
    done[id(v)] = out
    return out


# ------------------------------------------------------------------------------------------------------------------
# npy members
# ------------------------------------------------------------------------------------------------------------------
def _plain_header_dtype(dtype: np.dtype, where: str) -> None:
    if dtype.hasobject and dtype != np.dtype(object):
        raise _refuse(where, f"the header dtype {dtype.descr!r:.200} (structured with object fields)")
    if not dtype.hasobject and (dtype.fields is not None or dtype.subdtype is not None or dtype.kind not in "biufcUS"):
        raise ValueError(f"{where}: header dtype {dtype.descr!r:.200} is not a plain numeric or str dtype")


def _read_member(f, where: str) -> np.ndarray:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except NpzSizeError:
        raise
    except Exception as e:  # numpy's header parser (<= 10,000 bytes) raises many types (tokenize.TokenError ...)
        raise ValueError(f"{where}: not a valid .npy member ({type(e).__name__}: {e})") from None
    _plain_header_dtype(dtype, where)
    count = math.prod(shape)
    # every element takes at least one byte of the member (an object: at least one opcode)
    need = count * (1 if dtype.hasobject else dtype.itemsize)
    if need > f.left:
        raise NpzSizeError(f"{where}: header shape {tuple(shape)} of dtype {dtype.str} needs {need} bytes; the "
                           f"member holds {f.left} (limit: the member's size, at most {MAX_MEMBER_BYTES} bytes)")
    if not dtype.hasobject:
        data = np.frombuffer(f.read(need), dtype=dtype, count=count)
        return data.reshape(shape, order="F" if fortran else "C")
    arr = _finish(_interpret(f, where), where, 0, True, set(), {})
    if not isinstance(arr, np.ndarray) or arr.dtype != object:
        raise ValueError(f"{where}: expected an object array, the pickle holds a {type(arr).__name__}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{where}: the pickled array has shape {arr.shape}, the header says {tuple(shape)}")
    return arr


def load_npz_safe(path: Path | str, max_member_bytes: Optional[int] = None) -> Dict[str, np.ndarray]:
    """All arrays of an ``.npz`` (``np.savez`` output), object arrays included, without unpickling.

    Args:
        path: the archive.
        max_member_bytes: refuse members whose uncompressed size exceeds this (default :data:`MAX_MEMBER_BYTES`).

    Returns:
        name (``arr_0``, ...) -> array; numeric / str members as stored; an object member as an object array of
        what the validator admits (dicts with str keys, lists, tuples, str, bytes, numbers, booleans, None, numpy
        scalars and numeric / str arrays).

    Raises:
        FileNotFoundError: no such file. UnsafePickleError: anything else in a pickle (named, with the member).
        NpzSizeError: a member or header larger than the member or the limit. ValueError: not an npz, or a damaged
        member (named).
    """
    path = Path(path)
    cap = MAX_MEMBER_BYTES if max_member_bytes is None else max_member_bytes
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[:-4]
                where = f"{path}: member {key}"  # no brackets: rich would read [arr_0] as markup
                if info.file_size > cap:
                    raise NpzSizeError(f"{where}: member of {info.file_size} bytes exceeds the limit of {cap} bytes")
                with z.open(info) as f:
                    src = (_InMemory(f.read()) if info.file_size <= IN_MEMORY_BYTES else
                           _Bounded(io.BufferedReader(f), info.file_size, where))
                    out[key] = _read_member(src, where)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: not an .npz archive ({e})") from None
    except (zipfile.LargeZipFile, NotImplementedError, RuntimeError) as e:  # zip64 / compression / encryption
        raise ValueError(f"{path}: unreadable .npz archive ({e})") from None
    return out
