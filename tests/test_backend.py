"""nnkit.backend and its strict stand-in for CuPy: selection, moving data, and the refusals."""
from __future__ import annotations

import subprocess
import sys
import types

import numpy as np
import pytest

import nnkit
from nnkit import backend, nn
from nnkit.autodiff import Tensor
from nnkit.testing import strict
from nnkit.testing.strict import StrictArray, namespace as sp


@pytest.fixture
def strict_backend():
    nnkit.use("strict")
    yield sp
    nnkit.use("numpy")


# ------------------------------------------------------------ selection
def test_unknown_backend_is_named_in_the_error():
    with pytest.raises(backend.BackendError, match="'jax'.*registered: cupy, numpy, strict"):
        nnkit.use("jax")
    assert backend.name() == "numpy"


def test_cupy_missing_gives_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes ``import cupy`` fail here
    with pytest.raises(backend.BackendError, match=r"pip install 'nnkit\[gpu\]'"):
        nnkit.use("cupy")
    assert backend.name() == "numpy" and not backend.is_foreign()


def test_cupy_without_a_gpu_is_refused(monkeypatch):
    fake = types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 0)))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    with pytest.raises(backend.BackendError, match="no GPU"):
        nnkit.use("cupy")
    assert backend.xp() is np


def _run(code, env=None):
    """Run ``code`` in a fresh interpreter; return its stdout words (and fail on an error)."""
    result = subprocess.run([sys.executable, "-c", code], env={"PATH": "", **(env or {})},
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_backend_does_not_load_the_strict_stand_in():
    """``strict`` is registered by ``import nnkit.testing``; before that, use("strict") says so."""
    code = (
        "import sys, nnkit\n"
        "print(any(m.startswith('nnkit.testing') for m in sys.modules))\n"
        "try:\n    nnkit.use('strict')\nexcept nnkit.backend.BackendError as err:\n    print('refused:', err)\n"
        "import nnkit.testing\n"
        "nnkit.use('strict'); print(nnkit.backend.name())"
    )
    out = " ".join(_run(code))
    assert out.startswith("False refused: unknown backend 'strict' (run `import nnkit.testing` first")
    assert out.endswith("strict")


def test_environment_variable_selects_the_backend():
    code = ("import nnkit; from nnkit import backend; print(backend.name(), backend.is_foreign(), "
            "type(backend.xp().ones(2)).__name__)")
    assert _run(code) == ["numpy", "False", "ndarray"]
    # a backend that registers on import (nnkit.testing) is selected when it registers
    assert _run(code, {"NNKIT_BACKEND": "strict"}) == ["numpy", "False", "ndarray"]
    assert _run("import nnkit.testing; " + code, {"NNKIT_BACKEND": "strict"}) == ["strict", "True", "StrictArray"]


def test_environment_variable_with_an_unknown_name_fails_at_import():
    result = subprocess.run([sys.executable, "-c", "import nnkit"], env={"PATH": "", "NNKIT_BACKEND": "cupyy"},
                            capture_output=True, text=True)
    assert result.returncode != 0 and "unknown backend 'cupyy'" in result.stderr


def test_a_namespace_registers_under_its_name(monkeypatch):
    monkeypatch.setattr(backend, "_REGISTRY", dict(backend._REGISTRY))  # forgotten after the test
    assert "numpy_again" not in backend.available()
    backend.register("numpy_again", lambda: np)
    assert "numpy_again" in backend.available()
    nnkit.use("numpy_again")
    try:
        assert backend.name() == "numpy_again" and backend.xp() is np and backend.is_foreign()
    finally:
        nnkit.use("numpy")


def test_switching_back_to_numpy_restores_plain_arrays(strict_backend):
    assert backend.is_foreign() and backend.array_type() is StrictArray
    nnkit.use("numpy")
    assert not backend.is_foreign() and type(Tensor([1.0]).data) is np.ndarray


# ------------------------------------------------------- the stand-in itself
def test_strict_refuses_implicit_conversion_and_mixing():
    a = sp.arange(4.0)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(strict.MixedBackendError, match=r"numpy\.ndarray and a nnkit\.testing\.strict\.StrictArray"):
        a + np.ones(4)
    with pytest.raises(strict.MixedBackendError):
        np.ones(4) * a
    with pytest.raises(strict.MixedBackendError):
        sp.concatenate([a, np.ones(2)])
    with pytest.raises(strict.MixedBackendError):
        sp.exp(np.ones(2))


def test_strict_computes_like_numpy_and_returns_its_own_arrays():
    host = np.arange(6.0).reshape(2, 3)
    a = sp.asarray(host)  # the explicit host-to-device copy is allowed
    b = np.exp(a) * 2 + (a @ a.T)[:, :1] - 1
    assert type(b) is StrictArray
    assert np.allclose(b.get(), np.exp(host) * 2 + (host @ host.T)[:, :1] - 1)
    total = a.sum()
    assert type(total) is StrictArray and total.ndim == 0 and float(total) == 15.0  # 0-d, as CuPy
    assert (a > 2).get().tolist() == [[False, False, False], [True, True, True]]
    assert a[1, sp.asarray([0, 2])].get().tolist() == [3.0, 5.0]
    a[0] = 7.0
    assert a.get()[0].tolist() == [7.0, 7.0, 7.0] and host[0, 0] == 0.0  # asarray copied nothing back


def test_strict_scatter_add_adds_repeated_indices():
    a = sp.zeros(4)
    sp.add.at(a, sp.asarray([1, 1, 3]), sp.asarray([1.0, 2.0, 5.0]))
    assert a.get().tolist() == [0.0, 3.0, 0.0, 5.0]


def test_strict_random_is_repeatable_but_not_numpys_stream():
    sp.random.seed(3)
    first = sp.random.standard_normal(5).get()
    sp.random.seed(3)
    assert np.array_equal(first, sp.random.standard_normal(5).get())
    np.random.seed(3)
    assert not np.allclose(first, np.random.standard_normal(5))


def test_a_numpy_leak_in_a_primitive_passes_on_numpy_and_fails_on_strict():
    """The reason the stand-in exists: this VJP builds its gradient with NumPy."""
    def leaky_double(a):
        return Tensor.from_op(a.data * 2, (a,), lambda g: (np.full(a.shape, 2.0) * g,), "leaky_double")

    x = Tensor([1.0, 2.0], requires_grad=True)
    leaky_double(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    nnkit.use("strict")
    try:
        x = Tensor([1.0, 2.0], requires_grad=True)
        with pytest.raises(TypeError, match="numpy.ndarray"):
            leaky_double(x).sum().backward()
    finally:
        nnkit.use("numpy")


# --------------------------------------------------------------- moving data
def test_tensor_on_strict_refuses_np_asarray_but_numpy_method_copies(strict_backend):
    t = Tensor([1.0, 2.0])
    with pytest.raises(TypeError, match=r"\.numpy\(\)"):
        np.asarray(t)
    assert type(t.numpy()) is np.ndarray and t.numpy().tolist() == [1.0, 2.0]
    assert "1., 2." in repr(t)


def test_to_device_moves_a_model_with_its_buffers_and_gradients():
    nnkit.seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    x = np.random.default_rng(0).standard_normal((5, 3))
    model(Tensor(x)).sum().backward()
    before = [p.data.copy() for p in model.parameters()]
    nnkit.use("strict")
    try:
        assert nnkit.to_device(model) is model
        for p, b in zip(model.parameters(), before):
            assert type(p.data) is StrictArray and type(p.grad) is StrictArray
            assert np.array_equal(p.data.get(), b)
        assert type(model[1].running_mean) is StrictArray
        out = model(Tensor(nnkit.to_device(x)))
        assert type(out.data) is StrictArray
    finally:
        nnkit.use("numpy")
    nnkit.to_device(model)  # and back to the host
    assert all(type(p.data) is np.ndarray for p in model.parameters())
    assert type(model[1].running_var) is np.ndarray


def test_to_device_is_a_no_op_for_arrays_already_there(strict_backend):
    a = sp.ones(3)
    assert nnkit.to_device(a) is a
    assert type(nnkit.to_device([1, 2])) is StrictArray
    assert type(nnkit.to_numpy(a)) is np.ndarray


def test_mismatch_error_names_both_libraries(strict_backend):
    err = backend.mismatch_error("matmul()", np.ones(2), StrictArray)
    assert isinstance(err, TypeError)
    assert "matmul() got a numpy.ndarray and a nnkit.testing.strict.StrictArray" in str(err)
    assert "nnkit.to_device" in str(err)


def test_seed_reseeds_the_backend_generator(strict_backend):
    nnkit.seed(11)
    a = sp.random.random(3).get()
    nnkit.seed(11)
    assert np.array_equal(a, sp.random.random(3).get())


# ------------------------------------------------------ the benchmark table
def test_run_all_table_reports_ratios_and_the_gpu_column():
    from benchmarks.run_all import table

    results = [{"title": "toy", "flops": 2e9, "nnkit": 0.02, "numpy": 0.01, "torch": 0.005, "gpu": 0.004},
               {"title": "no torch", "flops": None, "nnkit": 0.03, "numpy": 0.01, "torch": None, "gpu": None}]
    text = table(results, gflops=200.0, gpu_note="CuPy not installed").splitlines()
    assert text[2].split()[1:] == ["20.000", "ms", "10.000", "ms", "2.00x", "5.000", "ms", "4.00x", "50%", "5.0x"]
    assert text[3].split()[-8:] == ["3.00x", "not", "installed", "-", "-", "CuPy", "not", "installed"]


def test_run_all_measures_the_mlp_step_on_this_machine(capsys):
    from benchmarks.run_all import main

    summary = main(["--quick", "--only", "mlp", "--stand-in"])  # the stand-in takes the GPU column's path
    (mlp,) = summary["results"]
    assert mlp["gpu"] > 0
    assert summary["gemm_gflops"] > 0
    assert 0 < mlp["numpy"] < 1 and 0 < mlp["nnkit"] < 1
    assert backend.name() == "numpy" and backend.default_dtype() == "float32"
    out = capsys.readouterr().out
    assert "MLP 2-16-16-1" in out and f"{mlp['nnkit'] / mlp['numpy']:.2f}x" in out
