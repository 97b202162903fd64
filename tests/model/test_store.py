"""The model store: one loader for an exported directory, a checkpoint file and a logged model."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from warc2gpt.config import ConfigError
from warc2gpt.model.device import resolve_device
from warc2gpt.model.gpt import GPT, GPTConfig
from warc2gpt.model.store import BUNDLE_FILES, CheckpointError, load_model, save_model

CONFIG = GPTConfig(vocab_size=50, sequence_len=16, n_layer=1, n_head=2, n_kv_head=2, n_embd=16)


@pytest.fixture
def model() -> GPT:
    torch.manual_seed(0)
    model = GPT(CONFIG)
    with torch.no_grad():  # the zero-initialized projections would hide a weight that is lost
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    return model.eval()


def same_logits(a: GPT, b: GPT) -> bool:
    x = torch.randint(0, CONFIG.vocab_size, (2, 10), generator=torch.Generator().manual_seed(1))
    return torch.equal(a(x), b(x))


def test_loads_an_exported_directory(model, tmp_path) -> None:
    save_model(model, tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    assert not loaded.training
    assert same_logits(loaded, model)


def test_loads_the_model_inside_a_training_checkpoint(model, tmp_path) -> None:
    path = tmp_path / "step_000010.pt"
    identity = {f"model.{k}": v for k, v in CONFIG.to_dict().items()} | {"seed": 1}
    torch.save({"model": model.state_dict(), "identity": identity, "step": 10}, path)
    assert same_logits(load_model(str(path)), model)


def test_loads_a_logged_model_directory(model, tmp_path) -> None:
    save_model(model, tmp_path / "export")
    bundle = tmp_path / "logged"
    (bundle / "artifacts" / "model").mkdir(parents=True)
    (bundle / "MLmodel").write_text("flavors: {}\n")
    for name in BUNDLE_FILES["model"]:
        shutil.copy(tmp_path / "export" / name, bundle / "artifacts" / "model" / name)
    assert same_logits(load_model(bundle), model)


def test_a_file_that_is_no_checkpoint_is_refused(model, tmp_path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)  # weights alone: no config to build the model from
    with pytest.raises(CheckpointError, match="not a training checkpoint"):
        load_model(path)
    code = tmp_path / "code.pt"
    torch.save({"fn": json.dumps}, code)  # a pickled callable is not weights-only data
    with pytest.raises(CheckpointError, match="not a readable model or checkpoint"):
        load_model(code)


def test_a_checkpoint_whose_weights_differ_from_its_config_names_them(model, tmp_path) -> None:
    path = tmp_path / "step_000001.pt"
    identity = {f"model.{k}": v for k, v in CONFIG.to_dict().items()} | {"model.n_embd": 32}
    torch.save({"model": model.state_dict(), "identity": identity}, path)
    with pytest.raises(CheckpointError, match=r"weights do not match its config: .*wte.weight"):
        load_model(path)


def test_a_missing_model_says_what_to_give(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="train a model first .* models:/warc2gpt@champion"):
        load_model(tmp_path / "nowhere")


def test_device_choice() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert resolve_device("auto", local_rank=1) == torch.device("cuda", 1)
        assert resolve_device("cuda") == torch.device("cuda", 0)
    else:
        assert resolve_device("auto", local_rank=0) == torch.device("cpu")
        with pytest.raises(ConfigError, match="train.device is cuda but torch sees no CUDA"):
            resolve_device("cuda", setting="train.device")
