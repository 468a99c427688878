"""The bindings: chip specs, device models, compile/run/evaluate/report, errors."""

import os
import subprocess

import numpy as np
import pytest

import acim


def test_presets_and_spec_round_trips():
    names = acim.chip_presets()
    assert "edge-voice" in names and names == sorted(names)
    spec = acim.chip("edge-voice")
    assert spec.name == "edge-voice"
    # TOML and dict round trips give the same spec, field by field.
    assert acim.ChipSpec.from_toml(spec.to_toml()) == spec
    assert acim.ChipSpec.from_dict(spec.to_dict()) == spec
    # Editing: a dotted key through the dict form, or attribute access in place.
    edited = spec.edit({"array.adc.bits": spec.array.adc.bits - 1, "chip": {"cores": 2}})
    assert edited.array.adc.bits == spec.array.adc.bits - 1 and edited.cores == 2
    assert edited != spec
    spec.array.adc.bits -= 1
    spec.cores = 2
    assert acim.ChipSpec.from_toml(spec.to_toml()) == spec
    assert spec.to_dict()["array"]["adc"]["bits"] == edited.array.adc.bits


def test_errors_arrive_as_acim_error_with_the_cli_message(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[array]\nrowz = 3\n")
    with pytest.raises(acim.Error) as info:
        acim.ChipSpec.load(bad)
    assert isinstance(info.value, RuntimeError)
    message = str(info.value)
    assert message == f"{bad}:2: key 'array.rowz': is not a known key (did you mean 'rows'?)"
    cli = os.environ.get("ACIM_BIN")
    if cli:  # the command line prints the same acim::Error's message
        r = subprocess.run([cli, "chips", "check", str(bad)], capture_output=True, text=True)
        assert r.returncode != 0
        assert r.stderr.strip() == f"acim: error: {message}"
    with pytest.raises(acim.Error, match="is not a known preset"):
        acim.chip("no-such-chip")
    with pytest.raises(acim.Error, match="unknown key|is not a known key"):
        acim.chip("edge-voice").edit({"array.adc.bitz": 6})


def test_crossbar_array_ideal_is_exact_and_noisy_is_not():
    params = acim.ArrayParams.default("ideal")
    rng = np.random.default_rng(0)
    w = rng.uniform(-1, 1, (64, 16)).astype(np.float32)
    x = rng.uniform(-1, 1, (32, 64)).astype(np.float32)
    for name in ("programming", "drift", "read_noise", "faults", "dac", "adc", "ir_drop",
                 "temperature"):
        setattr(params.effects, name, False)
    a = acim.CrossbarArray(params, seed=1, path=[0, 0, 0])
    a.program(w)
    a.calibrate(x)
    np.testing.assert_allclose(a.mvm(x), x @ w, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a.mvm_reference(x), x @ w, rtol=1e-5, atol=1e-5)
    pcm = acim.CrossbarArray(acim.ArrayParams.default("pcm"), seed=1, path=[0, 0, 0])
    pcm.program(w)
    pcm.calibrate(x)
    y = pcm.mvm(x)
    err = np.linalg.norm(y - x @ w) / np.linalg.norm(x @ w)
    assert 1e-3 < err < 0.5
    assert pcm.conductances_us().shape == (64, 16 * pcm.params.cells_per_weight())
    with pytest.raises(acim.Error, match="float32"):
        pcm.mvm(x.astype(np.float64)[None])


def test_compile_save_load_run_evaluate_report(root, tmp_path):
    x = np.load(root / "examples" / "kws_input.npy")
    prog = acim.compile(root / "zoo" / "kws" / "ds_cnn_s.onnx", "edge-voice", calibration=x)
    assert prog.input_names == ["input"] and prog.output_names == ["logits"]
    assert prog.mapping["arrays_used"] > 0 and prog.mapping["layers"]
    path = tmp_path / "kws.acim"
    prog.save(path)
    again = acim.Program.load(path)
    assert again.to_bytes() == prog.to_bytes()
    ref = acim.run_reference(prog, x)["logits"]
    ideal = acim.run(again, x, ideal=True)["logits"]
    np.testing.assert_allclose(ideal, ref, atol=1e-4 * np.abs(ref).max())
    # Same seed and instance: the same numbers; another instance: other numbers.
    y1 = acim.run(prog, x, seed=3, instance=1)["logits"]
    assert np.array_equal(y1, acim.run(prog, x, seed=3, instance=1)["logits"])
    assert not np.array_equal(y1, acim.run(prog, x, seed=3, instance=2)["logits"])
    chip = acim.ChipInstance(prog, seed=3, instance=1)
    assert np.array_equal(chip.run({"input": x})["logits"], y1)
    labels = ref.argmax(1)
    result = acim.evaluate(prog, x, labels, instances=2)
    assert result["samples"] == 1 and result["float_accuracy"] == 1.0
    assert len(result["chip_accuracy"]) == 2
    cost = acim.report(prog, html=tmp_path / "r.html")
    assert cost["chip"] == "edge-voice" and (tmp_path / "r.html").stat().st_size > 1000
    with pytest.raises(acim.Error, match="input"):
        acim.run(prog, {"wrong_name": x})
