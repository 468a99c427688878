"""acim.torch: analog layers, conversion, hardware-aware training, ONNX export."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import acim  # noqa: E402
import acim.torch as at  # noqa: E402


class TinyDsCnn(nn.Module):
    """A DS-CNN in miniature: conv + BN, a depthwise-separable block, pooling, a classifier,
    on the KWS input layout [N, 1, 49, 10]."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 16, (5, 3), stride=(2, 1), padding=(2, 1))
        self.bn = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.bn_dw = nn.BatchNorm2d(16)
        self.pw = nn.Conv2d(16, 24, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(24, 12)

    def forward(self, x):
        x = torch.relu(self.bn(self.conv(x)))
        x = torch.relu(self.bn_dw(self.dw(x)))
        x = torch.relu(self.pw(x))
        return self.fc(self.pool(x).flatten(1))


def _trained_bn(model: nn.Module) -> nn.Module:
    # BatchNorm statistics that are not the identity, so folding them is exercised.
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def test_pytorch_onnx_acim_round_trip_matches_pytorch(tmp_path):
    torch.manual_seed(0)
    model = _trained_bn(TinyDsCnn())
    x = torch.randn(4, 1, 49, 10)
    analog = at.convert_to_analog(model, "edge-voice", verbose=False)
    path = tmp_path / "tiny.onnx"
    at.export_onnx(analog, str(path), x[:1], output_names=("logits",))
    prog = acim.compile(path, "edge-voice", calibration=x.numpy())
    # The four layers go onto arrays; BatchNorm was folded by the compiler.
    assert len(prog.mapping["layers"]) == 4
    want = model(x).detach().numpy()
    for i in range(len(x)):
        got = acim.run(prog, x[i:i + 1].numpy(), ideal=True)["logits"]
        np.testing.assert_allclose(got[0], want[i], rtol=1e-4, atol=1e-5)
    # The analog model in float mode is the float model.
    at.set_analog(analog, False)
    np.testing.assert_allclose(analog(x).detach().numpy(), want, rtol=1e-5, atol=1e-6)


def _layer_and_inputs(seed: int = 0, instance: int = 0):
    chip = acim.chip("neurram")  # RRAM: programming spread, per-read noise, stuck cells
    torch.manual_seed(seed)
    layer = at.AnalogLinear(96, 24, chip=chip, seed=seed, instance=instance, layer=0).eval()
    g = torch.Generator().manual_seed(7)
    calib = torch.randn(200, 96, generator=g)
    x = torch.randn(256, 96, generator=g)
    return chip, layer, calib, x


def _cpp_array(chip, layer, calib: np.ndarray, seed: int, instance: int) -> acim.CrossbarArray:
    a = acim.CrossbarArray(chip.array, seed=seed, path=[instance, 0, 0])
    a.program(np.ascontiguousarray(layer.weight.detach().numpy().T))
    a.calibrate(calib, float(np.percentile(np.abs(calib), 99.99)))
    return a


def test_analog_linear_is_the_cpp_array_with_the_same_seed():
    chip, layer, calib, x = _layer_and_inputs(seed=5, instance=2)
    at.calibrate(layer, calib, adc_samples=len(calib))
    y = (layer(x) - layer.bias).detach().numpy()
    a = _cpp_array(chip, layer, calib.numpy(), seed=5, instance=2)
    # Equal up to the float rounding of the straight-through sum (noise is ~1e-2 here).
    np.testing.assert_allclose(y, a.mvm(x.numpy()), rtol=0, atol=1e-6)


def test_analog_forward_noise_statistics_equal_the_cpp_arrays():
    # Error statistics of the layer's output against the ideal product, over chip instances:
    # acim.torch on instances 0..n-1 of seed 1, the C++ CrossbarArray on instances of seed 2.
    # Their means must agree within 4 standard errors (from the spread over instances).
    n = 12
    torch_err, cpp_err = [], []
    for i in range(n):
        chip, layer, calib, x = _layer_and_inputs(seed=1, instance=i)
        at.calibrate(layer, calib, adc_samples=len(calib))
        ideal = (x @ layer.weight.t()).detach().numpy()
        y = (layer(x) - layer.bias).detach().numpy()
        torch_err.append(np.std(y - ideal) / np.std(ideal))
        a = _cpp_array(chip, layer, calib.numpy(), seed=2, instance=i)
        cpp_err.append(np.std(a.mvm(x.numpy()) - ideal) / np.std(ideal))
    t, c = np.array(torch_err), np.array(cpp_err)
    assert t.min() > 0.005  # the noise is there
    se = math.sqrt(t.var(ddof=1) / n + c.var(ddof=1) / n)
    assert abs(t.mean() - c.mean()) < 4 * se + 1e-12
    # Repeated forwards on one instance: fresh read noise per MVM, same static state.
    chip, layer, calib, x = _layer_and_inputs(seed=1, instance=0)
    at.calibrate(layer, calib, adc_samples=len(calib))
    y1, y2 = layer(x).detach().numpy(), layer(x).detach().numpy()
    assert not np.array_equal(y1, y2)
    assert np.std(y1 - y2) < np.std(y1 - (x @ layer.weight.t() + layer.bias).detach().numpy())


def test_convert_lists_what_stays_digital_and_handles_depthwise():
    class WithLstm(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = TinyDsCnn()
            self.rnn = nn.GRU(12, 8)
            self.bilstm = nn.LSTM(12, 8, bidirectional=True)
            self.emb = nn.Embedding(10, 4)
            self.circ = nn.Conv1d(4, 4, 3, padding=1, padding_mode="circular")
            self.attn = nn.MultiheadAttention(8, 2)

        def forward(self, x):
            return self.body(x)

    model = WithLstm().eval()
    analog = at.convert_to_analog(model, "edge-voice", verbose=False)
    report = analog.acim_conversion
    assert [name for name, _ in report.analog] == ["body.conv", "body.dw", "body.pw", "body.fc"]
    assert [layer.layer_index for layer in at.analog_layers(analog)] == [0, 1, 2, 3]
    unsupported = {name for name, _, _ in report.unsupported}
    # MultiheadAttention holds weights itself (listed) and an out_proj Linear subclass (listed).
    assert unsupported == {"rnn", "bilstm", "emb", "circ", "attn", "attn.out_proj"}
    digital = {name for name, _, _ in report.digital}
    assert {"body.bn", "body.bn_dw", "body.pool"} <= digital
    assert "GRU" in str(report) and "circular" in str(report)
    bare = at.convert_to_analog(nn.Linear(4, 3), "edge-voice", verbose=False)
    assert isinstance(bare, at.AnalogLinear)
    assert bare.acim_conversion.analog == [("model", "Linear")]
    # The depthwise layer is packed block-diagonally as the compiler packs it.
    x = torch.randn(2, 1, 49, 10)
    at.calibrate(analog, x)
    analog(x)
    dw = analog.body.dw
    assert dw._arrays.groups_per_array > 1 and dw._arrays.arrays < 16


def test_conv1d_and_drift_time():
    torch.manual_seed(3)
    conv = at.AnalogConv1d(8, 6, 3, padding=1, chip="hermes").eval()
    x = torch.randn(4, 8, 20)
    at.calibrate(conv, x)
    with torch.no_grad():
        ideal = torch.nn.functional.conv1d(x, conv.weight, conv.bias, padding=1)
        y_1s = conv(x)
        assert y_1s.shape == ideal.shape
        rel = lambda y: float((y - ideal).norm() / ideal.norm())  # noqa: E731
        at.set_drift_time(conv, 3.15e7)  # a year: PCM drift grows the error
        assert rel(conv(x)) > rel(y_1s)


def test_finetuning_at_learning_rate_zero_returns_the_float_model():
    # The hardware-aware path itself (training-mode analog forwards, a new chip instance per
    # step, backward through the straight-through estimator, frozen normalisation,
    # calibration, to_float) must change nothing but what the optimiser changes.
    torch.manual_seed(4)
    model = _trained_bn(TinyDsCnn())
    x = torch.randn(16, 1, 49, 10)
    want = model(x).detach()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    analog = at.convert_to_analog(model, "edge-voice", verbose=False)
    at.calibrate(analog, x)
    analog.train()
    for m in analog.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()
    opt = torch.optim.Adam(analog.parameters(), lr=0.0, weight_decay=1e-4)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = analog(x).square().mean()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert len(set(losses)) == 3  # each step ran on a new chip instance
    back = at.to_float(analog).eval()
    for k, v in back.state_dict().items():
        assert torch.equal(v, before[k]), k
    np.testing.assert_array_equal(back(x).detach().numpy(), want.numpy())


def test_hardware_aware_finetuning_reduces_the_on_chip_accuracy_drop():
    # A small synthetic task (10 Gaussian clusters in 32 dimensions) on a noisy RRAM chip
    # (neurram with 12 uS programming spread and 10 % read noise).
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    centers = rng.normal(size=(10, 32)).astype(np.float32)

    def data(n):
        y = rng.integers(0, 10, n)
        return (torch.tensor(centers[y] + 1.3 * rng.normal(size=(n, 32)).astype(np.float32)),
                torch.tensor(y))

    xt, yt = data(2000)
    xv, yv = data(1000)
    model = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(100):
        opt.zero_grad()
        nn.functional.cross_entropy(model(xt), yt).backward()
        opt.step()
    chip = acim.chip("neurram").edit({"array.cell.rram.prog_sigma_us": 12.0,
                                      "array.cell.rram.read_noise_rel": 0.1})
    analog = at.convert_to_analog(model, chip, verbose=False)
    at.calibrate(analog, xt)

    @torch.no_grad()
    def chip_accuracy(m, instances=10):
        m.eval()
        acc = []
        for i in range(instances):
            for layer in at.analog_layers(m):
                layer.instance = 1000 + i  # instances never seen in training
            acc.append(float((m(xv).argmax(1) == yv).float().mean()))
        return np.array(acc)

    before = chip_accuracy(analog)
    float_before = float((model(xv).argmax(1) == yv).float().mean())
    analog.train()
    opt = torch.optim.Adam(analog.parameters(), 3e-3)
    for _ in range(20):
        for i in range(0, len(xt), 200):
            opt.zero_grad()
            nn.functional.cross_entropy(analog(xt[i:i + 200]), yt[i:i + 200]).backward()
            opt.step()
    at.calibrate(analog, xt)
    after = chip_accuracy(analog)
    at.set_analog(analog, False)
    float_after = float((analog.eval()(xv).argmax(1) == yv).float().mean())
    # The drop (float accuracy - chip accuracy) on each of the same 10 chip instances, before
    # and after; paired, so the instance-to-instance spread cancels. Its reduction must exceed
    # 4 standard errors of the mean paired difference.
    drop_before, drop_after = float_before - before, float_after - after
    assert drop_before.mean() > 0.05  # the chip costs accuracy
    reduction = drop_before - drop_after
    se = reduction.std(ddof=1) / math.sqrt(len(reduction))
    assert reduction.mean() > 4 * se, (drop_before.mean(), drop_after.mean(), se)


class KwsLstm(nn.Module):
    """An LSTM keyword spotter in miniature: MFCC frames [N, 49, 10] -> 12 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(10, 16, batch_first=True)
        self.fc = nn.Linear(16, 12)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y[:, -1])


def test_analog_lstm_float_equals_torch_and_round_trips_through_acim(tmp_path):
    torch.manual_seed(4)
    model = KwsLstm().eval()
    x = torch.randn(3, 49, 10)
    analog = at.convert_to_analog(model, "edge-voice", verbose=False)
    assert analog.acim_conversion.analog == [("lstm", "LSTM"), ("fc", "Linear")]
    assert isinstance(analog.lstm, at.AnalogLSTM)
    want = model(x).detach().numpy()
    at.set_analog(analog, False)
    np.testing.assert_allclose(analog(x).detach().numpy(), want, rtol=1e-5, atol=1e-6)
    # The analog forward: close to float, not equal (the chip's errors), and it trains.
    at.set_analog(analog, True)
    at.calibrate(analog, x)
    y = analog(x)
    err = float(np.linalg.norm(y.detach().numpy() - want) / np.linalg.norm(want))
    assert 1e-4 < err < 0.5
    y.sum().backward()
    assert analog.lstm.r.weight.grad is not None and analog.lstm.r.weight.grad.abs().sum() > 0
    # Export (as nn.LSTM) and compile: the ideal chip run equals PyTorch.
    path = tmp_path / "lstm.onnx"
    at.export_onnx(analog, str(path), x[:1], output_names=("logits",))
    prog = acim.compile(path, "edge-voice", calibration=x.numpy())
    assert [layer["op"].split("+")[0] for layer in prog.mapping["layers"]] == ["LSTM", "Gemm"]
    got = acim.run(prog, x[:1].numpy(), ideal=True)["logits"]
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4, atol=1e-5)
