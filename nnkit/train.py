"""A small training loop: minibatches, history, progress bar, callbacks and early stopping.

One epoch of :func:`fit` is Lecture 7's minibatch SGD loop::

    for X_b, y_b in minibatches(X, y, batch_size):   # a fresh shuffle every epoch
        optimizer.zero_grad()
        loss = loss_fn(model(X_b), y_b)              # the average cost over the batch
        loss.backward()                               # backprop fills p.grad
        optimizer.step()                              # the update rule

followed by an evaluation on the validation set and the callbacks.  Early
stopping follows the neural-nets notes ("Overfitting": stop when the
validation error stops improving) and Lecture 9 (§3, early stopping).
"""
from __future__ import annotations

import copy
import math

import numpy as np

from nnkit import backend
from nnkit.autodiff import Tensor, no_grad
from nnkit.data.batching import minibatches


# -- metrics -----------------------------------------------------------------------------------
def _host(a):
    return backend.to_numpy(a.data if isinstance(a, Tensor) else a)


def accuracy(pred, y, threshold: float = 0.0) -> float:
    """Fraction of examples classified correctly.

    - ``pred`` of shape (N, C), C > 1: the class is ``argmax`` over C; ``y`` holds
      labels 0..C-1 of shape (N,) or one-hot rows of shape (N, C).
    - ``pred`` of shape (N,) or (N, 1): a binary score; the class is ``pred > threshold``.
      The default threshold 0 suits logits and SVM scores; pass ``threshold=0.5``
      for probabilities.  ``y`` may use labels {0, 1} or {-1, +1}.
    """
    p, t = _host(pred), _host(y)
    if p.shape[0] != t.shape[0]:
        raise ValueError(f"accuracy: {p.shape[0]} predictions but {t.shape[0]} labels")
    if p.ndim == 2 and p.shape[1] > 1:
        labels = t.argmax(axis=1) if t.ndim == 2 and t.shape[1] == p.shape[1] else t.reshape(-1)
        if labels.shape != (p.shape[0],):
            raise ValueError(f"accuracy: scores of shape {p.shape} need labels (N,) or (N, {p.shape[1]}), "
                             f"got {t.shape}")
        return float(np.mean(p.argmax(axis=1) == labels))
    p, t = p.reshape(len(p), -1), t.reshape(len(t), -1)
    if p.shape[1] != 1 or t.shape[1] != 1:
        raise ValueError(f"accuracy: binary scores need shapes (N,) or (N, 1), got {pred.shape} and {y.shape}")
    positive = p[:, 0] > threshold
    is_positive = t[:, 0] > 0  # works for {0, 1} and {-1, +1}
    return float(np.mean(positive == is_positive))


# -- history -----------------------------------------------------------------------------------
class History:
    """What :func:`fit` measured: one value per epoch for every key, plus every step's loss.

    ``history["loss"]``, ``history["val_loss"]``, ``history["acc"]``, ... are lists
    of length ``len(history)``; ``history.epochs`` are the epoch numbers (from 1);
    ``history.step_loss`` holds the training loss of every minibatch;
    ``history.stopped_early`` and ``history.stop_reason`` say why training ended.
    """

    def __init__(self):
        self.history: dict[str, list[float]] = {}
        self.epochs: list[int] = []
        self.step_loss: list[float] = []
        self.stopped_early = False
        self.stop_reason = ""

    def record(self, epoch: int, logs: dict) -> None:
        self.epochs.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __getitem__(self, key: str) -> list[float]:
        if key not in self.history:
            raise KeyError(f"History has no {key!r}; it recorded {sorted(self.history)}")
        return self.history[key]

    def __contains__(self, key) -> bool:
        return key in self.history

    def __len__(self) -> int:
        return len(self.epochs)

    def keys(self):
        return self.history.keys()

    def last(self) -> dict:
        """The logs of the final epoch."""
        return {k: v[-1] for k, v in self.history.items()}

    def __repr__(self) -> str:
        last = ", ".join(f"{k}={v:.4g}" for k, v in self.last().items()) if self.epochs else ""
        return f"History({len(self)} epochs{': ' if last else ''}{last})"


# -- callbacks -----------------------------------------------------------------------------------
class Callback:
    """Base for callbacks.  :func:`fit` calls, when defined:

    - ``on_train_begin(model)`` once before the first epoch,
    - ``on_epoch_end(epoch, logs)`` after every epoch (``logs`` is that epoch's
      dict of numbers); return ``True`` to stop training,
    - ``on_train_end(history)`` once at the end.
    """

    def on_train_begin(self, model) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict):
        return False

    def on_train_end(self, history: History) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    An epoch improves on the best value ``b`` so far when ``value < b - min_delta``
    (``mode="min"``) or ``value > b + min_delta`` (``mode="max"``).  With
    ``restore_best_weights`` the model gets back the parameters of its best
    epoch when training ends.  After training, ``best``, ``best_epoch`` and
    ``stopped_epoch`` (0 if it never stopped) tell what happened.
    """

    def __init__(self, patience: int = 5, min_delta: float = 0.0, monitor: str = "val_loss",
                 mode: str = "min", restore_best_weights: bool = True):
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be >= 1, got {patience}")
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min' or 'max', got {mode!r}")
        self.patience, self.min_delta = int(patience), abs(float(min_delta))
        self.monitor, self.mode = monitor, mode
        self.restore_best_weights = restore_best_weights
        self._reset()

    def _reset(self):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.stopped_epoch = 0
        self.wait = 0
        self._model = None
        self._best_state = None

    def on_train_begin(self, model) -> None:
        self._reset()
        self._model = model

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict):
        if self.monitor not in logs:
            hint = " pass val=(X_val, y_val) to fit, or" if self.monitor.startswith("val_") else ""
            raise KeyError(f"EarlyStopping monitors {self.monitor!r} but the logs only have "
                           f"{sorted(logs)};{hint} choose another monitor=")
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights and self._model is not None:
                self._best_state = _snapshot(self._model)
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, history: History) -> None:
        if self.restore_best_weights and self._best_state is not None:
            _restore(self._model, self._best_state)


def _snapshot(model):
    if hasattr(model, "state_dict"):
        return copy.deepcopy(model.state_dict())
    return [p.data.copy() for p in model.parameters()]


def _restore(model, state):
    if hasattr(model, "load_state_dict") and not isinstance(state, list):
        model.load_state_dict(state)
    else:
        for p, saved in zip(model.parameters(), state):
            p.data[...] = saved


# -- evaluation ----------------------------------------------------------------------------------
def _set_mode(model, training: bool):
    if training and hasattr(model, "train"):
        model.train()
    elif not training and hasattr(model, "eval"):
        model.eval()


def predict(model, X, batch_size: int | None = None):
    """The model's outputs on ``X`` as one array, computed in evaluation mode without a tape."""
    was_training = getattr(model, "training", True)
    _set_mode(model, False)
    try:
        with no_grad():
            step = batch_size or len(X)
            outs = [model(Tensor(X[i:i + step])).data for i in range(0, len(X), step)]
    finally:
        _set_mode(model, was_training)
    return backend.xp().concatenate(outs, axis=0)


def evaluate(model, loss_fn, X, y, metrics: dict | None = None, batch_size: int | None = None) -> dict:
    """Loss and metrics over a whole data set: ``{"loss": ..., name: ...}``.

    Computed in evaluation mode (dropout off) and without a tape; the batch
    losses are averaged with weights ``len(batch) / N``, which equals the loss on
    the full set for losses that average over examples.
    """
    was_training = getattr(model, "training", True)
    _set_mode(model, False)
    total, n, outs = 0.0, len(X), []
    try:
        with no_grad():
            step = batch_size or n
            for i in range(0, n, step):
                out = model(Tensor(X[i:i + step]))
                total += float(loss_fn(out, y[i:i + step]).item()) * len(X[i:i + step])
                if metrics:
                    outs.append(out.data)
    finally:
        _set_mode(model, was_training)
    logs = {"loss": total / n}
    if metrics:
        pred = backend.xp().concatenate(outs, axis=0)
        for name, fn in metrics.items():
            logs[name] = float(fn(pred, y))
    return logs


# -- the loop ------------------------------------------------------------------------------------
def _progress(epochs, enabled):
    from tqdm.auto import tqdm  # noqa: PLC0415 - a widget in Jupyter, text in a terminal

    return tqdm(range(1, epochs + 1), desc="epoch", unit="epoch", disable=not enabled, leave=True)


def fit(model, loss_fn, optimizer, X, y, epochs: int = 10, batch_size: int = 32, val=None,
        metrics: dict | None = None, callbacks=(), early_stopping: EarlyStopping | None = None,
        progress: bool = True, shuffle: bool = True, scheduler=None, seed=None) -> History:
    """Train ``model`` with minibatch updates and return a :class:`History`.

    Parameters
    ----------
    model: callable on a Tensor of shape (B, ...) with ``parameters()`` (and ``train()``/``eval()``)
    loss_fn: ``loss_fn(output, y_batch)`` -> scalar Tensor
    optimizer: an ``nnkit.optim`` optimizer over ``model.parameters()``
    X, y: training inputs (N, ...) and targets (N, ...)
    epochs, batch_size: passes over the data and examples per update
    val: optional ``(X_val, y_val)``, evaluated after every epoch (keys ``val_loss``, ``val_<metric>``)
    metrics: ``{"acc": accuracy, ...}``, each ``fn(output_array, y_array) -> float``
    callbacks: objects with ``on_epoch_end(epoch, logs)`` (return True to stop), see :class:`Callback`
    early_stopping: an :class:`EarlyStopping`, run after the other callbacks
    progress: a ``tqdm.auto`` bar over epochs (a widget in Jupyter, text in a terminal)
    scheduler: optional learning-rate scheduler, stepped once per epoch
    seed: seed for the shuffling (default: the generator ``nnkit.seed`` resets)

    The training ``loss`` and metrics of an epoch are averages over its
    minibatches, measured before each update.  A NaN or infinite loss stops
    training with a ``FloatingPointError`` naming the epoch and the step.
    """
    if len(X) != len(y):
        raise ValueError(f"fit: X has {len(X)} examples but y has {len(y)}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"fit: epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if val is not None and (len(val) != 2 or len(val[0]) != len(val[1])):
        raise ValueError("fit: val must be a pair (X_val, y_val) with as many targets as inputs")
    metrics = dict(metrics or {})
    callbacks = list(callbacks) + ([early_stopping] if early_stopping is not None else [])
    rng = np.random.default_rng(seed) if seed is not None else None
    history = History()
    steps_per_epoch = math.ceil(len(X) / batch_size)

    for cb in callbacks:
        if hasattr(cb, "on_train_begin"):
            cb.on_train_begin(model)

    bar = _progress(epochs, progress)
    try:
        for epoch in bar:
            _set_mode(model, True)
            sums = dict.fromkeys(["loss", *metrics], 0.0)
            seen = 0
            batches = minibatches(X, y, batch_size, shuffle=shuffle,
                                  seed=None if rng is None else int(rng.integers(2**63)))
            for step, (xb, yb) in enumerate(batches, start=1):
                optimizer.zero_grad()
                out = model(Tensor(xb))
                loss = loss_fn(out, yb)
                value = float(loss.item())
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"fit: the training loss became {value} at epoch {epoch}, step {step} "
                        f"(of {steps_per_epoch} per epoch; update {len(history.step_loss) + 1} overall). "
                        "Try a smaller learning rate, gradient clipping, or check the inputs and "
                        "the loss for log(0) or division by zero."
                    )
                loss.backward()
                optimizer.step()
                history.step_loss.append(value)
                b = len(xb)
                seen += b
                sums["loss"] += value * b
                for name, fn in metrics.items():
                    sums[name] += float(fn(out.data, yb)) * b
            logs = {k: v / seen for k, v in sums.items()}
            if val is not None:
                val_logs = evaluate(model, loss_fn, val[0], val[1], metrics, batch_size=max(batch_size, 1024))
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            history.record(epoch, logs)
            if scheduler is not None:
                scheduler.step()
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()}, refresh=False)

            stop = False
            for cb in callbacks:
                if cb.on_epoch_end(epoch, logs):
                    stop = True
                    history.stop_reason = f"{type(cb).__name__} stopped training after epoch {epoch}"
            if stop:
                history.stopped_early = True
                break
    finally:
        bar.close()
        _set_mode(model, True)
    for cb in callbacks:
        if hasattr(cb, "on_train_end"):
            cb.on_train_end(history)
    return history
