"""zoo/kws/train_kws.py: a trained model exported to ONNX loads back (--init) unchanged."""

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("python_speech_features")


@pytest.fixture
def tk(root):
    sys.path.insert(0, str(root / "zoo" / "kws"))
    import train_kws
    return train_kws


def _model(tk, channels, blocks, seed):
    torch.manual_seed(seed)
    m = tk.DSCNN(channels, blocks, np.linspace(-1, 1, 10), np.linspace(1, 2, 10))
    for p in m.modules():  # normalisation statistics that are not the defaults
        if isinstance(p, torch.nn.BatchNorm2d):
            p.running_mean.uniform_(-1, 1)
            p.running_var.uniform_(0.5, 2)
            p.weight.data.uniform_(0.5, 2)
            p.bias.data.uniform_(-1, 1)
    return m.eval()


def test_to_onnx_then_from_onnx_gives_the_same_model(tk, tmp_path):
    src = _model(tk, 8, 2, seed=1)
    path = tmp_path / "m.onnx"
    path.write_bytes(tk.to_onnx(src, "m", "test").SerializeToString())
    dst = _model(tk, 8, 2, seed=2)
    tk.from_onnx(dst, path)
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k]), k
    x = torch.randn(3, 1, 49, 10)
    assert torch.equal(src(x), dst(x))
    # Another architecture is refused with the file named.
    with pytest.raises(SystemExit, match="m.onnx"):
        tk.from_onnx(_model(tk, 8, 3, seed=3), path)
    with pytest.raises(SystemExit, match="shape"):
        tk.from_onnx(_model(tk, 4, 2, seed=3), path)
