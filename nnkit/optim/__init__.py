"""Optimizers, learning-rate schedules, gradient clipping and weight penalties.

Usage, as in PyTorch::

    opt = nnkit.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = nnkit.optim.CosineAnnealingLR(opt, T_max=50)
    for epoch in range(50):
        for xb, yb in batches:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            nnkit.optim.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        sched.step()

Sources: Lecture 7 (optimization) and the neural-nets notes' "Training
algorithms" section; the docstring of each class gives its update rule.
"""
from nnkit.optim.adaptive import Adadelta, Adagrad, Adam, AdamW, RMSprop, Rprop
from nnkit.optim.annealing import CauchyTraining, SimulatedAnnealing, add_gradient_noise  # noqa: F401
from nnkit.optim.averaging import IterateAverage
from nnkit.optim.clip import clip_grad_norm_, clip_grad_value_
from nnkit.optim.optimizer import Optimizer, max_norm_
from nnkit.optim.schedules import (
    CosineAnnealingLR,
    ExponentialLR,
    InverseTimeLR,
    LinearWarmup,
    LRScheduler,
    StepLR,
)
from nnkit.optim.sgd import SGD, Momentum, Nesterov

__all__ = [
    "Optimizer", "SGD", "Momentum", "Nesterov", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW", "Rprop",
    "LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "InverseTimeLR", "LinearWarmup",
    "clip_grad_norm_", "clip_grad_value_", "max_norm_", "IterateAverage",
]
