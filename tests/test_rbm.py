"""RBM with CD-k and persistent CD; DBN (neural-nets notes, "Restricted Boltzmann machines")."""
import numpy as np
import pytest

from nnkit.data import load_digits
from nnkit.models.rbm import DBN, RBM


def all_binary(n):
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)


def test_free_energy_marginalises_the_hidden_units():
    rbm = RBM(4, 3, scale=0.8, seed=0)
    rbm.b[:] = [0.1, -0.2, 0.3, 0.0]
    rbm.c[:] = [0.5, -0.5, 0.2]
    V, H = all_binary(4), all_binary(3)
    for v in V:
        brute = -np.log(np.exp(-rbm.energy(np.repeat(v[None], len(H), 0), H)).sum())
        assert np.isclose(rbm.free_energy(v)[0], brute)
    # log Z two ways: over v of exp(-F(v)), and the closed form over h
    assert np.isclose(np.log(np.exp(-rbm.free_energy(V)).sum()), rbm.log_partition())


def test_conditionals_match_the_joint():
    rbm = RBM(3, 2, scale=1.0, seed=1)
    V, H = all_binary(3), all_binary(2)
    v = V[5]
    joint = np.exp(-rbm.energy(np.repeat(v[None], 4, 0), H))
    p_h1 = (joint[:, None] * H).sum(0) / joint.sum()
    assert np.allclose(rbm.hidden_probs(v)[0], p_h1)


def exact_log_likelihood(rbm, X):
    return float((-rbm.free_energy(X) - rbm.log_partition()).mean())


@pytest.mark.parametrize("persistent", [False, True])
def test_training_raises_the_exact_likelihood_on_bars(persistent):
    rng = np.random.default_rng(0)
    # 3x3 bars: one horizontal or vertical bar lit
    pats = []
    for i in range(3):
        img = np.zeros((3, 3)); img[i] = 1; pats.append(img.ravel())
        img = np.zeros((3, 3)); img[:, i] = 1; pats.append(img.ravel())
    X = np.array(pats)[rng.integers(6, size=600)]
    rbm = RBM(9, 8, seed=0)
    before = exact_log_likelihood(rbm, X)
    hist = rbm.fit(X, epochs=60, batch_size=20, lr=0.1, k=1, persistent=persistent)
    after = exact_log_likelihood(rbm, X)
    assert after > before + 2.0
    assert after > np.log(1 / 6) - 1.5  # the ideal model puts 1/6 on each pattern
    assert hist["recon"][-1] < hist["recon"][0]


def test_cd_k_gradient_direction_for_k_large_matches_exact_gradient():
    """With many Gibbs steps, CD's W update approaches the exact log-likelihood gradient."""
    rbm = RBM(4, 3, scale=0.5, seed=2)
    V = all_binary(4)
    X = V[[1, 3, 7, 15, 3, 7]]
    # exact gradient: <v p(h|v)>_data - <v p(h|v)>_model
    pv = np.exp(-rbm.free_energy(V) - rbm.log_partition())
    exact = X.T @ rbm.hidden_probs(X) / len(X) - (V * pv[:, None]).T @ rbm.hidden_probs(V)
    W0 = rbm.W.copy()
    big = np.repeat(X, 500, 0)
    rbm.cd_step(big, lr=1.0, k=50, momentum=0.0)
    est = rbm.W - W0
    rbm.W = W0
    cos = (est * exact).sum() / np.linalg.norm(est) / np.linalg.norm(exact)
    assert cos > 0.95


def test_digits_rbm_and_dbn():
    X, _ = load_digits()
    Xb = (X > 0.5).astype(float)
    rbm = RBM(64, 32, seed=0)
    before = rbm.reconstruction_error(Xb[:1200])  # about 64 * 1/4 at the start
    hist = rbm.fit(Xb[:1200], epochs=8, batch_size=20, lr=0.05, X_val=Xb[1200:])
    assert hist["recon"][-1] < 0.4 * before
    assert hist["recon"][-1] < hist["recon"][0]
    assert len(hist["free_energy_gap"]) == 8
    samples = rbm.sample(4, steps=100)
    assert samples.shape == (4, 64) and 0 <= samples.min() and samples.max() <= 1
    dbn = DBN([64, 32, 16], seed=0)
    hs = dbn.pretrain(Xb[:600], epochs=3, batch_size=20, lr=0.05)
    assert len(hs) == 2 and dbn.transform(Xb[:3]).shape == (3, 16)
    assert dbn.sample(2, steps=20).shape == (2, 64)
    with pytest.raises(ValueError, match="RBM expects"):
        rbm.hidden_probs(np.zeros((2, 10)))
