"""Write NVIDIA network pickles as stylegan2-ada-pytorch / stylegan3 write them, without their code.

What the official code does, and what this mirrors:

* ``training_loop.py`` pickles ``dict(training_set_kwargs=dict(training_set_kwargs), G=..., D=..., G_ema=...,
  augment_pipe=...)`` with ``pickle.dump`` (default protocol), each network ``.eval().requires_grad_(False).cpu()``.
  ``training_set_kwargs`` is converted to a plain ``dict`` there; ``EasyDict``\\s appear inside the
  networks' ``_init_kwargs`` (``mapping_kwargs`` / ``synthesis_kwargs``, as ``train.py`` builds them).
* ``torch_utils.persistence.persistent_class`` wraps every network class in a ``Decorator`` subclass that
  records ``_init_args`` / ``_init_kwargs`` and whose ``__reduce__`` takes ``torch.nn.Module``'s own
  ``object.__reduce__()`` -> ``(copyreg._reconstructor, args, state)`` and replaces it by
  ``(_reconstruct_persistent_obj, (meta,), None)``, ``meta = dict(type='class', version=6, module_src=...,
  class_name=..., state=state)``. :class:`_PersistentNet` does exactly that, on real ``torch.nn.Module``
  objects, so ``state`` holds the real ``__dict__`` keys, ``Parameter``\\s and buffers.

For pickle to record the global ``torch_utils.persistence._reconstruct_persistent_obj`` (and
``dnnlib.util.EasyDict``) the objects must be importable under those names while dumping:
:func:`official_pickle_modules` registers stand-in modules in ``sys.modules`` for the duration only.
The stand-in reconstruct function raises if anything ever calls it.

The malicious writers (:func:`write_malicious_pickle`) hold payloads that really work under a permissive
unpickler: each touches ``marker_file``.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import io
import os
import pickle
import re
import shlex
import subprocess
import sys
import types
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

PERSISTENCE_VERSION = 6
SNAPSHOT_KEYS = ("G", "D", "G_ema", "augment_pipe", "training_set_kwargs")

# Leaf names registered as buffers (StyleGAN2: w_avg, noise_const, resample_filter; StyleGAN3 and the
# augmentation pipeline add the others). Every other leaf becomes a Parameter.
BUFFER_NAMES = frozenset(
    {"w_avg", "noise_const", "resample_filter", "magnitude_ema", "up_filter", "down_filter", "transform",
     "freqs", "phases", "p", "Hz_geom", "Hz_fbank"}
)

TRAINING_SET_KWARGS = dict(
    class_name="training.dataset.ImageFolderDataset", path="~/datasets/ffhq-64x64.zip", use_labels=False,
    max_size=70000, xflip=True, resolution=64,
)


# ---------------------------------------------------------------------------------------------------------
# Stand-ins for the official modules, so that pickle records the official global names.


def _reconstruct_persistent_obj(meta: dict) -> Any:
    raise RuntimeError("test stand-in for torch_utils.persistence._reconstruct_persistent_obj; never called")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"


class EasyDict(dict):
    """Same behaviour as ``dnnlib.util.EasyDict`` (a dict with attribute access), recorded under that name."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        del self[name]


EasyDict.__module__ = "dnnlib.util"


class TFNetwork:
    """Shape of ``dnnlib.tflib.network.Network`` pickles (TensorFlow-era StyleGAN / StyleGAN2)."""

    def __init__(self, name: str):
        self.name = name

    def __getstate__(self) -> dict:
        return dict(
            version=4, name=self.name, static_kwargs=dict(resolution=64, label_size=0), components={},
            build_module_src="def G_main(*args, **kwargs):\n    pass\n", build_func_name="G_main",
            variables=[("dlatent_avg", np.zeros([8], np.float32))],
        )


TFNetwork.__module__ = "dnnlib.tflib.network"
TFNetwork.__qualname__ = "Network"


@contextlib.contextmanager
def official_pickle_modules() -> Iterator[None]:
    """Register ``torch_utils.persistence``, ``dnnlib.util`` and ``dnnlib.tflib.network`` stand-ins meanwhile."""
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util", "dnnlib.tflib", "dnnlib.tflib.network")
    modules = {name: types.ModuleType(name) for name in names}
    modules["torch_utils"].persistence = modules["torch_utils.persistence"]
    modules["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    modules["dnnlib"].util = modules["dnnlib.util"]
    modules["dnnlib"].EasyDict = EasyDict
    modules["dnnlib"].tflib = modules["dnnlib.tflib"]
    modules["dnnlib.util"].EasyDict = EasyDict
    modules["dnnlib.tflib"].network = modules["dnnlib.tflib.network"]
    modules["dnnlib.tflib.network"].Network = TFNetwork
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous


# ---------------------------------------------------------------------------------------------------------
# Stored source code (never executed by regiongan; realistic enough for its module-name guess).

STYLEGAN2_CLASSES = (
    "FullyConnectedLayer", "Conv2dLayer", "MappingNetwork", "SynthesisLayer", "ToRGBLayer", "SynthesisBlock",
    "SynthesisNetwork", "Generator", "DiscriminatorBlock", "MinibatchStdLayer", "DiscriminatorEpilogue",
    "Discriminator",
)
STYLEGAN3_CLASSES = (
    "FullyConnectedLayer", "MappingNetwork", "SynthesisInput", "SynthesisLayer", "SynthesisNetwork", "Generator",
)


def official_module_src(class_names: tuple[str, ...] = STYLEGAN2_CLASSES, ema_flag: str = "skip_w_avg_update") -> str:
    """A module source laid out like NVlabs' network files: imports, then persistent classes."""
    lines = [
        "# Copyright (c) 2021, NVIDIA CORPORATION.  All rights reserved.",
        "# (Synthetic stand-in written by the regiongan test factory.)",
        "",
        "import numpy as np",
        "import torch",
        "from torch_utils import misc",
        "from torch_utils import persistence",
        "from torch_utils.ops import bias_act",
        "",
    ]
    for name in class_names:
        lines += [
            "#" + "-" * 76,
            "",
            "@persistence.persistent_class",
            f"class {name}(torch.nn.Module):",
            "    def __init__(self, *args, **kwargs):",
            "        super().__init__()",
            "",
            f"    def forward(self, x, {ema_flag}=False, **kwargs):",
            "        return x",
            "",
        ]
    return "\n".join(lines)


STYLEGAN2_SRC = official_module_src()
STYLEGAN3_SRC = official_module_src(STYLEGAN3_CLASSES, ema_flag="update_emas")
AUGMENT_SRC = official_module_src(("AugmentPipe",))


# ---------------------------------------------------------------------------------------------------------
# Persistent networks built from a state dict.


class _PersistentNet(torch.nn.Module):
    """A ``torch.nn.Module`` that pickles the way ``persistence.persistent_class``'s Decorator does."""

    _orig_module_src: str = ""
    _orig_class_name: str = ""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        self._init_args = copy.deepcopy(args)
        self._init_kwargs = copy.deepcopy(kwargs)

    def __reduce__(self) -> tuple:
        fields = list(super().__reduce__())  # (copyreg._reconstructor, (cls, object, None), __dict__ copy)
        fields += [None] * max(3 - len(fields), 0)
        meta = dict(type="class", version=PERSISTENCE_VERSION, module_src=self._orig_module_src,
                    class_name=self._orig_class_name, state=fields[2])
        fields[0] = _reconstruct_persistent_obj
        fields[1] = (meta,)
        fields[2] = None
        return tuple(fields)


_PERSISTENT_CLASSES: dict[tuple[str, str], type[_PersistentNet]] = {}


def persistent_class(class_name: str, module_src: str) -> type[_PersistentNet]:
    """One class per (name, source), like one Decorator per decorated class."""
    key = (class_name, module_src)
    if key not in _PERSISTENT_CLASSES:
        attributes = {"_orig_class_name": class_name, "_orig_module_src": module_src}
        _PERSISTENT_CLASSES[key] = type(class_name, (_PersistentNet,), attributes)
    return _PERSISTENT_CLASSES[key]


# (parent class or None for any, child attribute regex) -> class, following NVlabs' networks files.
_CHILD_CLASSES = (
    ("Generator", "mapping", "MappingNetwork"),
    ("Generator", "synthesis", "SynthesisNetwork"),
    ("Discriminator", "mapping", "MappingNetwork"),
    ("Discriminator", "b4", "DiscriminatorEpilogue"),
    ("Discriminator", r"b\d+", "DiscriminatorBlock"),
    ("MappingNetwork", r"fc\d+|embed", "FullyConnectedLayer"),
    ("SynthesisNetwork", r"b\d+", "SynthesisBlock"),
    ("SynthesisNetwork", "input", "SynthesisInput"),
    ("SynthesisNetwork", r"L\d+_\d+_\d+", "SynthesisLayer"),
    ("SynthesisBlock", "conv[01]", "SynthesisLayer"),
    ("SynthesisBlock", "torgb", "ToRGBLayer"),
    ("SynthesisBlock", "skip", "Conv2dLayer"),
    ("DiscriminatorBlock", "fromrgb|conv[01]|skip", "Conv2dLayer"),
    ("DiscriminatorEpilogue", "conv|fromrgb", "Conv2dLayer"),
    ("DiscriminatorEpilogue", "fc|out", "FullyConnectedLayer"),
    (None, "affine", "FullyConnectedLayer"),
)


def _child_class_name(parent: str, child: str) -> str:
    for parent_class, pattern, class_name in _CHILD_CLASSES:
        if parent_class in (None, parent) and re.fullmatch(pattern, child):
            return class_name
    return "Module"


def _as_easydicts(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """``train.py`` passes nested kwargs (mapping_kwargs, synthesis_kwargs, ...) as EasyDicts."""
    def convert(value: Any) -> Any:
        return EasyDict({k: convert(v) for k, v in value.items()}) if isinstance(value, Mapping) else value

    return {k: convert(v) for k, v in kwargs.items()}


def build_official_network(
    class_name: str, init_kwargs: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor], module_src: str
) -> _PersistentNet:
    """A tree of persistent modules following the dotted state-dict names, in eval mode, no grads.

    Tensors are cloned, so two networks built from one state dict share no storage (like G and G_ema).
    """
    root = persistent_class(class_name, module_src)(**_as_easydicts(init_kwargs))
    for key, value in init_kwargs.items():
        if isinstance(value, (int, float, str)):
            setattr(root, key, value)  # the official classes store their scalar arguments as attributes
    for key, tensor in state_dict.items():
        *path, leaf = key.split(".")
        module = root
        for part in path:
            if part not in module._modules:
                child_class = _child_class_name(module._orig_class_name, part)
                module.add_module(part, persistent_class(child_class, module_src)())
            module = module._modules[part]
        value = tensor.detach().clone()
        if leaf in BUFFER_NAMES:
            module.register_buffer(leaf, value)
        else:
            module.register_parameter(leaf, torch.nn.Parameter(value, requires_grad=False))
    for module in root.modules():
        _add_official_attributes(module, module_src)
    return root.eval().requires_grad_(False)


def _add_official_attributes(module: _PersistentNet, module_src: str) -> None:
    """Plain attributes the official layers carry: numpy float64 gains, constructor args, stylegan3 sizes."""
    weight = module._parameters.get("weight")
    if weight is not None and weight.ndim >= 2:
        fan_in = int(np.prod(weight.shape[1:]))
        module.weight_gain = 1 / np.sqrt(fan_in)  # np.float64, as in FullyConnectedLayer / Conv2dLayer
        if module._orig_class_name == "FullyConnectedLayer":
            module._init_args = (weight.shape[1], weight.shape[0])
            module.activation = "linear"
            module.bias_gain = 1
    if "class SynthesisInput(" in module_src:
        if module._orig_class_name == "SynthesisInput":
            module.size = np.broadcast_to(np.asarray(16), [2])  # stylegan3 stores numpy int arrays
            module.sampling_rate = np.float64(16.0)
        if module._orig_class_name == "SynthesisLayer" and "up_filter" not in module._buffers:
            module.register_buffer("up_filter", None)  # stylegan3 registers None for identity filters


def random_state_dict(keys_and_shapes: Mapping[str, tuple[int, ...]], seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=gen) for k, shape in keys_and_shapes.items()}


def small_generator_state_dict(seed: int = 0) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A tiny StyleGAN2-shaped generator (8x8, 4 channels): init kwargs and state dict (NVIDIA names)."""
    init_kwargs = dict(
        z_dim=4, c_dim=0, w_dim=4, img_resolution=8, img_channels=3,
        mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=32, channel_max=4, num_fp16_res=0,
                                                                 conv_clamp=None, resample_filter=[1, 3, 3, 1]),
    )
    shapes: dict[str, tuple[int, ...]] = {"synthesis.b4.const": (4, 4, 4), "synthesis.b4.resample_filter": (4, 4)}
    for res, convs in ((4, ("conv1",)), (8, ("conv0", "conv1"))):
        if res == 8:
            shapes["synthesis.b8.resample_filter"] = (4, 4)
        for conv in convs:
            p = f"synthesis.b{res}.{conv}"
            shapes.update({f"{p}.weight": (4, 4, 3, 3), f"{p}.noise_strength": (), f"{p}.bias": (4,),
                           f"{p}.resample_filter": (4, 4), f"{p}.noise_const": (res, res),
                           f"{p}.affine.weight": (4, 4), f"{p}.affine.bias": (4,)})
        p = f"synthesis.b{res}.torgb"
        shapes.update({f"{p}.weight": (3, 4, 1, 1), f"{p}.bias": (3,),
                       f"{p}.affine.weight": (4, 4), f"{p}.affine.bias": (4,)})
    shapes.update({"mapping.w_avg": (4,), "mapping.fc0.weight": (4, 4), "mapping.fc0.bias": (4,),
                   "mapping.fc1.weight": (4, 4), "mapping.fc1.bias": (4,)})
    state = random_state_dict(shapes, seed)
    state["synthesis.b8.torgb.bias"] = state["synthesis.b8.torgb.bias"].half()  # a float16 tensor too
    return init_kwargs, state


def small_discriminator_state_dict(seed: int = 1) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    init_kwargs = dict(c_dim=0, img_resolution=8, img_channels=3, architecture="resnet", channel_base=32,
                       channel_max=4, num_fp16_res=0, conv_clamp=None, block_kwargs={}, mapping_kwargs={},
                       epilogue_kwargs=dict(mbstd_group_size=4))
    shapes = {
        "b8.fromrgb.weight": (4, 3, 1, 1), "b8.fromrgb.bias": (4,), "b8.fromrgb.resample_filter": (4, 4),
        "b8.conv0.weight": (4, 4, 3, 3), "b8.conv0.bias": (4,), "b8.conv0.resample_filter": (4, 4),
        "b8.conv1.weight": (4, 4, 3, 3), "b8.conv1.bias": (4,), "b8.conv1.resample_filter": (4, 4),
        "b8.skip.weight": (4, 4, 1, 1), "b8.skip.resample_filter": (4, 4), "b8.resample_filter": (4, 4),
        "b4.conv.weight": (4, 5, 3, 3), "b4.conv.bias": (4,), "b4.conv.resample_filter": (4, 4),
        "b4.fc.weight": (4, 64), "b4.fc.bias": (4,), "b4.out.weight": (1, 4), "b4.out.bias": (1,),
    }
    return init_kwargs, random_state_dict(shapes, seed)


def build_augment_pipe() -> _PersistentNet:
    pipe_class = persistent_class("AugmentPipe", AUGMENT_SRC)
    pipe = pipe_class(xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1)
    pipe.register_buffer("p", torch.zeros([]))
    pipe.register_buffer("Hz_geom", torch.randn(12, generator=torch.Generator().manual_seed(2)))
    pipe.xflip = 1.0
    pipe.xint_max = 0.125
    pipe.scale_std = 0.2
    return pipe.eval().requires_grad_(False)


def build_snapshot(
    init_kwargs: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor], class_name: str = "Generator",
    include: tuple[str, ...] = SNAPSHOT_KEYS, module_src: str = STYLEGAN2_SRC,
) -> dict[str, Any]:
    """The dict ``training_loop.py`` pickles, in its key order. Call inside :func:`official_pickle_modules`."""
    unknown = set(include) - set(SNAPSHOT_KEYS)
    if unknown:
        raise ValueError(f"unknown snapshot keys {sorted(unknown)}; expected a subset of {SNAPSHOT_KEYS}")
    snapshot: dict[str, Any] = {}
    if "training_set_kwargs" in include:
        snapshot["training_set_kwargs"] = dict(TRAINING_SET_KWARGS)
    for name in ("G", "D", "G_ema", "augment_pipe"):
        if name not in include:
            continue
        if name in ("G", "G_ema"):
            snapshot[name] = build_official_network(class_name, init_kwargs, state_dict, module_src)
        elif name == "D":
            d_kwargs, d_state = small_discriminator_state_dict()
            snapshot[name] = build_official_network("Discriminator", d_kwargs, d_state, module_src)
        else:
            snapshot[name] = build_augment_pipe()
    return snapshot


def write_official_style_pickle(
    path: str | os.PathLike, init_kwargs: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor],
    class_name: str = "Generator", include: tuple[str, ...] = SNAPSHOT_KEYS, *, protocol: int = 4,
    module_src: str = STYLEGAN2_SRC,
) -> None:
    """Write ``path`` like ``training_loop.py`` writes ``network-snapshot-*.pkl`` (protocol 3 on Python 3.7)."""
    with official_pickle_modules():
        snapshot = build_snapshot(init_kwargs, state_dict, class_name, include, module_src)
        with open(path, "wb") as f:
            pickle.dump(snapshot, f, protocol=protocol)


def write_tf_era_pickle(path: str | os.PathLike) -> None:
    """A TensorFlow-era ``(G, D, Gs)`` pickle of ``dnnlib.tflib.network.Network`` objects."""
    with official_pickle_modules(), open(path, "wb") as f:
        pickle.dump((TFNetwork("G"), TFNetwork("D"), TFNetwork("Gs")), f, protocol=4)


# ---------------------------------------------------------------------------------------------------------
# Malicious pickles. Each payload touches marker_file when a permissive unpickler loads the file.


class _Reduce:
    """Pickles as ``func(*args)``; ``func`` may itself be a ``_Reduce`` (hence callable)."""

    def __init__(self, func: Any, args: tuple):
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return (self.func, self.args)

    def __call__(self, *args: Any) -> Any:
        raise RuntimeError("never called; only pickled")


def _shell_touch(marker: Path) -> str:
    return f"touch {shlex.quote(str(marker))}"


def _python_touch(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def malicious_module_src(marker: str | os.PathLike) -> str:
    """Network source that creates ``marker`` when ``exec``\\ed, as the official loader would."""
    payload = f"import pathlib as _pathlib\n_pathlib.Path({str(marker)!r}).touch()\n"
    return payload + STYLEGAN2_SRC


def _legacy_torch_save(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()


# variant -> the global the safe loader must name when refusing (None: loads fine, payload ignored).
MALICIOUS_VARIANTS: dict[str, str | None] = {
    "os_system": f"{os.system.__module__}.system",
    "subprocess": "subprocess.call",
    "eval": "builtins.eval",
    "exec": "builtins.exec",
    "getattr": "builtins.getattr",
    "nested_global": f"{os.system.__module__}.system",
    "storage_bytes": f"{os.system.__module__}.system",
    "module_src": None,
}


def write_malicious_pickle(path: str | os.PathLike, marker_file: str | os.PathLike, variant: str = "os_system") -> None:
    """Write one of :data:`MALICIOUS_VARIANTS`.

    os_system / subprocess / eval / exec / getattr: the snapshot's ``G_ema`` is a call that touches the
        marker (getattr: ``getattr(__import__('os'), 'system')(cmd)``).
    nested_global: an official-style ``G_ema`` with an ``os.system`` call hidden in a sub-network's state.
    storage_bytes: an official-style ``G_ema`` whose ``mapping.w_avg`` storage bytes are a legacy
        ``torch.save`` of an ``os.system`` call (runs under ``torch.load(weights_only=False)``, which is what
        ``torch.storage._load_from_bytes`` does).
    module_src: an official-style ``G_ema`` whose stored source touches the marker when ``exec``\\ed. It is
        otherwise a valid snapshot: a loader that never executes source reads it normally.
    """
    marker = Path(marker_file)
    calls = {
        "os_system": lambda: _Reduce(os.system, (_shell_touch(marker),)),
        "subprocess": lambda: _Reduce(subprocess.call, ([sys.executable, "-c", _python_touch(marker)],)),
        "eval": lambda: _Reduce(eval, (_python_touch(marker),)),
        "exec": lambda: _Reduce(exec, (_python_touch(marker),)),
        "getattr": lambda: _Reduce(_Reduce(getattr, (_Reduce(__import__, ("os",)), "system")), (_shell_touch(marker),)),
    }
    if variant not in MALICIOUS_VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {list(MALICIOUS_VARIANTS)}")
    init_kwargs, state = small_generator_state_dict()
    with official_pickle_modules():
        if variant in calls:
            snapshot: dict[str, Any] = {"training_set_kwargs": dict(TRAINING_SET_KWARGS), "G_ema": calls[variant]()}
        elif variant == "module_src":
            snapshot = build_snapshot(init_kwargs, state, include=("training_set_kwargs", "G_ema"),
                                      module_src=malicious_module_src(marker))
        else:
            snapshot = build_snapshot(init_kwargs, state, include=("training_set_kwargs", "G_ema"))
            mapping = snapshot["G_ema"].mapping
            if variant == "nested_global":
                mapping.__dict__["w_avg_beta"] = _Reduce(os.system, (_shell_touch(marker),))
            else:
                evil_storage = _Reduce(torch.storage._load_from_bytes,
                                       (_legacy_torch_save(_Reduce(os.system, (_shell_touch(marker),))),))
                mapping._buffers["w_avg"] = _Reduce(
                    torch._utils._rebuild_tensor_v2, (evil_storage, 0, (4,), (1,), False, collections.OrderedDict()))
        with open(path, "wb") as f:
            pickle.dump(snapshot, f, protocol=4)
