"""Read NVIDIA network pickles (stylegan2-ada-pytorch, stylegan3) without running any code from the file.

How the official code writes them (``training/training_loop.py``, ``torch_utils/persistence.py``):

* The file is ``pickle.dump(snapshot_data, f)`` with the default protocol (3 on Python 3.7, 4 later) of
  ``dict(training_set_kwargs=dict(...), G=..., D=..., G_ema=..., augment_pipe=...)``; each network was
  ``copy.deepcopy(module).eval().requires_grad_(False).cpu()``, a missing one is stored as ``None``.
  Some files hold only a subset (released models often only ``G_ema``).
* Every network and sub-network is an instance of a ``persistence.persistent_class`` wrapper whose
  ``__reduce__`` returns ``(torch_utils.persistence._reconstruct_persistent_obj, (meta,), None)`` with
  ``meta = dict(type='class', version=6, module_src=<source of the whole .py file>, class_name=...,
  state=<the module's __dict__>)``. The state holds the usual ``torch.nn.Module`` fields
  (``_parameters``, ``_buffers``, ``_modules`` as OrderedDicts, ``_non_persistent_buffers_set``, hook
  dicts, ``training``), the constructor arguments ``_init_args`` / ``_init_kwargs`` (nested
  ``dnnlib.util.EasyDict``\\s), and plain attributes (numpy float64 ``weight_gain``, stylegan3's numpy
  ``size`` arrays, ...).
* Tensors are pickled the standard PyTorch way: ``torch._utils._rebuild_parameter`` /
  ``_rebuild_tensor_v2`` around storages that reduce to ``torch.storage._load_from_bytes(b)``, where
  ``b`` is a legacy ``torch.save`` of the storage alone.

The official loader ``exec``\\s ``module_src``. We never do: :class:`_RestrictedUnpickler` maps an
explicit allow-list of globals (:data:`_SAFE_GLOBALS`) to our own replacements, turns each persistent
object into a :class:`PersistentModule` record, loads storage bytes with ``torch.load(weights_only=True)``
and refuses every other global with :class:`UnsafeCheckpointError`.

Work and memory are bounded by the file, whatever its object graph (:class:`_ReadBudget`): the stand-ins
count the objects they build (``limit("pickle_objects")``) and the bytes of tensor / array / bytes data they
materialise (at most twice the file's size: a legitimate pickle holds every storage once), and every walk
over the loaded graph visits a shared object once and stops at :data:`MAX_DEPTH` levels of nesting. A
1.5 MB pickle of objects shared 40 levels deep (2^40 paths) is read in milliseconds or refused.
"""

from __future__ import annotations

import collections
import contextvars
import hashlib
import io
import os
import pickle
import re
import sys
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar

import numpy as np
import torch

from ..limits import LimitError, env_name, limit
from .errors import CheckpointError, CorruptCheckpointError, UnsafeCheckpointError
from .reading import check_regular_file, first_line

__all__ = ["PersistentModule", "MAX_DEPTH", "load_nvidia_generator", "looks_like_nvidia_pickle", "read_nvidia_pickle"]

_PERSISTENCE_MODULE = "torch_utils.persistence"
_SNIFF_BYTES = 64 * 1024
#: Deepest nesting of containers and networks any walk follows (a real snapshot nests about 20 levels).
MAX_DEPTH = 100
#: Bytes of data a pickle may materialise beyond twice its own size (headers, small numpy scalars).
_BYTES_SLACK = 1 << 20


# ---------------------------------------------------------------------------------------------------------
# Bounded work: what one read may build.


class _ReadBudget:
    """The objects and bytes one :func:`read_nvidia_pickle` call may build, and its memo tables.

    objects: built by the stand-ins (a persistent object counts its state's entries, a set its items) and
        visited by the walks, at most ``limit("pickle_objects")`` -> :class:`~regiongan.limits.LimitError`;
    data_bytes: tensor storages, numpy arrays and ``bytes`` materialised, at most ``2 · file size + 1 MiB``
        (each appears once in a legitimate file; a shared one rebuilt many times is an attack) ->
        :class:`CorruptCheckpointError`;
    memos: ``id -> (original, result)``; holding the original keeps its id from being reused.
    """

    def __init__(self, source: str, file_bytes: int | None):
        self.source = source
        self.objects = 0
        self.max_objects = limit("pickle_objects")
        self.data_bytes = 0
        self.file_bytes = file_bytes if file_bytes is not None else limit("checkpoint_bytes")
        self.max_data_bytes = 2 * self.file_bytes + _BYTES_SLACK
        self.json_memo: dict[int, tuple[Any, Any]] = {}
        self.source_memo: dict[int, tuple[str, str | None, str]] = {}

    def charge(self, n: int = 1) -> None:
        self.objects += n
        if self.objects > self.max_objects:
            cap = self.max_objects
            raise LimitError(
                f"{self.source}: the pickle builds more than {cap:,} objects (limit pickle_objects); it is damaged or "
                f"built to exhaust memory. If you trust it, raise the limit with {env_name('pickle_objects')}="
                f"{10 * cap} or `regiongan --limit pickle_objects={10 * cap}`"
            )

    def charge_bytes(self, n: int) -> None:
        self.data_bytes += n
        if self.data_bytes > self.max_data_bytes:
            raise CorruptCheckpointError(
                f"{self.source}: the pickle builds more than {self.data_bytes:,} bytes of data from a file of "
                f"{self.file_bytes:,} bytes (shared data rebuilt again and again); the file is damaged or built to "
                "exhaust memory"
            )


_ACTIVE_BUDGET: contextvars.ContextVar[_ReadBudget | None] = contextvars.ContextVar("_ACTIVE_BUDGET", default=None)


def _budget() -> _ReadBudget:
    """The budget of the read in progress (a fresh unbounded-source one when a stand-in is called directly)."""
    budget = _ACTIVE_BUDGET.get()
    return budget if budget is not None else _ReadBudget("<pickle>", None)


def _too_deep(depth: int, what: str) -> None:
    if depth > MAX_DEPTH:
        raise CorruptCheckpointError(f"{what} is nested more than {MAX_DEPTH} levels deep; corrupt pickle")


# ---------------------------------------------------------------------------------------------------------
# What a network becomes.


@dataclass(eq=False)
class PersistentModule:
    """A network object exactly as stored in the pickle, rebuilt as data (no class, no code).

    class_name: the class in the stored source, e.g. ``'Generator'``.
    module_name: best guess of the module the source came from (see :func:`_guess_module_name`), e.g.
        ``'training.networks'``; ``None`` when unrecognised. For plain ``torch.nn`` modules stored inside
        a network it is the torch module (``'torch.nn.modules.container'``).
    module_src_sha256: hex sha256 of the stored (never executed) source; ``''`` for plain torch modules.
    init_args / init_kwargs: constructor arguments, JSON-like (tuples -> lists, numpy scalars -> Python
        numbers, numpy arrays -> lists, EasyDicts -> dicts); other values are kept as stored.
    state: the module's raw ``__dict__`` with sub-networks as :class:`PersistentModule`.
    """

    class_name: str
    module_name: str | None
    module_src_sha256: str
    init_args: list
    init_kwargs: dict
    state: dict = field(repr=False)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Flattened tensors as ``torch.nn.Module.state_dict()`` would give them.

        Parameters, then persistent buffers (names in ``_non_persistent_buffers_set`` and ``None`` entries
        are skipped), then each sub-module recursively under ``'<name>.'``.
        """
        out: dict[str, torch.Tensor] = {}
        _collect_tensors(self, "", out, seen={}, depth=0)
        return out


def _collect_tensors(
    module: PersistentModule, prefix: str, out: dict[str, torch.Tensor], seen: dict[int, str], depth: int
) -> None:
    """Tensors of ``module`` and its sub-networks under ``prefix``. Each network is visited once: one that
    appears twice (or inside itself) is refused, since NVIDIA networks never share sub-networks and a shared
    one would list its tensors once per path (2^40 names for 40 levels of sharing)."""
    if id(module) in seen:
        first = seen[id(module)]
        if prefix.startswith(first):  # reached again below itself
            raise CorruptCheckpointError(f"network {module.class_name} contains itself (at '{prefix}'); corrupt pickle")
        raise CorruptCheckpointError(
            f"network {module.class_name} appears twice (at '{first or '.'}' and at '{prefix}'); networks never "
            "share sub-networks, corrupt pickle"
        )
    seen[id(module)] = prefix
    _too_deep(depth, f"network {module.class_name} at '{prefix}'")
    skipped = module.state.get("_non_persistent_buffers_set") or set()
    if not isinstance(skipped, (set, frozenset)):
        raise CorruptCheckpointError(f"_non_persistent_buffers_set of network {module.class_name} is not a set")
    tensors = list(_field_items(module, "_parameters", prefix))
    tensors += [(name, t) for name, t in _field_items(module, "_buffers", prefix) if name not in skipped]
    for name, tensor in tensors:
        if tensor is None:
            continue
        if not isinstance(tensor, torch.Tensor):
            kind = type(tensor).__name__
            raise CorruptCheckpointError(f"'{prefix}{name}' in network {module.class_name} is {kind}, not a tensor")
        out[prefix + name] = tensor.detach()
    for name, child in _field_items(module, "_modules", prefix):
        if child is None:
            continue
        if not isinstance(child, PersistentModule):
            raise CorruptCheckpointError(f"sub-module '{prefix}{name}' is {type(child).__name__}, not a network")
        _collect_tensors(child, f"{prefix}{name}.", out, seen, depth + 1)


def _field_items(module: PersistentModule, key: str, prefix: str) -> list[tuple[str, Any]]:
    value = module.state.get(key)
    if value is None:
        return []
    if not isinstance(value, dict):
        kind = type(value).__name__
        raise CorruptCheckpointError(f"'{key}' of network {module.class_name} at '{prefix}' is {kind}, not a dict")
    if not all(isinstance(k, str) and k and "." not in k for k in value):  # torch's rule for attribute names
        raise CorruptCheckpointError(f"'{key}' of network {module.class_name} at '{prefix}' has names that are not attribute names")
    _budget().charge(len(value))
    return list(value.items())


class _PlainTorchModule(PersistentModule):
    """A plain ``torch.nn`` module inside a network (pickled by class name, no source stored).

    The unpickler creates it with ``cls.__new__(cls)`` and fills it through ``__setstate__``; one subclass
    per torch class (see :func:`_torch_module_stand_in`) carries the class name.
    """

    torch_module: ClassVar[str] = ""
    torch_class: ClassVar[str] = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> _PlainTorchModule:
        self = object.__new__(cls)
        PersistentModule.__init__(self, cls.torch_class, cls.torch_module, "", [], {}, {})
        return self

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            kind = type(state).__name__
            raise CorruptCheckpointError(f"torch module {self.class_name} has state of type {kind}, not a dict")
        _budget().charge(1 + len(state))
        self.state = dict(state)

    def __reduce__(self) -> tuple:
        # Copies and re-pickles of a loaded record are plain PersistentModules, never stand-ins.
        fields = (self.class_name, self.module_name, self.module_src_sha256, self.init_args, self.init_kwargs)
        return (PersistentModule, (*fields, self.state))


_TORCH_MODULE_STAND_INS: dict[tuple[str, str], type[_PlainTorchModule]] = {}


def _torch_module_stand_in(module: str, name: str) -> type[_PlainTorchModule] | None:
    """A stand-in class for a real ``torch.nn`` module class, or ``None`` if ``module.name`` is not one.

    Only modules torch has already imported are consulted (nothing is imported on the file's behalf).
    """
    if not module.startswith("torch.nn.modules.") or not name.isidentifier():
        return None
    real = getattr(sys.modules.get(module), name, None)
    if not (isinstance(real, type) and issubclass(real, torch.nn.Module)):
        return None
    key = (module, name)
    if key not in _TORCH_MODULE_STAND_INS:
        _TORCH_MODULE_STAND_INS[key] = type(name, (_PlainTorchModule,), {"torch_module": module, "torch_class": name})
    return _TORCH_MODULE_STAND_INS[key]


# ---------------------------------------------------------------------------------------------------------
# Safe replacements for the globals an NVIDIA pickle names.


def _reconstruct_persistent_obj(meta: Any) -> PersistentModule:
    """Stands in for ``torch_utils.persistence._reconstruct_persistent_obj``: records, never ``exec``\\s."""
    if not isinstance(meta, dict):
        raise CorruptCheckpointError(f"persistent object metadata is {type(meta).__name__}, not a dict")
    if meta.get("type") != "class":
        raise CheckpointError(f"persistent object of type {meta.get('type')!r}; only 'class' objects are known")
    class_name, module_src = meta.get("class_name"), meta.get("module_src")
    if not isinstance(class_name, str) or not isinstance(module_src, str):
        raise CorruptCheckpointError("persistent object metadata lacks a class_name / module_src string")
    state = meta.get("state") or {}
    if not isinstance(state, dict):
        raise CorruptCheckpointError(f"state of persistent {class_name} is {type(state).__name__}, not a dict")
    init_args = state.get("_init_args", state.get("init_args", ()))
    init_kwargs = state.get("_init_kwargs", state.get("init_kwargs", {}))
    if not isinstance(init_args, (list, tuple)) or not isinstance(init_kwargs, dict):
        raise CorruptCheckpointError(f"constructor arguments of persistent {class_name} are not a tuple and a dict")
    budget = _budget()
    budget.charge(1 + len(state) + len(init_args) + len(init_kwargs))  # each is copied below
    converted_args = _to_json_like(init_args, budget)
    return PersistentModule(
        class_name=class_name,
        module_name=_module_name_and_digest(module_src, budget)[0],
        module_src_sha256=_module_name_and_digest(module_src, budget)[1],
        init_args=list(converted_args),
        init_kwargs=dict(_to_json_like(init_kwargs, budget)),
        state=dict(state),
    )


def _module_name_and_digest(module_src: str, budget: _ReadBudget) -> tuple[str | None, str]:
    """:func:`_guess_module_name` and the sha256 of a stored source, once per source object (every network
    of a file shares one source string; hashing it again per network would cost as much as the file each time)."""
    memo = budget.source_memo.get(id(module_src))
    if memo is None:
        digest = hashlib.sha256(module_src.encode("utf-8", "surrogatepass")).hexdigest()
        memo = budget.source_memo[id(module_src)] = (module_src, _guess_module_name(module_src), digest)  # type: ignore[assignment]
    return memo[1], memo[2]


def _guess_module_name(module_src: str) -> str | None:
    """Which NVlabs file a stored source is, from classes only that file defines (the source never names itself)."""
    if "class SynthesisInput(" in module_src:
        return "training.networks_stylegan3"
    if "class AugmentPipe(" in module_src:
        return "training.augment"
    if "class SynthesisBlock(" in module_src or "class MappingNetwork(" in module_src:
        # stylegan3's copy of the StyleGAN2 networks renamed skip_w_avg_update to update_emas.
        return "training.networks_stylegan2" if "update_emas" in module_src else "training.networks"
    return None


def _to_json_like(value: Any, budget: _ReadBudget | None = None, depth: int = 0, active: set[int] | None = None) -> Any:
    """Constructor arguments -> JSON-like values; anything else (tensors, ...) is returned unchanged.

    Each container is converted once per read (``budget.json_memo``), so arguments shared by many networks,
    or shared within themselves, cost their size once; one that contains itself is refused.
    """
    budget = budget if budget is not None else _budget()
    active = active if active is not None else set()
    if isinstance(value, np.generic):  # before float: np.float64 subclasses float
        return value.item()
    if isinstance(value, np.ndarray):
        budget.charge(value.size)
        return value.tolist()
    if not isinstance(value, (dict, list, tuple)):
        return value
    done = budget.json_memo.get(id(value))
    if done is not None:
        return done[1]
    if id(value) in active:
        raise CorruptCheckpointError("constructor arguments contain themselves; corrupt pickle")
    _too_deep(depth, "constructor arguments")
    budget.charge(1 + len(value))
    active.add(id(value))
    if isinstance(value, dict):
        out: Any = {k: _to_json_like(v, budget, depth + 1, active) for k, v in value.items()}
    else:
        out = [_to_json_like(v, budget, depth + 1, active) for v in value]
    active.discard(id(value))
    budget.json_memo[id(value)] = (value, out)
    return out


class _EasyDict(dict):
    """Stands in for ``dnnlib.util.EasyDict`` while unpickling; replaced by plain dicts afterwards."""

    def __setstate__(self, state: Any) -> None:
        if state:  # EasyDict keeps its content in the dict items; an instance __dict__ is never written
            raise CorruptCheckpointError("an EasyDict in the pickle carries unexpected attribute state")


class _Marker:
    """A type named by the pickle only as an argument (never called): ``torch.Tensor``, ``numpy.ndarray``."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_TENSOR = _Marker("torch.Tensor")
_PARAMETER = _Marker("torch.nn.Parameter")
_NDARRAY = _Marker("numpy.ndarray")


def _load_storage_from_bytes(data: Any) -> torch.TypedStorage | torch.UntypedStorage:
    """Stands in for ``torch.storage._load_from_bytes`` (which calls ``torch.load(weights_only=False)``)."""
    if not isinstance(data, (bytes, bytearray)):
        raise CorruptCheckpointError(f"a tensor storage is stored as {type(data).__name__}, not bytes")
    _budget().charge_bytes(len(data))
    try:
        storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if refused:
            raise UnsafeCheckpointError(_refusal_message(refused.group(1), "a tensor storage in the pickle")) from exc
        raise CorruptCheckpointError(f"a tensor storage cannot be read ({first_line(exc)})") from exc
    except Exception as exc:
        raise CorruptCheckpointError(f"a tensor storage cannot be read ({type(exc).__name__}: {first_line(exc)})") from exc
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise CorruptCheckpointError(f"a tensor storage holds {type(storage).__name__}, not a storage")
    return storage


def _check_storage(storage: Any) -> None:
    _budget().charge()
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise CorruptCheckpointError(f"a tensor is built on {type(storage).__name__}, not a storage")


def _rebuild_tensor(storage: Any, storage_offset: int, size: tuple, stride: tuple) -> torch.Tensor:
    _check_storage(storage)
    return torch._utils._rebuild_tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(
    storage: Any, storage_offset: int, size: tuple, stride: tuple, requires_grad: bool, backward_hooks: Any,
    metadata: Any = None,
) -> torch.Tensor:
    # Backward hooks are callables; a weights file has no business carrying any, so they are dropped.
    _check_storage(storage)
    hooks: collections.OrderedDict = collections.OrderedDict()
    return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, bool(requires_grad), hooks, metadata)


def _rebuild_parameter(data: Any, requires_grad: bool, backward_hooks: Any) -> torch.nn.Parameter:
    if not isinstance(data, torch.Tensor):
        raise CorruptCheckpointError(f"a parameter is built on {type(data).__name__}, not a tensor")
    return torch.nn.Parameter(data, requires_grad=bool(requires_grad))


def _rebuild_parameter_with_state(
    data: Any, requires_grad: bool, backward_hooks: Any, state: Any
) -> torch.nn.Parameter:
    # Extra Python attributes on a parameter carry no weights; they are not restored.
    return _rebuild_parameter(data, requires_grad, backward_hooks)


def _rebuild_from_type(func: Any, new_type: Any, args: Any, state: Any) -> torch.Tensor:
    """Stands in for ``torch._utils._rebuild_from_type_v2`` (tensor subclasses); only Tensor/Parameter."""
    if func not in _TENSOR_BUILDERS or new_type not in (_TENSOR, _PARAMETER) or not isinstance(args, tuple):
        raise CorruptCheckpointError(f"unexpected tensor rebuild ({getattr(func, '__name__', func)!r}, {new_type!r})")
    tensor = func(*args)
    if new_type is _PARAMETER and not isinstance(tensor, torch.nn.Parameter):
        tensor = torch.nn.Parameter(tensor, requires_grad=tensor.requires_grad)
    return tensor


def _latin1_bytes(text: Any, encoding: Any) -> bytes:
    """Stands in for ``_codecs.encode``, which protocol-2 pickles use to store ``bytes`` as latin-1 text."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CorruptCheckpointError(f"unexpected _codecs.encode({type(text).__name__}, {encoding!r:.40}) in the pickle")
    _budget().charge_bytes(len(text))
    return text.encode("latin1")


_TENSOR_BUILDERS = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_parameter, _rebuild_parameter_with_state)
_NUMERIC_KINDS = "biufcSU"


def _numpy_dtype(obj: Any, align: bool = False, copy: bool = False) -> np.dtype:
    """Stands in for ``numpy.dtype``: plain numeric and string dtypes only (no object, record or sub-array
    dtypes, which could carry Python objects or declare huge items)."""
    if not isinstance(obj, str) or len(obj) > 16:
        raise CorruptCheckpointError(f"a numpy dtype is described by {type(obj).__name__}, not a short string")
    _budget().charge()
    try:
        dtype = np.dtype(obj, bool(align), bool(copy))
    except (TypeError, ValueError) as exc:
        raise CorruptCheckpointError(f"unknown numpy dtype {obj!r} ({first_line(exc)})") from None
    if dtype.kind not in _NUMERIC_KINDS or dtype.subdtype is not None or dtype.fields is not None:
        raise CorruptCheckpointError(f"unsupported numpy dtype {obj!r}")
    return dtype


def _numpy_scalar(dtype: Any, data: Any = None) -> np.generic:
    """Stands in for ``numpy.core.multiarray.scalar``: numeric/string scalars from their raw bytes only."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS or not isinstance(data, bytes):
        raise CorruptCheckpointError(f"unsupported numpy scalar (dtype {dtype!r:.40})")
    _budget().charge()
    if len(data) != dtype.itemsize:
        raise CorruptCheckpointError(f"numpy {dtype} scalar has {len(data)} bytes, expected {dtype.itemsize}")
    return np.frombuffer(data, dtype=dtype)[0]


def _numpy_reconstruct(subtype: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    """Stands in for ``numpy.core.multiarray._reconstruct``: an empty ndarray that BUILD then fills.

    numpy always pickles ``(ndarray, (0,), b'b')`` here; anything else could allocate unbounded memory.
    """
    if subtype is not _NDARRAY or not isinstance(shape, tuple) or shape != (0,):
        raise CorruptCheckpointError(f"unsupported numpy array reconstruction ({subtype!r:.40}, {shape!r:.40})")
    _budget().charge()
    return np.ndarray((0,), dtype=np.uint8).view(_PickledArray)


class _PickledArray(np.ndarray):
    """The empty array :func:`_numpy_reconstruct` returns; BUILD fills it through ``__setstate__``, which
    here first charges the read's budget with the bytes the state carries (only ``bytes`` data: object
    arrays carry Python objects). Turned back into a plain ndarray by :func:`_replace_easydicts`."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5) or not isinstance(state[-1], bytes):
            raise CorruptCheckpointError("a numpy array in the pickle carries state that is not raw bytes")
        _budget().charge_bytes(len(state[-1]))
        try:
            super().__setstate__(state)
        except (TypeError, ValueError) as exc:
            raise CorruptCheckpointError(f"a numpy array in the pickle cannot be rebuilt ({first_line(exc)})") from None


def _bounded_container(kind: type) -> Any:
    """Stands in for ``set`` / ``frozenset`` / ``OrderedDict``: built from a list, tuple or dict only, and
    charged by its length (a shared list of a million items must not be copied a million times for free)."""

    def build(*args: Any) -> Any:
        if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, dict, set, frozenset))):
            raise CorruptCheckpointError(f"unexpected {kind.__name__}() arguments in the pickle")
        _budget().charge(1 + (len(args[0]) if args else 0))
        return kind(*args)

    build.__name__ = build.__qualname__ = f"bounded_{kind.__name__}"
    return build


_SET, _FROZENSET, _ORDERED_DICT = (_bounded_container(k) for k in (set, frozenset, collections.OrderedDict))


# (module, name) as the pickle spells it -> what the unpickler gets instead. Everything else is refused.
_SAFE_GLOBALS: dict[tuple[str, str], Any] = {
    (_PERSISTENCE_MODULE, "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("torch._utils", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch._tensor", "_rebuild_from_type"): _rebuild_from_type,
    ("torch", "Tensor"): _TENSOR,
    ("torch.nn.parameter", "Parameter"): _PARAMETER,
    ("collections", "OrderedDict"): _ORDERED_DICT,
    ("_codecs", "encode"): _latin1_bytes,
    ("builtins", "set"): _SET,
    ("builtins", "frozenset"): _FROZENSET,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
    ("numpy", "dtype"): _numpy_dtype,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
}

# Protocol-2 pickles written with fix_imports use Python 2 module names.
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def _refusal_message(global_name: str, asker: str) -> str:
    return (
        f"refusing to load: {asker} asks for global '{global_name}', which is not a tensor/network structure "
        "regiongan knows; it may execute code, so nothing from the file was run. If you trust this file, convert "
        "it with the official code in a trusted environment to a state dict, e.g. "
        "G = legacy.load_network_pkl(f)['G_ema']; torch.save({'init_kwargs': json.dumps(dict(G.init_kwargs)), "
        "'state_dict': G.state_dict()}, 'G_ema.pt'), and load that file instead."
    )


class _RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves globals only through :data:`_SAFE_GLOBALS`."""

    def __init__(self, file: IO[bytes], source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        safe = _SAFE_GLOBALS.get((module, name))
        if safe is not None:
            return safe
        if module.startswith("dnnlib.tflib"):
            raise CheckpointError(
                f"{self.source} is a TensorFlow-era pickle (global '{module}.{name}', from the original "
                "stylegan / stylegan2 repositories); these are not supported. Convert it in a trusted environment "
                "with the official stylegan2-ada-pytorch code: `python legacy.py --source=<file.pkl> "
                "--dest=<converted.pkl>` (or legacy.load_network_pkl), then load the converted file."
            )
        stand_in = _torch_module_stand_in(module, name)
        if stand_in is not None:
            return stand_in
        raise UnsafeCheckpointError(_refusal_message(f"{module}.{name}", "the pickle"))

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(
            f"{self.source} uses pickle persistent ids, as torch.save files do; NVIDIA network pickles never do. "
            "If it is a torch.save file, load it with torch.load(path, weights_only=True)."
        )


# ---------------------------------------------------------------------------------------------------------
# Public entry points.


def read_nvidia_pickle(path_or_file: str | os.PathLike | IO[bytes], max_bytes: int | None = None) -> dict[str, Any]:
    """Safely unpickle a whole NVIDIA network pickle (path or binary file object).

    Networks become :class:`PersistentModule`, ``EasyDict``\\s become plain dicts, tensors are CPU
    tensors. ``max_bytes`` refuses larger inputs before reading them. Raises :class:`UnsafeCheckpointError`
    for any global outside the allow-list, :class:`CorruptCheckpointError` for truncated or non-pickle data,
    :class:`CheckpointError` for other files (TensorFlow-era pickles, torch.save archives, no dict inside).
    """
    if isinstance(path_or_file, (str, os.PathLike)):
        source = str(path_or_file)
        size = check_regular_file(path_or_file, "NVIDIA network pickle")  # not a FIFO; under checkpoint_bytes
        _check_size(size, max_bytes, source)
        with open(path_or_file, "rb") as f:
            data = _unpickle(f, source, size)
    else:
        source = str(getattr(path_or_file, "name", "<file object>"))
        f = path_or_file
        size = None
        if max_bytes is not None:
            buffered = f.read(max_bytes + 1)
            _check_size(len(buffered), max_bytes, source)
            f, size = io.BytesIO(buffered), len(buffered)
        data = _unpickle(f, source, size)
    if not isinstance(data, dict):
        kind = data.class_name if isinstance(data, PersistentModule) else type(data).__name__
        raise CheckpointError(
            f"{source} holds a single {kind}, not the dict of networks ('G', 'D', 'G_ema', ...) that NVIDIA "
            "training snapshots hold"
        )
    return data


def load_nvidia_generator(
    path: str | os.PathLike, key: str = "G_ema", max_bytes: int | None = None
) -> tuple[str, dict, dict[str, torch.Tensor]]:
    """-> ``(class_name, init_kwargs, state_dict)`` of network ``key`` (``'G_ema'``: the averaged generator)."""
    data = read_nvidia_pickle(path, max_bytes=max_bytes)
    if key not in data:
        raise CheckpointError(
            f"{path} has no network {key!r}; keys present: {list(data)}. Pass key= one of the networks "
            "('G_ema' is the generator to sample from, 'G' the raw training generator)."
        )
    network = data[key]
    if not isinstance(network, PersistentModule):
        raise CheckpointError(f"{path}: entry {key!r} is {type(network).__name__}, not a network")
    budget = _ReadBudget(str(path), None)
    token = _ACTIVE_BUDGET.set(budget)
    try:
        state = network.state_dict()
    except CheckpointError as exc:
        raise type(exc)(f"{path}: {exc}") from None
    finally:
        _ACTIVE_BUDGET.reset(token)
    return network.class_name, network.init_kwargs, state


def looks_like_nvidia_pickle(path: str | os.PathLike) -> bool:
    """Cheap sniff, no unpickling: a pickle protocol 2-5 header and ``torch_utils.persistence`` early on.

    The top-level dict holds only the small ``training_set_kwargs`` before the first network, and the
    first network's pickle starts with the global ``torch_utils.persistence._reconstruct_persistent_obj``,
    so that name appears within the first :data:`_SNIFF_BYTES` (64 KiB) of every snapshot. A ``True``
    is a hint, not a check: :func:`read_nvidia_pickle` still validates everything. ``OSError`` propagates.
    """
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5 and _PERSISTENCE_MODULE.encode() in head


def _check_size(size: int, max_bytes: int | None, source: str) -> None:
    if max_bytes is not None and size > max_bytes:
        raise CheckpointError(f"{source} is larger than max_bytes={max_bytes} ({size} bytes or more); not reading it")


def _unpickle(f: IO[bytes], source: str, size: int | None = None) -> Any:
    head = _peek(f, 4)
    if head.startswith(b"PK\x03\x04"):
        raise CheckpointError(
            f"{source} is a zip archive (the torch.save format), not an NVIDIA network pickle; "
            "load it with torch.load(path, weights_only=True)"
        )
    if head and not (len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5):
        # The official code pickles with protocol 3 or 4; older protocols start without this header.
        raise CorruptCheckpointError(
            f"{source} looks truncated or corrupt, or is not a pickle: it does not start with a pickle "
            f"protocol 2-5 header (first bytes {head!r})"
        )
    budget = _ReadBudget(source, size)
    token = _ACTIVE_BUDGET.set(budget)
    try:
        data = _RestrictedUnpickler(f, source).load()
        return _replace_easydicts(data, {}, budget)
    except CheckpointError as exc:
        if source not in str(exc):
            exc.args = (f"{source}: {exc}",) + exc.args[1:]
        raise
    except LimitError:
        raise
    except RecursionError as exc:
        raise CorruptCheckpointError(f"{source}: the pickle is nested too deeply to read; corrupt pickle") from exc
    except MemoryError as exc:
        raise CorruptCheckpointError(f"{source}: reading the pickle ran out of memory; it declares more than it holds") from exc
    except Exception as exc:  # whatever a damaged stream makes the unpickler do, the file is at fault
        raise CorruptCheckpointError(
            f"{source} looks truncated or corrupt: it could not be read as a pickle ({type(exc).__name__}: "
            f"{first_line(exc)[:200]})"
        ) from exc
    finally:
        _ACTIVE_BUDGET.reset(token)


def _peek(f: IO[bytes], n: int) -> bytes:
    if hasattr(f, "peek"):
        return f.peek(n)[:n]
    if getattr(f, "seekable", lambda: False)():
        start = f.tell()
        head = f.read(n)
        f.seek(start)
        return head
    return b""


def _replace_easydicts(value: Any, memo: dict[int, tuple[Any, Any]], budget: _ReadBudget | None = None, depth: int = 0) -> Any:
    """Turn :class:`_EasyDict` stand-ins into plain dicts (and :class:`_PickledArray`\\s into plain arrays)
    everywhere, in place; shared objects stay shared and are visited once.

    ``memo`` maps ``id(original) -> (original, replacement)``; holding the original keeps its id unique.
    Tuples are memoised too (they cannot be changed in place, so a shared tuple gets one shared replacement).
    """
    if isinstance(value, (torch.Tensor, str, bytes, int, float)) or value is None:
        return value
    if isinstance(value, np.ndarray):
        return value.view(np.ndarray) if type(value) is _PickledArray else value
    if id(value) in memo:
        return memo[id(value)][1]
    budget = budget if budget is not None else _budget()
    _too_deep(depth, "the pickle's object graph")
    budget.charge()
    if isinstance(value, PersistentModule):
        memo[id(value)] = (value, value)
        value.state = _replace_easydicts(value.state, memo, budget, depth + 1)
        return value
    if isinstance(value, dict):
        out = dict() if type(value) is _EasyDict else value
        memo[id(value)] = (value, out)
        budget.charge(len(value))
        items = [(k, _replace_easydicts(v, memo, budget, depth + 1)) for k, v in value.items()]
        out.update(items)
        return out
    if isinstance(value, list):
        memo[id(value)] = (value, value)
        budget.charge(len(value))
        value[:] = [_replace_easydicts(v, memo, budget, depth + 1) for v in value]
        return value
    if isinstance(value, tuple):
        budget.charge(len(value))
        replaced = tuple(_replace_easydicts(v, memo, budget, depth + 1) for v in value)
        memo[id(value)] = (value, replaced)
        return replaced
    return value
