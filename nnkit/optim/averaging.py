"""Iterate averaging: a smoothed copy of the weights for evaluation (Lecture 7, §4.6, eq. (11)).

SGD's iterates keep jumping around the minimum because every minibatch
gradient is noisy.  An exponential moving average of the iterates,

    w_avg <- (1 - 1/tau) * w_avg + (1/tau) * w

averages that noise out over about ``tau`` steps while training itself goes on
with the raw weights.
"""
from __future__ import annotations


class IterateAverage:
    """Keep ``w_avg`` for each parameter; call :meth:`update` after every ``optimizer.step()``.

    ``averages`` holds one array per parameter (same shapes); :meth:`copy_to`
    writes them into the parameters (e.g. of the model before evaluation).
    """

    def __init__(self, params, tau: float = 100.0):
        if tau < 1:
            raise ValueError(f"IterateAverage: tau must be >= 1, got {tau}")
        self.params = list(params)
        self.tau = float(tau)
        self.averages = [p.data.copy() for p in self.params]

    def update(self) -> None:
        """``w_avg <- (1 - 1/tau) w_avg + (1/tau) w`` for every parameter."""
        k = 1.0 / self.tau
        for avg, p in zip(self.averages, self.params):
            avg *= 1.0 - k
            avg += k * p.data

    def copy_to(self, params=None) -> None:
        """Overwrite ``params`` (default: the tracked ones) with the averages."""
        params = self.params if params is None else list(params)
        if len(params) != len(self.averages):
            raise ValueError(f"IterateAverage.copy_to: got {len(params)} parameters, "
                             f"averages exist for {len(self.averages)}")
        for avg, p in zip(self.averages, params):
            if p.data.shape != avg.shape:
                raise ValueError(f"IterateAverage.copy_to: parameter shape {p.data.shape} "
                                 f"does not match average shape {avg.shape}")
            p.data[...] = avg
