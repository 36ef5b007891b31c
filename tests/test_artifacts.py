from __future__ import annotations

import json
import shutil

import pytest

from safety.artifacts import load_artifact, models_dir, write_manifest
from safety.errors import ArtifactIntegrityError, ArtifactNotFoundError


def test_shipped_artifact_verifies():
    artifact = load_artifact("jigsaw_bilstm")
    assert set(artifact.files) == {"model.safetensors", "vocab.txt", "config.json"}
    assert len(artifact.sha256) == 64
    assert (models_dir() / "jigsaw_bilstm" / "MODEL_CARD.md").is_file()


def test_tampered_file_is_refused(tmp_path):
    shutil.copytree(models_dir() / "jigsaw_bilstm", tmp_path / "jigsaw_bilstm")
    with (tmp_path / "jigsaw_bilstm" / "vocab.txt").open("a") as fh:
        fh.write("extra\n")
    with pytest.raises(ArtifactIntegrityError, match="vocab.txt"):
        load_artifact("jigsaw_bilstm", root=tmp_path)


def test_missing_artifact_and_missing_file(tmp_path):
    with pytest.raises(ArtifactNotFoundError):
        load_artifact("nothing", root=tmp_path)
    folder = tmp_path / "a"
    folder.mkdir()
    (folder / "x.bin").write_bytes(b"123")
    write_manifest(folder, name="a", version="1", files=["x.bin"])
    assert load_artifact("a", root=tmp_path).files["x.bin"]
    (folder / "x.bin").unlink()
    with pytest.raises(ArtifactIntegrityError, match="missing"):
        load_artifact("a", root=tmp_path)


def test_unreadable_manifest(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "manifest.json").write_text(json.dumps({"files": {}}))
    with pytest.raises(ArtifactIntegrityError, match="manifest"):
        load_artifact("b", root=tmp_path)


def test_models_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("SAFETY_MODELS_DIR", str(tmp_path))
    assert models_dir() == tmp_path
