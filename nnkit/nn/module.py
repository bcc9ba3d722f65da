"""``Module`` and ``Parameter``: the building blocks of a network.

A module owns parameters (tensors to be learned) and sub-modules, found by
walking its attributes, and computes ``forward(x)`` when called.  The names
and behaviour follow PyTorch so that a learner can move on without relearning.
"""
from __future__ import annotations

from collections import OrderedDict

from nnkit import backend
from nnkit.autodiff import Tensor


class ShapeError(ValueError):
    """An input has the wrong shape for a layer; the message names both shapes."""


class Parameter(Tensor):
    """A tensor that a module learns: it always requires a gradient."""

    def __init__(self, data, dtype=None):
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class of every layer and model.

    Subclasses set parameters and sub-modules as attributes in ``__init__``
    and implement ``forward``.
    """

    def __init__(self):
        object.__setattr__(self, "training", True)

    # Attributes are looked up in __dict__; parameters and modules are found by type.
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def __call__(self, *args, **kwargs):
        if backend.is_foreign():  # off NumPy: a model made before nnkit.use(...) must be moved first
            self._check_backend()
        return self.forward(*args, **kwargs)

    def _check_backend(self) -> None:
        """Raise BackendMismatchError if a parameter or buffer of this module is on another backend."""
        kind = backend.array_type()
        own = [(n, v.data) for n, v in vars(self).items() if isinstance(v, Parameter)]
        own += [(n, getattr(self, n)) for n in getattr(self, "_buffer_names", ())]
        for name, value in own:
            if value is not None and not isinstance(value, kind):
                raise backend.BackendMismatchError(
                    f"{type(self).__name__}: {name!r} is a {backend.type_name(value)} but the backend "
                    f"{backend.name()!r} computes with {backend.type_name(kind)}; move the model with "
                    "nnkit.to_device(model), before creating its optimizer"
                )

    def named_children(self):
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def children(self):
        return [m for _, m in self.named_children()]

    def modules(self):
        """This module and every module below it, depth first."""
        yield self
        for child in self.children():
            yield from child.modules()

    def named_parameters(self, prefix: str = ""):
        """Yield ``(dotted name, Parameter)`` for every parameter, each once."""
        seen = set()
        for name, value in vars(self).items():
            if isinstance(value, Parameter) and id(value) not in seen:
                seen.add(id(value))
                yield prefix + name, value
        for name, child in self.named_children():
            for sub, p in child.named_parameters(prefix + name + "."):
                if id(p) not in seen:
                    seen.add(id(p))
                    yield sub, p

    def parameters(self):
        """All parameters, as a list (pass it to an optimizer)."""
        return [p for _, p in self.named_parameters()]

    def num_parameters(self) -> int:
        """How many numbers the model learns."""
        return sum(p.size for p in self.parameters())

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> "Module":
        """Switch to training mode (dropout active, batch statistics used)."""
        for m in self.modules():
            m.training = mode
        return self

    def eval(self) -> "Module":
        """Switch to evaluation mode."""
        return self.train(False)

    def buffers(self):
        """Named non-learned state saved with the model (e.g. running means)."""
        for m_name, m in [("", self)] + [(n + ".", c) for n, c in self._all_named_modules()]:
            for name in getattr(m, "_buffer_names", ()):
                yield m_name + name, m, name

    def _all_named_modules(self, prefix=""):
        for name, child in self.named_children():
            yield prefix + name, child
            yield from child._all_named_modules(prefix + name + ".")

    def register_buffer(self, name: str, value) -> None:
        object.__setattr__(self, name, value)
        names = list(getattr(self, "_buffer_names", ()))
        if name not in names:
            names.append(name)
        object.__setattr__(self, "_buffer_names", tuple(names))

    def state_dict(self) -> "OrderedDict[str, object]":
        """Copies of every parameter and buffer, by dotted name."""
        state = OrderedDict((n, p.data.copy()) for n, p in self.named_parameters())
        for full, owner, name in self.buffers():
            state[full] = getattr(owner, name).copy()
        return state

    def load_state_dict(self, state) -> None:
        """Load values saved by :meth:`state_dict`; names and shapes must match."""
        xp = backend.xp()
        own = dict(self.named_parameters())
        bufs = {full: (owner, name) for full, owner, name in self.buffers()}
        missing = (set(own) | set(bufs)) - set(state)
        unexpected = set(state) - set(own) - set(bufs)
        if missing or unexpected:
            raise KeyError(f"load_state_dict: missing {sorted(missing)}, unexpected {sorted(unexpected)}")
        for name, value in state.items():
            value = xp.asarray(value)
            if name in own:
                if value.shape != own[name].data.shape:
                    raise ShapeError(f"load_state_dict: {name} expects shape {own[name].shape}, got {value.shape}")
                own[name].data = value.astype(own[name].data.dtype).copy()
            else:
                owner, attr = bufs[name]
                object.__setattr__(owner, attr, value.copy())

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        inner = "\n".join(f"  ({n}): " + repr(c).replace("\n", "\n  ") for n, c in children)
        return f"{type(self).__name__}(\n{inner}\n)"


class Sequential(Module):
    """Apply modules one after the other: ``Sequential(f, g)(x) = g(f(x))``."""

    def __init__(self, *layers: Module):
        super().__init__()
        self.layers = list(layers)

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            try:
                x = layer(x)
            except ShapeError as err:
                if str(err).startswith("Sequential"):
                    raise
                raise ShapeError(f"Sequential layer {i}: {err}") from None
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self) -> int:
        return len(self.layers)

    def named_children(self):
        for i, layer in enumerate(self.layers):
            yield str(i), layer


def as_input(x, layer: Module, dtype=None) -> Tensor:
    """Wrap arrays as Tensors (float inputs keep their precision)."""
    if isinstance(x, Tensor):
        return x
    t = Tensor(x)
    if t.data.dtype.kind != "f":
        t = Tensor(t.data.astype(dtype or "float64"))
    return t


def check_last_dim(x: Tensor, expected: int, layer: Module, what: str = "features") -> None:
    """Raise a ShapeError naming the layer when ``x.shape[-1] != expected``."""
    if x.ndim == 0 or x.shape[-1] != expected:
        raise ShapeError(
            f"{layer!r} expects input of shape (..., {expected}) ({expected} {what}), got shape {x.shape}"
        )
