"""fit(): history, early stopping, NaN detection, callbacks, progress; an MLP learns the moons."""
import numpy as np
import pytest

import nnkit
from nnkit import data, losses, nn, optim, train
from nnkit.autodiff import Tensor


class ScriptedValModel(nn.Module):
    """A linear model whose *validation* loss follows a given curve.

    In training mode it is a normal y = x w; in eval mode it outputs a constant
    c_e with c_e^2 equal to the curve's value at epoch e, so the MSE against
    zero targets is exactly that value.
    """

    def __init__(self, curve):
        super().__init__()
        self.w = nn.Parameter(np.array([[0.5]]))
        self.curve = list(curve)
        self.evals = 0

    def forward(self, x):
        if self.training:
            return x @ self.w
        value = self.curve[self.evals]
        self.evals += 1
        return Tensor(np.full((x.shape[0], 1), np.sqrt(value)))


def scripted_fit(curve, **kw):
    X = np.linspace(-1, 1, 8)[:, None]
    model = ScriptedValModel(curve)
    weights = []

    class Record(train.Callback):
        def on_epoch_end(self, epoch, logs):
            weights.append(model.w.data.copy())

    hist = train.fit(model, losses.mse, optim.SGD(model.parameters(), lr=0.1), X, 2 * X,
                     epochs=len(curve), batch_size=8, val=(X[:4], np.zeros((4, 1))),
                     callbacks=[Record()], progress=False, **kw)
    return model, hist, weights


def test_early_stopping_stops_at_the_right_epoch_and_restores_best_weights():
    curve = [1.0, 0.8, 0.7, 0.75, 0.72, 0.71, 0.5, 0.4, 0.3]
    es = train.EarlyStopping(patience=3)
    model, hist, weights = scripted_fit(curve, early_stopping=es)
    # best 0.7 at epoch 3; epochs 4, 5, 6 do not improve -> stop after epoch 6
    assert len(hist) == 6 and hist.epochs == [1, 2, 3, 4, 5, 6]
    assert es.best_epoch == 3 and es.stopped_epoch == 6 and es.best == pytest.approx(0.7)
    np.testing.assert_allclose(hist["val_loss"], curve[:6])
    assert hist.stopped_early and "epoch 6" in hist.stop_reason
    np.testing.assert_array_equal(model.w.data, weights[2])  # the weights of epoch 3
    assert not np.array_equal(weights[2], weights[5])


def test_early_stopping_min_delta():
    # with min_delta 0.05: 0.9 improves on 1.0, 0.87 and 0.86 do not, 0.84 does, then three misses
    curve = [1.0, 0.9, 0.87, 0.86, 0.84, 0.83, 0.82, 0.81, 0.1]
    es = train.EarlyStopping(patience=3, min_delta=0.05, restore_best_weights=False)
    _, hist, _ = scripted_fit(curve, early_stopping=es)
    assert es.best_epoch == 5 and es.stopped_epoch == 8 and len(hist) == 8


def test_early_stopping_unit_max_mode_and_missing_key():
    es = train.EarlyStopping(patience=2, monitor="val_acc", mode="max", restore_best_weights=False)
    stops = [es.on_epoch_end(e, {"val_acc": a}) for e, a in enumerate([0.5, 0.6, 0.6, 0.55], start=1)]
    assert stops == [False, False, False, True] and es.best_epoch == 2
    with pytest.raises(KeyError, match="pass val="):
        train.EarlyStopping().on_epoch_end(1, {"loss": 1.0})


def test_no_early_stop_runs_all_epochs():
    curve = [1.0, 0.9, 0.8, 0.7]
    es = train.EarlyStopping(patience=2)
    _, hist, _ = scripted_fit(curve, early_stopping=es)
    assert len(hist) == 4 and not hist.stopped_early and es.stopped_epoch == 0


def test_history_lengths_and_keys():
    nnkit.seed(1)
    X, t = data.regression_1d(50, noise=0.1, fn="linear", seed=1)
    model = nn.Linear(1, 1)
    mae = lambda out, y: float(np.mean(np.abs(out - y)))  # noqa: E731
    hist = train.fit(model, losses.mse, optim.SGD(model.parameters(), lr=0.3), X[:40], t[:40],
                     epochs=7, batch_size=16, val=(X[40:], t[40:]), metrics={"mae": mae}, progress=False)
    assert len(hist) == 7
    assert set(hist.keys()) == {"loss", "mae", "val_loss", "val_mae"}
    assert all(len(hist[k]) == 7 for k in hist.keys())
    assert len(hist.step_loss) == 7 * 3  # 40 examples in batches of 16: 16, 16, 8
    assert hist["loss"][-1] < 0.2 * hist["loss"][0]
    # the epoch loss is the batch-size-weighted mean of that epoch's step losses
    s = hist.step_loss[-3:]
    assert hist["loss"][-1] == pytest.approx((16 * s[0] + 16 * s[1] + 8 * s[2]) / 40, rel=1e-6)
    # val loss equals the loss of the final model on the validation set
    final = train.evaluate(model, losses.mse, X[40:], t[40:])
    assert hist["val_loss"][-1] == pytest.approx(final["loss"], rel=1e-6)
    with pytest.raises(KeyError, match="recorded"):
        hist["acc"]


def test_nan_loss_names_epoch_and_step():
    X = np.ones((12, 1))
    model = nn.Linear(1, 1)
    calls = [0]

    def loss_fn(out, y):
        calls[0] += 1
        loss = losses.mse(out, y)
        return loss * float("nan") if calls[0] == 7 else loss

    with pytest.raises(FloatingPointError, match=r"became nan at epoch 2, step 3 \(of 4 per epoch; update 7"):
        train.fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.01), X, X, epochs=5,
                  batch_size=3, progress=False)


def test_divergence_to_inf_is_caught():
    X = np.linspace(1, 2, 10)[:, None]
    model = nn.Linear(1, 1, dtype="float32")
    with pytest.raises(FloatingPointError, match=r"became (inf|nan) at epoch \d+, step \d+"), \
            np.errstate(over="ignore", invalid="ignore"):
        train.fit(model, losses.mse, optim.SGD(model.parameters(), lr=10.0), X, 100 * X,
                  epochs=200, batch_size=10, progress=False)


def test_callback_can_stop_and_sees_logs():
    X = np.linspace(-1, 1, 10)[:, None]
    seen = []

    class StopAtThree:
        def on_epoch_end(self, epoch, logs):
            seen.append((epoch, sorted(logs)))
            return epoch == 3

    model = nn.Linear(1, 1)
    hist = train.fit(model, losses.mse, optim.SGD(model.parameters(), lr=0.1), X, X, epochs=10,
                     batch_size=5, callbacks=[StopAtThree()], progress=False)
    assert len(hist) == 3 and seen == [(1, ["loss"]), (2, ["loss"]), (3, ["loss"])]
    assert hist.stop_reason == "StopAtThree stopped training after epoch 3"


def test_scheduler_is_stepped_per_epoch():
    X = np.linspace(-1, 1, 10)[:, None]
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    train.fit(model, losses.mse, opt, X, X, epochs=5, batch_size=10, scheduler=sched, progress=False)
    assert opt.lr == pytest.approx(0.1 * 0.5 ** 2)


def test_progress_bar_text_in_a_terminal(capsys):
    X = np.linspace(-1, 1, 10)[:, None]
    model = nn.Linear(1, 1)
    train.fit(model, losses.mse, optim.SGD(model.parameters(), lr=0.1), X, X, epochs=3, batch_size=5)
    err = capsys.readouterr().err
    assert "epoch" in err and "3/3" in err and "loss=" in err
    train.fit(model, losses.mse, optim.SGD(model.parameters(), lr=0.1), X, X, epochs=3, batch_size=5,
              progress=False)
    assert capsys.readouterr().err == ""


def test_fit_bad_inputs():
    model = nn.Linear(1, 1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="X has 5 examples but y has 4"):
        train.fit(model, losses.mse, opt, np.ones((5, 1)), np.ones((4, 1)), progress=False)


def test_accuracy_helper():
    assert train.accuracy(np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), np.array([0, 1, 1])) == pytest.approx(2 / 3)
    onehot = np.eye(3)[[2, 0]]
    assert train.accuracy(np.array([[0, 0, 1.0], [0, 1.0, 0]]), onehot) == 0.5
    assert train.accuracy(np.array([[1.3], [-0.2], [0.4]]), np.array([[1.0], [0.0], [0.0]])) == pytest.approx(2 / 3)
    assert train.accuracy(np.array([0.7, 0.2]), np.array([1.0, 0.0]), threshold=0.5) == 1.0
    assert train.accuracy(np.array([0.3, -2.0, 5.0]), np.array([-1.0, -1.0, 1.0])) == pytest.approx(2 / 3)
    assert train.accuracy(Tensor(np.array([[1.0], [-1.0]])), np.array([1.0, 0.0])) == 1.0
    with pytest.raises(ValueError, match="3 predictions but 2 labels"):
        train.accuracy(np.zeros(3), np.zeros(2))


def test_mlp_learns_moons_through_fit():
    nnkit.seed(0)
    X, y = data.moons(200, noise=0.15)
    (Xtr, ytr), (Xv, yv), _ = data.train_val_test_split(X, y[:, None], val=0.2, test=0.0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optim.Adam(model.parameters(), lr=0.01)
    hist = train.fit(model, losses.binary_cross_entropy_with_logits, opt, Xtr, ytr, epochs=80,
                     batch_size=32, val=(Xv, yv), metrics={"acc": train.accuracy}, progress=False)
    final = train.evaluate(model, losses.binary_cross_entropy_with_logits, Xtr, ytr,
                           {"acc": train.accuracy})
    assert final["acc"] >= 0.97, final
    assert hist["val_acc"][-1] >= 0.9
    assert hist["loss"][-1] < 0.25 * hist["loss"][0]
    np.testing.assert_allclose(train.predict(model, Xv[:3]).shape, (3, 1))


def test_mlp_on_spirals_with_cross_entropy():
    nnkit.seed(0)
    X, y = data.spirals(300, classes=3, noise=0.1)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 3))
    opt = optim.Adam(model.parameters(), lr=0.02)
    hist = train.fit(model, losses.cross_entropy, opt, X, y, epochs=150, batch_size=64,
                     metrics={"acc": train.accuracy}, progress=False)
    assert train.evaluate(model, losses.cross_entropy, X, y, {"acc": train.accuracy})["acc"] >= 0.95
    assert hist["acc"][0] < 0.7


def test_optimizers_drive_a_real_model():
    """Each optimizer lowers an MSE through Module parameters; max-norm holds on Linear rows."""
    X, t = data.regression_1d(64, noise=0.05, fn=lambda x: np.sin(3 * x), seed=3)
    for make in (lambda p: optim.SGD(p, lr=0.05, momentum=0.9), lambda p: optim.Nesterov(p, lr=0.05),
                 lambda p: optim.RMSprop(p, lr=0.01),
                 lambda p: optim.Adagrad(p, lr=0.1), lambda p: optim.Adadelta(p),
                 lambda p: optim.Adam(p, lr=0.02), lambda p: optim.Rprop(p, lr=0.01)):
        nnkit.seed(2)
        model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
        opt = make(model.parameters())
        before = train.evaluate(model, losses.mse, X, t)["loss"]
        train.fit(model, losses.mse, opt, X, t, epochs=100, batch_size=64, progress=False)
        after = train.evaluate(model, losses.mse, X, t)["loss"]
        assert after < 0.25 * before, (opt, before, after)
    nnkit.seed(2)
    model = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    opt = optim.SGD(model.parameters(), lr=0.5, max_norm=0.5)
    train.fit(model, losses.mse, opt, X, 5 * t, epochs=20, batch_size=16, progress=False)
    for layer in (model[0], model[2]):
        assert np.all(np.linalg.norm(layer.weight.data, axis=1) <= 0.5 + 1e-6)
