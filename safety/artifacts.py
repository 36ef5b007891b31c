"""Model artifacts on disk: where they live, and loading them with integrity checks.

An artifact is a folder under ``models/`` holding weights and preprocessing data together with a
``manifest.json``::

    {"name": "jigsaw_bilstm", "version": "...", "files": {"model.safetensors": "<sha256>", ...}}

Every file listed is checked against its sha256 before anything reads it, and the artifact's own
digest (the sha256 of its canonical manifest) is what results report, so a verdict can always be
traced to the exact bytes that produced it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from safety.errors import ArtifactIntegrityError, ArtifactNotFoundError

MANIFEST = "manifest.json"
_ENV_MODELS_DIR = "SAFETY_MODELS_DIR"


def models_dir() -> Path:
    """The folder holding artifacts: ``$SAFETY_MODELS_DIR``, else the one shipped with the package
    (``safety/_models`` in a wheel), else ``models/`` of the source checkout."""
    env = os.environ.get(_ENV_MODELS_DIR)
    if env:
        return Path(env)
    package = Path(__file__).resolve().parent
    bundled = package / "_models"
    if bundled.is_dir():
        return bundled
    return package.parent / "models"


def sha256_file(path: Path, *, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def manifest_digest(manifest: dict) -> str:
    canonical = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    version: str
    path: Path
    files: dict[str, str]
    #: sha256 of the canonical manifest: one digest for all the artifact's files.
    sha256: str

    def file(self, name: str) -> Path:
        if name not in self.files:
            raise ArtifactIntegrityError(f"artifact {self.name!r} has no file {name!r} in its manifest")
        return self.path / name


def load_artifact(name: str, *, root: Path | None = None, verify: bool = True) -> Artifact:
    """Open artifact ``name`` and verify every file's sha256 against its manifest."""
    path = (root or models_dir()) / name
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise ArtifactNotFoundError(f"no artifact {name!r} at {path} (missing {MANIFEST})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = dict(manifest["files"])
        version = str(manifest["version"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactIntegrityError(f"artifact {name!r}: unreadable manifest: {exc}") from exc
    if verify:
        for filename, expected in files.items():
            file_path = path / filename
            if not file_path.is_file():
                raise ArtifactIntegrityError(f"artifact {name!r}: file {filename!r} is missing")
            actual = sha256_file(file_path)
            if actual != expected:
                raise ArtifactIntegrityError(
                    f"artifact {name!r}: {filename} has sha256 {actual}, manifest says {expected}"
                )
    return Artifact(name=name, version=version, path=path, files=files, sha256=manifest_digest(manifest))


def write_manifest(path: Path, *, name: str, version: str, files: list[str]) -> dict:
    """Write ``manifest.json`` for the given files of an artifact folder; return the manifest."""
    manifest = {
        "name": name,
        "version": version,
        "files": {f: sha256_file(path / f) for f in sorted(files)},
    }
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
