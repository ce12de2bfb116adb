"""Device and dtype choice (shared/device.py), with CUDA and MPS faked: this machine has neither."""
import pytest
import torch

from shared.device import pick_device, pick_dtype


@pytest.fixture
def no_override(monkeypatch):
    monkeypatch.delenv("CM_DEVICE", raising=False)


def test_prefers_cuda_then_mps_then_cpu(monkeypatch, no_override):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == "cpu"


def test_cm_device_overrides_the_automatic_choice(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("CM_DEVICE", "cpu")
    assert pick_device() == "cpu"


def test_cm_device_naming_a_missing_or_unknown_device_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("CM_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no CUDA"):
        pick_device()
    monkeypatch.setenv("CM_DEVICE", "tpu")
    with pytest.raises(ValueError, match="not one of"):
        pick_device()


def test_dtype_per_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert pick_dtype("cuda", "text-generation") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert pick_dtype("cuda", "text-generation") == torch.float16
    assert pick_dtype("mps", "text-generation") == torch.float16
    assert pick_dtype("mps", "inspect") == torch.float32
    assert pick_dtype("cpu", "text-generation") == torch.float32
    assert pick_dtype("cpu", "inspect") == torch.float32


def test_describe_cpu_names_the_model_and_the_kernel_features(monkeypatch, tmp_path):
    from shared import device

    fake = tmp_path / "cpuinfo"
    fake.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse avx2 fma\n")
    real_path = device.Path
    monkeypatch.setattr(device, "Path", lambda p: fake if p == "/proc/cpuinfo" else real_path(p))
    assert device.describe_cpu().startswith("AMD EPYC (avx2), ")
    fake.write_text("model name\t: Intel Xeon\nflags\t\t: avx2 avx512f avx512_vnni\n")
    assert device.describe_cpu().startswith("Intel Xeon (avx512_vnni, avx512f, avx2), ")
