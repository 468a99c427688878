"""acim: an SDK and virtual chip for analog compute-in-memory neural-network chips.

The Python face of the C++ library (include/acim/): chip specs, the compiler, simulated chip
instances, accuracy and cost, and the crossbar device models. PyTorch integration (analog
layers, hardware-aware training, ONNX export) is in :mod:`acim.torch`, imported on demand so that
``import acim`` does not need torch.

    import acim, numpy as np
    chip = acim.chip("edge-voice")                       # a preset, or a path to a .toml file
    prog = acim.compile("zoo/kws/ds_cnn_s.onnx", chip, calibration=np.load("x.npy"))
    y = acim.run(prog, np.load("x.npy"), seed=3, drift_time=86400)   # {"logits": array}
    acc = acim.evaluate(prog, x, labels, instances=8)  # {"float_accuracy": ..., "mean": ...}
    cost = acim.report(prog)                            # energy, latency, area as a dict

Every error the C++ library reports arrives as :class:`acim.Error` (a ``RuntimeError``) with
the same message: where the problem is and what to do.
"""

from __future__ import annotations

import json
import os
import pkgutil
import tomllib
from typing import Any, Mapping, Sequence, Union

import numpy as np

# The extension module may live in another directory named acim/ on sys.path (a CMake build
# tree: PYTHONPATH=python:build/<preset>/python); extend_path finds it there.
__path__ = pkgutil.extend_path(__path__, __name__)

from . import _core  # noqa: E402
from ._core import (  # noqa: E402
    AdcRange,
    ArrayParams,
    CellType,
    ChipInstance,
    ChipSpec,
    CrossbarArray,
    DacMode,
    Encoding,
    MatrixArrays,
    Program,
)

__all__ = [
    "Error", "ChipSpec", "ArrayParams", "CrossbarArray", "MatrixArrays", "Program",
    "ChipInstance", "CellType", "Encoding", "DacMode", "AdcRange", "chip", "chip_presets",
    "compile", "run", "run_reference", "evaluate", "report", "set_num_threads",
]

Error = _core.Error
"""Every acim::Error from the C++ library: a RuntimeError with the library's message."""

Inputs = Union[np.ndarray, Mapping[str, np.ndarray]]
"""One set of model inputs: an array (single-input models) or a dict input name -> array."""


# ---- chip specs --------------------------------------------------------------------------------

def set_num_threads(n: int) -> None:
    """Threads for acim's CPU kernels (OpenMP and the BLAS); n <= 0: all hardware threads.
    Results do not depend on it."""
    _core.set_num_threads(n)


def chip_presets() -> list[str]:
    """Names of the built-in chip presets (chips/*.toml), sorted."""
    return list(_core.chip_preset_names())


def chip(name_or_path: Union[str, os.PathLike, ChipSpec]) -> ChipSpec:
    """A chip spec: a preset name (see :func:`chip_presets`), a path to a .toml file, or a
    ChipSpec (returned as a copy)."""
    if isinstance(name_or_path, ChipSpec):
        return ChipSpec.from_toml(name_or_path.to_toml(), name_or_path.name)
    return ChipSpec.from_name_or_file(os.fspath(name_or_path))


def _toml_value(value: Any, key: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, key) for v in value) + "]"
    raise Error(f"chip spec key '{key}': a value of type {type(value).__name__} has no TOML "
                "form; use a number, bool, string or list")


def _toml_lines(table: Mapping[str, Any], prefix: str, out: list[str]) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
    if prefix and scalars:
        out.append(f"[{prefix}]")
    for k, v in scalars:
        out.append(f"{k} = {_toml_value(v, prefix + '.' + k if prefix else k)}")
    for k, v in tables:
        _toml_lines(v, f"{prefix}.{k}" if prefix else k, out)


def _spec_to_dict(self: ChipSpec) -> dict[str, Any]:
    """The full spec as nested dicts (every key of the TOML form, as ``to_toml`` writes it)."""
    return tomllib.loads(self.to_toml())


def _spec_from_dict(data: Mapping[str, Any], source: str = "<dict>") -> ChipSpec:
    """A spec from nested dicts in the TOML form's layout (a partial dict overrides the
    defaults). Unknown keys and out-of-range values raise acim.Error naming the key."""
    lines: list[str] = []
    _toml_lines(data, "", lines)
    return ChipSpec.from_toml("\n".join(lines) + "\n", source)


def _deep_merge(base: dict[str, Any], updates: Mapping[str, Any]) -> dict[str, Any]:
    for k, v in updates.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _deep_merge(base[k], v)
        else:
            base[k] = v
    return base


def _spec_edit(self: ChipSpec, updates: Mapping[str, Any]) -> ChipSpec:
    """A copy of this spec with `updates` (nested dicts in the TOML layout, or dotted keys:
    ``{"array.adc.bits": 6}``) applied, checked like a file."""
    nested: dict[str, Any] = {}
    for key, value in updates.items():
        parts = key.split(".")
        node = nested
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        if isinstance(value, Mapping) and isinstance(node.get(parts[-1]), dict):
            _deep_merge(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return _spec_from_dict(_deep_merge(_spec_to_dict(self), nested), f"{self.name} (edited)")


ChipSpec.to_dict = _spec_to_dict
ChipSpec.from_dict = staticmethod(_spec_from_dict)
ChipSpec.edit = _spec_edit


# ---- compile, run, evaluate, report --------------------------------------------------------------

def _input_map(names: Sequence[str], x: Inputs, what: str) -> dict[str, np.ndarray]:
    if isinstance(x, Mapping):
        return {k: np.ascontiguousarray(v) for k, v in x.items()}
    if len(names) != 1:
        raise Error(f"{what}: the model has inputs {list(names)}; pass a dict name -> array")
    return {names[0]: np.ascontiguousarray(x)}


def compile(model: Union[str, os.PathLike], chip: Union[str, ChipSpec] = "edge-voice",
            calibration: Union[None, Inputs, Sequence[Inputs]] = None, *,
            random_calibration: int = 8, seed: int = 0, keep_calibration: int = 8,
            chips: Union[int, str] = 0, calibration_method: str = "percentile") -> Program:
    """Compiles an ONNX model onto a chip (``acim compile``): passes, mapping onto arrays,
    quantisation calibrated on `calibration`.

    calibration: model inputs to calibrate activation ranges on, like ``acim compile
    --calibrate``: an array [N, ...] is N samples of batch 1 (for a single-input model), a dict
    name -> array is one sample, a list holds one sample per entry. None: `random_calibration`
    random inputs from `seed`, with a warning in ``Program.warnings``.
    keep_calibration: how many of those inputs, evenly spaced over them, the Program keeps for
    the chip's ADC calibration and the cost report's activity.
    chips: 0 = one chip (error if it does not fit), N = at most N, "auto" = the fewest.
    calibration_method: "minmax", "percentile" or "percentile:99.9".
    """
    path = os.fspath(model)
    spec = chip if isinstance(chip, ChipSpec) else ChipSpec.from_name_or_file(os.fspath(chip))
    samples: list[dict[str, np.ndarray]] = []
    if calibration is not None:
        if isinstance(calibration, np.ndarray) and calibration.ndim >= 2:
            items: Sequence[Inputs] = [calibration[i:i + 1] for i in range(len(calibration))]
        elif isinstance(calibration, (list, tuple)):
            items = calibration
        else:
            items = [calibration]
        names = _core.onnx_input_names(path)
        samples = [_input_map(names, item, "compile: calibration") for item in items]
    chips_auto = chips == "auto"
    return _core.compile(path, spec, samples, random_calibration, seed, keep_calibration,
                         0 if chips_auto else int(chips), chips_auto, calibration_method)


def run(program: Program, inputs: Inputs, *, seed: int = 0, instance: int = 0,
        ideal: bool = False, drift_time: float | None = None) -> dict[str, np.ndarray]:
    """Runs `inputs` on one simulated chip instance (``acim run``): programs and calibrates a
    :class:`ChipInstance` and runs once. `drift_time`: seconds since programming (None: the
    chip spec's). `ideal`: every non-ideality off (must equal the float reference). For many
    runs on one instance, make a ChipInstance and call its ``run``."""
    chip_instance = ChipInstance(program, seed=seed, instance=instance, ideal=ideal,
                                 drift_time=drift_time)
    return chip_instance.run(_input_map(program.input_names, inputs, "run"))


def run_reference(program: Program, inputs: Inputs) -> dict[str, np.ndarray]:
    """The float32 reference executor on the program's graph (the ideal digital twin)."""
    return program.run_reference(_input_map(program.input_names, inputs, "run_reference"))


def evaluate(program: Program, x: np.ndarray, y: np.ndarray, *, instances: int = 1,
             seed: int = 1, drift_time: float | None = None, ideal: bool = False,
             batch: int = 64) -> dict[str, Any]:
    """Accuracy on a labelled set (``acim eval``): x [N, ...] inputs, y [N] integer labels.
    Returns float_accuracy, chip_accuracy (per instance), mean, std, samples, time_s."""
    return _core.evaluate(program, np.ascontiguousarray(x, dtype=np.float32),
                          np.ascontiguousarray(y), instances, seed, drift_time, ideal, batch)


def report(program: Program, inputs: Union[None, Sequence[Inputs]] = None, *,
           rate: float = 50.0, adc_model: str = "", html: Union[None, str, os.PathLike] = None
           ) -> dict[str, Any]:
    """What one inference costs (``acim report``): energy, power at `rate` inferences/s,
    latency, area and the digital baselines, as the JSON report's dict. `inputs` (a list of
    input sets) set the data-dependent activity; None: the program's calibration set. `html`:
    also write the self-contained HTML report there."""
    samples = [_input_map(program.input_names, i, "report") for i in (inputs or [])]
    text = _core.report_json(program, samples, rate, adc_model,
                             "" if html is None else os.fspath(html))
    return json.loads(text)


def _document_classes() -> None:
    """Docstrings for the C++ classes (nanobind's own are signatures only)."""
    Program.__doc__ = ("A compiled Program (acim::Program): the model, chip, mapping and "
                       "quantisation. Program.load(path) / program.save(path); .mapping (dict),"
                       " .warnings, .input_names, .output_names.")
    ChipSpec.__doc__ = ("A chip described in TOML (acim::ChipSpec): ChipSpec.preset(name), "
                        ".load(path), .from_toml(text), .from_dict(d); .to_toml(), .to_dict(), "
                        ".edit({'array.adc.bits': 6}); attributes name, cores, array, ...")
    CrossbarArray.__doc__ = ("One analog crossbar array (acim::CrossbarArray): "
                             "CrossbarArray(params, seed, path); program(W [rows, cols]), "
                             "calibrate(X), mvm(X [batch, rows]) -> [batch, cols].")
    MatrixArrays.__doc__ = ("`count` K x N matrices cut onto arrays as the compiler cuts a layer"
                            " (block-diagonal packing, row and column blocks); program, "
                            "mvm(capture=True) for calibration, calibrate, mvm.")


_document_classes()
