"""acim.torch: analog layers for PyTorch, hardware-aware training and ONNX export.

    import acim.torch as at
    analog = at.convert_to_analog(model, chip="edge-voice")   # prints what stays digital
    at.calibrate(analog, x_calib)                              # DAC and ADC ranges
    logits = analog(x)                                         # on the simulated chip's arrays
    ... train analog as usual (hardware-aware training) ...
    at.export_onnx(analog, "model.onnx", example)              # float equivalents, for acim compile

An analog layer computes its products on the C++ simulator's crossbar arrays
(:class:`acim.MatrixArrays`): its weights cut onto the chip's arrays exactly as the compiler
cuts the layer (row and column blocks, depthwise groups packed block-diagonally), with every
non-ideality of the chip spec — programming error, read noise, drift, faults, DAC and ADC
quantisation, IR drop — from the same random streams as ``acim.run`` (RandomStream(seed,
{instance, layer, array})). Convolutions run as im2col products, as on the chip. The bias is
added digitally in float.

Gradients are straight-through: the forward value is the analog result, the backward pass is the
ideal layer's (y = y_ideal + stop_gradient(y_analog - y_ideal)), so training sees the chip's
errors in the loss while gradients stay those of the float layer — hardware-aware training as in
Rasch et al., "Hardware-aware training for large-scale and diverse deep learning inference
workloads using in-memory computing-based accelerators", Nature Communications 14, 5282 (2023).
In training mode every forward programs the arrays afresh from a new chip instance (the current
weights, a new draw of programming errors), so the network learns to tolerate the spread over
instances, not one instance's errors; in eval mode the layer keeps one programmed instance
(`instance`) and reprograms only when its weights change.

Calibration, by the compiler's rules: each layer's DAC range is the 99.99th percentile of |x| of
its inputs, and its ADC ranges come from the columns' currents on the inputs of 8 samples evenly
spaced over the set (what a compiled Program keeps for its ADCs), set by :func:`calibrate` on
sample inputs, or on the first analog batch if never calibrated.

Not modelled here (the full ``acim.run`` does): the digital units' fixed-point rounding of
activations. One-layer, one-direction LSTMs convert (:class:`AnalogLSTM`); GRU, RNN and stacked
or bidirectional LSTMs stay digital and are listed (compile the exported ONNX model to run them
on the arrays).
"""

from __future__ import annotations

import copy
import sys
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Optional, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import ChipSpec, Error, MatrixArrays
from . import chip as _chip_spec
from . import set_num_threads

# torch and acim share one OpenMP runtime (libgomp.so.1); with both thread pools on a machine
# with few cores, analog forwards ran 50x slower (a DS-CNN batch of 8 on the 2-core build
# machine: 4.2 s against 0.05 s on one thread). acim's kernels run on one thread next to
# torch; call acim.set_num_threads(n) after this import to change it.
set_num_threads(1)

__all__ = [
    "AnalogLinear", "AnalogConv1d", "AnalogConv2d", "AnalogLSTM", "ConversionReport",
    "convert_to_analog", "calibrate", "set_analog", "set_drift_time", "analog_layers",
    "to_float", "export_onnx",
]

# The compiler's default activation calibration (percentile 99.99 of |x|, CalibrationOptions in
# include/acim/quantize.hpp); the calibration inputs a compiled Program keeps for its ADCs
# (CompileOptions::keep_calibration, evenly spaced over the set, each run alone), the rows the
# simulator keeps of each of their MVM calls (kCaptureRowsPerCall, src/sim/view_arrays.cpp) and
# its ADC calibration rows per array (kCalibrationRows, src/sim/chip_instance.cpp).
_INPUT_PERCENTILE = 99.99
_ADC_CALIBRATION_SAMPLES = 8
_CAPTURE_ROWS_PER_CALL = 256
_ADC_CALIBRATION_ROWS = 256
# Input rows kept per layer when the first analog batch calibrates (no calibrate() call).
_KEPT_CALIBRATION_ROWS = 4096


def _evenly_spaced(rows: np.ndarray, keep: int) -> np.ndarray:
    if len(rows) <= keep:
        return rows
    return rows[(np.arange(keep) * len(rows)) // keep]


class _AnalogBase(nn.Module):
    """What every analog layer shares: the chip, the arrays, calibration and the analog product.

    Subclasses define `_matrices()` -> weights [count, K, N] (the compiler's matrix view of the
    layer), `_rows(x)` -> the array inputs [M, count * K] (im2col for convolutions),
    `_ideal(x)` -> the float layer's output without bias, and `_shape(y2d, x, y_ideal)` ->
    the analog products in the output's layout (without bias)."""

    def _init_analog(self, chip: Union[str, ChipSpec], seed: int, instance: int, layer: int,
                     drift_time: Optional[float]) -> None:
        spec = _chip_spec(chip) if not isinstance(chip, ChipSpec) else chip
        self._chip_toml = spec.to_toml()
        self.chip_name = spec.name
        self.seed = int(seed)
        self.instance = int(instance)
        self.layer_index = int(layer)
        self.drift_time = drift_time
        self.analog = True
        # Where the layer's arrays start in its random-stream path (an LSTM's R matrix follows
        # its W matrix's arrays, as in the simulator), and a fixed DAC range for inputs bounded
        # by an activation (an LSTM's hidden state: 1, as the compiler's "bounded" source).
        self.array_offset = 0
        self.bounded_input_range: Optional[float] = None
        self._arrays: Optional[MatrixArrays] = None
        self._state: Optional[tuple] = None  # what the arrays were programmed with
        self._programs = 0  # arrays programmed in training mode (a new instance each time)
        self._calib_rows: Optional[np.ndarray] = None
        self._input_range = 0.0

    # Arrays hold C++ state: a copy (deepcopy, pickling) reprograms them when first used.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_arrays"] = None
        state["_state"] = None
        return state

    @property
    def chip(self) -> ChipSpec:
        """The chip spec the layer runs on (a copy)."""
        return ChipSpec.from_toml(self._chip_toml, self.chip_name)

    def _params(self):
        params = self.chip.array
        if self.drift_time is not None:
            params.time_since_programming_s = float(self.drift_time)
        return params

    # -- calibration --------------------------------------------------------------------------
    def _set_calibration(self, rows: np.ndarray, adc_rows: Optional[np.ndarray] = None) -> None:
        """DAC range from `rows` (every input row seen); ADC ranges from `adc_rows` (default:
        rows evenly spaced over `rows`)."""
        self._calib_rows = (adc_rows if adc_rows is not None
                            else _evenly_spaced(rows, _KEPT_CALIBRATION_ROWS)).copy()
        absx = np.abs(rows).ravel()
        if self.bounded_input_range is not None:
            self._input_range = self.bounded_input_range
        else:
            self._input_range = float(np.percentile(absx, _INPUT_PERCENTILE)) if absx.size else 0.0
        self._state = None  # ADC ranges depend on the inputs: recalibrate the arrays

    # -- the analog product -------------------------------------------------------------------
    def _program(self) -> MatrixArrays:
        training = self.training
        instance = self.instance + (self._programs if training else 0)
        key = (self.weight._version, self.weight.data_ptr(), training, instance,
               self.drift_time, id(self._calib_rows))
        if self._arrays is not None and self._state == key:
            return self._arrays
        if (self._arrays is not None and self._state is not None
                and self._state[:4] == key[:4] and self._state[5] == key[5]):
            # Only the time changed: move the programmed arrays (drift) as the chip would.
            self._arrays.set_time(self._params().time_since_programming_s)
            self._state = key
            return self._arrays
        w = self._matrices().detach().to(torch.float32).cpu().numpy()
        count, k, n = w.shape
        params = self._params()
        arrays = MatrixArrays(k, n, count, params.rows, params.logical_cols())
        arrays.program(np.ascontiguousarray(w), params, self.seed, instance, self.layer_index,
                       self.array_offset)
        arrays.mvm(self._calib_rows, capture=True)  # exact products; records the ADC samples
        arrays.calibrate(self._input_range, _ADC_CALIBRATION_ROWS)
        self._arrays, self._state = arrays, key
        if training:
            self._programs += 1
        return arrays

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y_ideal = self._ideal(x)
        if self.analog:
            rows = np.ascontiguousarray(self._rows(x).detach().to(torch.float32).cpu().numpy())
            if self._calib_rows is None:
                self._set_calibration(rows)
            y2d = torch.from_numpy(self._program().mvm(rows)).to(y_ideal.device, y_ideal.dtype)
            y_analog = self._shape(y2d, x, y_ideal)
            # Straight-through: the analog value forward, the ideal layer's gradient backward.
            y = y_ideal + (y_analog - y_ideal).detach()
        else:
            y = y_ideal
        if self.bias is not None:  # on the digital units
            y = y + self._bias_view()
        return y

    def extra_repr(self) -> str:
        return (super().extra_repr() + f", chip={self.chip_name}, seed={self.seed}, "
                f"instance={self.instance}, layer={self.layer_index}, analog={self.analog}"
                + (f", drift_time={self.drift_time}" if self.drift_time is not None else ""))


class AnalogLinear(_AnalogBase, nn.Linear):
    """nn.Linear whose product runs on the chip's crossbar arrays (matrix K = in_features by
    N = out_features, cut into row and column blocks as the compiler cuts a Gemm)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 chip: Union[str, ChipSpec] = "edge-voice", seed: int = 0, instance: int = 0,
                 layer: int = 0, drift_time: Optional[float] = None) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias)
        self._init_analog(chip, seed, instance, layer, drift_time)

    @classmethod
    def from_float(cls, m: nn.Linear, **kwargs) -> "AnalogLinear":
        """An analog copy of `m` (same weights)."""
        a = cls(m.in_features, m.out_features, m.bias is not None, **kwargs)
        a.load_state_dict(m.state_dict())
        return a.to(m.weight.device)

    def to_float(self) -> nn.Linear:
        m = nn.Linear(self.in_features, self.out_features, self.bias is not None)
        m.load_state_dict(self.state_dict())
        return m.to(self.weight.device)

    def _matrices(self) -> torch.Tensor:
        return self.weight.t().unsqueeze(0)

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, self.in_features)

    def _ideal(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight)

    def _shape(self, y2d: torch.Tensor, x: torch.Tensor, y_ideal: torch.Tensor) -> torch.Tensor:
        return y2d.reshape(y_ideal.shape)

    def _bias_view(self) -> torch.Tensor:
        return self.bias


class _AnalogConvNd(_AnalogBase):
    """The im2col view of a convolution (include/acim/mapping.hpp): one K x N matrix per group,
    K = in_channels / groups x kernel size (channel-major, as the weight is laid out), N =
    out_channels / groups; one MVM per output position. Subclasses name their float layer
    (_float_cls) and how their input becomes 2-D (_as_2d)."""

    _float_cls: type = nn.Conv2d

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, *,
                 chip: Union[str, ChipSpec] = "edge-voice", seed: int = 0, instance: int = 0,
                 layer: int = 0, drift_time: Optional[float] = None) -> None:
        self._float_cls.__init__(self, in_channels, out_channels, kernel_size, stride, padding,
                                 dilation, groups, bias)
        if isinstance(self.padding, str):
            raise Error(f"{type(self).__name__}: padding='{self.padding}' is not supported; "
                        "give the padding as numbers")
        self._init_analog(chip, seed, instance, layer, drift_time)

    @classmethod
    def from_float(cls, m: nn.Module, **kwargs) -> "_AnalogConvNd":
        a = cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                m.groups, m.bias is not None, **kwargs)
        a.load_state_dict(m.state_dict())
        return a.to(m.weight.device)

    def to_float(self) -> nn.Module:
        m = self._float_cls(self.in_channels, self.out_channels, self.kernel_size, self.stride,
                            self.padding, self.dilation, self.groups, self.bias is not None)
        m.load_state_dict(self.state_dict())
        return m.to(self.weight.device)

    def _matrices(self) -> torch.Tensor:
        g = self.groups
        w = self.weight.reshape(g, self.out_channels // g, -1)  # [g, N, K]
        return w.transpose(1, 2)

    def _as_2d(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple, tuple, tuple, tuple]:
        raise NotImplementedError

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        x4, kernel, dilation, padding, stride = self._as_2d(x)
        cols = F.unfold(x4, kernel, dilation=dilation, padding=padding, stride=stride)
        return cols.transpose(1, 2).reshape(-1, cols.shape[1])  # [B * L, C * kh * kw]

    def _shape(self, y2d: torch.Tensor, x: torch.Tensor, y_ideal: torch.Tensor) -> torch.Tensor:
        b, c = y_ideal.shape[0], y_ideal.shape[1]
        return y2d.reshape(b, -1, c).transpose(1, 2).reshape(y_ideal.shape)

    def _bias_view(self) -> torch.Tensor:
        return self.bias.view(1, -1, *([1] * (self.weight.dim() - 2)))


class AnalogConv2d(_AnalogConvNd, nn.Conv2d):
    """nn.Conv2d (any groups, depthwise included; zero padding) on the chip's arrays."""

    _float_cls = nn.Conv2d

    def _as_2d(self, x):
        return x, self.kernel_size, self.dilation, self.padding, self.stride

    def _ideal(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, None, self.stride, self.padding, self.dilation,
                        self.groups)


class AnalogConv1d(_AnalogConvNd, nn.Conv1d):
    """nn.Conv1d (any groups; zero padding) on the chip's arrays."""

    _float_cls = nn.Conv1d

    def _as_2d(self, x):
        return (x.unsqueeze(2), (1, self.kernel_size[0]), (1, self.dilation[0]),
                (0, self.padding[0]), (1, self.stride[0]))

    def _ideal(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv1d(x, self.weight, None, self.stride, self.padding, self.dilation,
                        self.groups)


class AnalogLSTM(nn.Module):
    """nn.LSTM (one layer, one direction, no projection) with its two products on the chip's
    arrays, as the simulator runs an ONNX LSTM: W (K = input_size, N = 4 * hidden_size) once
    for all time steps and R (K = hidden_size) once per step, columns in ONNX's gate order
    (i, o, f, c), R's arrays after W's in the layer's random streams, R's DAC range 1 (the
    hidden state is bounded by tanh). The gate arithmetic runs in float (the digital units).
    Inputs and outputs as nn.LSTM: x [T, B, I] ([B, T, I] with batch_first), optional (h0, c0)
    -> (y, (h_n, c_n))."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 batch_first: bool = False, *, chip: Union[str, ChipSpec] = "edge-voice",
                 seed: int = 0, instance: int = 0, layer: int = 0,
                 drift_time: Optional[float] = None) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        spec = _chip_spec(chip) if not isinstance(chip, ChipSpec) else chip
        kw = dict(chip=spec, seed=seed, instance=instance, layer=layer, drift_time=drift_time)
        # Weights in ONNX gate order (i, o, f, c); the bias of W holds both of nn.LSTM's biases.
        self.w = AnalogLinear(input_size, 4 * hidden_size, bias, **kw)
        self.r = AnalogLinear(hidden_size, 4 * hidden_size, False, **kw)
        self.r.array_offset = MatrixArrays(input_size, 4 * hidden_size, 1, spec.array.rows,
                                           spec.array.logical_cols()).arrays
        self.r.bounded_input_range = 1.0

    # nn.LSTM's gate blocks (i, f, g, o) in ONNX's order (i, o, f, c = g), and back.
    _TO_ONNX = (0, 3, 1, 2)
    _FROM_ONNX = (0, 2, 3, 1)

    def _reorder(self, t: torch.Tensor, order: tuple[int, ...]) -> torch.Tensor:
        blocks = t.chunk(4, dim=0)
        return torch.cat([blocks[i] for i in order], dim=0)

    @classmethod
    def from_float(cls, m: nn.LSTM, **kwargs) -> "AnalogLSTM":
        if m.num_layers != 1 or m.bidirectional or m.proj_size != 0:
            raise Error("AnalogLSTM: only one-layer, one-direction LSTMs without projection; "
                        f"got num_layers={m.num_layers}, bidirectional={m.bidirectional}, "
                        f"proj_size={m.proj_size}")
        a = cls(m.input_size, m.hidden_size, m.bias, m.batch_first, **kwargs)
        with torch.no_grad():
            a.w.weight.copy_(a._reorder(m.weight_ih_l0, cls._TO_ONNX))
            a.r.weight.copy_(a._reorder(m.weight_hh_l0, cls._TO_ONNX))
            if m.bias:
                a.w.bias.copy_(a._reorder(m.bias_ih_l0 + m.bias_hh_l0, cls._TO_ONNX))
        return a.to(m.weight_ih_l0.device)

    def to_float(self) -> nn.LSTM:
        m = nn.LSTM(self.input_size, self.hidden_size, bias=self.w.bias is not None,
                    batch_first=self.batch_first)
        with torch.no_grad():
            m.weight_ih_l0.copy_(self._reorder(self.w.weight, self._FROM_ONNX))
            m.weight_hh_l0.copy_(self._reorder(self.r.weight, self._FROM_ONNX))
            if self.w.bias is not None:
                m.bias_ih_l0.copy_(self._reorder(self.w.bias, self._FROM_ONNX))
                m.bias_hh_l0.zero_()
        return m.to(self.w.weight.device)

    def forward(self, x: torch.Tensor, hx: Optional[tuple[torch.Tensor, torch.Tensor]] = None):
        if self.batch_first:
            x = x.transpose(0, 1)
        steps, batch = x.shape[0], x.shape[1]
        if hx is None:
            h = x.new_zeros(batch, self.hidden_size)
            c = x.new_zeros(batch, self.hidden_size)
        else:
            h, c = hx[0][0], hx[1][0]
        xw = self.w(x)  # every step's input product in one batch of MVMs
        outputs = []
        for t in range(steps):
            i, o, f, g = (xw[t] + self.r(h)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        y = torch.stack(outputs)
        if self.batch_first:
            y = y.transpose(0, 1)
        return y, (h.unsqueeze(0), c.unsqueeze(0))


# ---- whole models ------------------------------------------------------------------------------

_CONVERTIBLE = {nn.Linear: AnalogLinear, nn.Conv2d: AnalogConv2d, nn.Conv1d: AnalogConv1d}


@dataclass
class ConversionReport:
    """What convert_to_analog did: `analog` lists (module name, type) of the converted layers in
    order (their index is the layer's random-stream key); `digital` lists (module name, type,
    reason) of every leaf module left digital."""

    chip: str
    analog: list[tuple[str, str]] = field(default_factory=list)
    digital: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def unsupported(self) -> list[tuple[str, str, str]]:
        """Modules with weights that stay digital because acim.torch has no analog version."""
        return [d for d in self.digital if d[2].startswith("unsupported")]

    def __str__(self) -> str:
        lines = [f"convert_to_analog: {len(self.analog)} layers on the '{self.chip}' chip's "
                 f"arrays, {len(self.digital)} modules left digital"]
        lines += [f"  analog   {name} ({kind})" for name, kind in self.analog]
        lines += [f"  digital  {name} ({kind}): {why}" for name, kind, why in self.digital]
        return "\n".join(lines)


def _digital_reason(m: nn.Module) -> str:
    if isinstance(m, (nn.modules.batchnorm._BatchNorm,)):
        return ("normalisation on the digital units (the compiler folds it into the "
                "preceding layer's weights when exported)")
    if isinstance(m, (nn.Conv1d, nn.Conv2d)) and m.padding_mode != "zeros":
        return f"unsupported: padding_mode='{m.padding_mode}' (only zero padding runs on arrays)"
    if isinstance(m, (nn.Conv1d, nn.Conv2d)) and isinstance(m.padding, str):
        return f"unsupported: padding='{m.padding}' (give the padding as numbers)"
    if any(True for _ in m.parameters(recurse=False)):
        return (f"unsupported: acim.torch has no analog {type(m).__name__} of this kind (its "
                "weights stay float; export to ONNX and compile to run it on the arrays where "
                "acim supports it: GRU, RNN, stacked or bidirectional LSTM)")
    return "digital op (runs on the chip's digital units)"


def convert_to_analog(model: nn.Module, chip: Union[str, ChipSpec] = "edge-voice", *,
                      seed: int = 0, instance: int = 0, drift_time: Optional[float] = None,
                      inplace: bool = False, verbose: bool = True) -> nn.Module:
    """Replaces every nn.Linear, nn.Conv1d and nn.Conv2d (zero padding, any groups) with its
    analog version on `chip` (a preset name, a .toml path or a ChipSpec), numbered 0, 1, ... in
    module order (the `layer` key of their random streams). Everything else stays digital and is
    listed — in ``model.acim_conversion`` (a :class:`ConversionReport`) and, with `verbose`, on
    stderr: never a silent skip. Returns the converted model (a deep copy unless `inplace`)."""
    spec = _chip_spec(chip) if not isinstance(chip, ChipSpec) else chip
    if not inplace:
        model = copy.deepcopy(model)
    report = ConversionReport(spec.name)
    index = 0

    def visit(parent: nn.Module, prefix: str) -> None:
        nonlocal index
        for name, child in list(parent.named_children()):
            full = f"{prefix}.{name}" if prefix else name
            if (type(child) is nn.LSTM and child.num_layers == 1 and not child.bidirectional
                    and child.proj_size == 0):
                setattr(parent, name, AnalogLSTM.from_float(
                    child, chip=spec, seed=seed, instance=instance, layer=index,
                    drift_time=drift_time).train(child.training))
                report.analog.append((full, "LSTM"))
                index += 1
                continue
            target = _CONVERTIBLE.get(type(child))
            if (target is not None and getattr(child, "padding_mode", "zeros") == "zeros"
                    and not isinstance(getattr(child, "padding", 0), str)):
                analog = target.from_float(child, chip=spec, seed=seed, instance=instance,
                                           layer=index, drift_time=drift_time)
                analog.train(child.training)
                setattr(parent, name, analog)
                report.analog.append((full, type(child).__name__))
                index += 1
                continue
            if isinstance(child, (_AnalogBase, AnalogLSTM)):
                report.analog.append((full, type(child).__name__))
                index += 1
                continue
            leaf = next(child.children(), None) is None
            if leaf or next(child.parameters(recurse=False), None) is not None:
                # A leaf, or a container with weights of its own (MultiheadAttention).
                report.digital.append((full, type(child).__name__, _digital_reason(child)))
            if not leaf:
                visit(child, full)

    root = nn.Module()
    root.add_module("model", model)  # so that a bare nn.Linear or nn.Conv2d converts too
    visit(root, "")
    model = root.model
    report.analog = [(name.removeprefix("model."), kind) for name, kind in report.analog]
    report.digital = [(name.removeprefix("model."), kind, why) for name, kind, why in
                      report.digital]
    model.acim_conversion = report
    if verbose:
        print(report, file=sys.stderr)
    return model


def analog_layers(model: nn.Module) -> list[_AnalogBase]:
    """The model's analog layers, in module order."""
    return [m for m in model.modules() if isinstance(m, _AnalogBase)]


def set_analog(model: nn.Module, analog: bool = True) -> nn.Module:
    """Runs the analog layers on the arrays (True) or as their float layers (False)."""
    for m in analog_layers(model):
        m.analog = analog
    return model


def set_drift_time(model: nn.Module, seconds: Optional[float]) -> nn.Module:
    """Evaluates at `seconds` after programming (drift, relaxation, 1/f noise); None: the chip
    spec's time. Programmed arrays move to the new time, as a deployed chip ages."""
    for m in analog_layers(model):
        m.drift_time = seconds
    return model


@torch.no_grad()
def calibrate(model: nn.Module, inputs: Union[torch.Tensor, Iterable[torch.Tensor]], *,
              adc_samples: int = _ADC_CALIBRATION_SAMPLES) -> None:
    """Sets every analog layer's converter ranges from the inputs it sees while `inputs` (a
    batch, or an iterable of batches; samples along the first dimension) run through the model in
    float, by the compiler's rules, so that a model tuned here meets the same ranges on the
    compiled chip: the DAC range is the 99.99th percentile of |x| over all of them; the ADC ranges
    come from `adc_samples` samples evenly spaced over them, each run alone (a compiled Program
    keeps that many calibration inputs for its ADCs). Call again after training changes the
    activations."""
    layers = analog_layers(model)
    batches = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
    every: dict[int, list[np.ndarray]] = {id(m): [] for m in layers}
    adc: dict[int, list[np.ndarray]] = {id(m): [] for m in layers}
    sink = every

    def hook(mod, args):
        rows = mod._rows(args[0]).float().cpu().numpy()
        sink[id(mod)].append(rows if sink is every else _evenly_spaced(rows,
                                                                      _CAPTURE_ROWS_PER_CALL))

    hooks = [m.register_forward_pre_hook(hook) for m in layers]
    was = [(m, m.analog) for m in layers]
    mode = model.training
    try:
        set_analog(model, False)
        model.eval()
        for batch in batches:
            model(batch)
        n = sum(len(b) for b in batches)
        k = min(n, max(0, int(adc_samples)))
        starts = np.cumsum([0] + [len(b) for b in batches])
        sink = adc
        for i in range(k):
            j = i * n // k
            b = int(np.searchsorted(starts, j, side="right")) - 1
            model(batches[b][j - starts[b]:j - starts[b] + 1])
    finally:
        for h in hooks:
            h.remove()
        for m, a in was:
            m.analog = a
        model.train(mode)
    for m in layers:
        if every[id(m)]:
            m._set_calibration(np.concatenate(every[id(m)]),
                               np.concatenate(adc[id(m)]) if adc[id(m)] else None)


def to_float(model: nn.Module) -> nn.Module:
    """A copy of `model` with every analog layer replaced by its float layer (same weights)."""
    model = copy.deepcopy(model)

    def visit(parent: nn.Module) -> None:
        for name, child in list(parent.named_children()):
            if isinstance(child, (_AnalogBase, AnalogLSTM)):
                setattr(parent, name, child.to_float().train(child.training))
            else:
                visit(child)

    if isinstance(model, (_AnalogBase, AnalogLSTM)):
        return model.to_float()
    visit(model)
    return model


def export_onnx(model: nn.Module, path: str, example_input: torch.Tensor, *,
                input_names: tuple[str, ...] = ("input",),
                output_names: tuple[str, ...] = ("output",), opset: int = 17,
                dynamic_batch: bool = False) -> None:
    """Exports `model` as ONNX for ``acim compile``: analog layers as their float equivalents
    (Gemm / Conv), in eval mode (BatchNorm with its running statistics, which the compiler folds
    into the preceding layer). `dynamic_batch` leaves the batch dimension free."""
    m = to_float(model).eval()
    axes = None
    if dynamic_batch:
        axes = {n: {0: "batch"} for n in (*input_names, *output_names)}
    # The TorchScript exporter: the torch.export one needs onnxscript, which acim does not
    # require. Its deprecation notice is not the user's concern here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(m, (example_input,), path, input_names=list(input_names),
                          output_names=list(output_names), opset_version=opset, dynamo=False,
                          dynamic_axes=axes)
