"""ONNX Runtime sessions for the shipped models: exported once from the checked torch weights, cached.

Nothing in ``models/`` is an ONNX graph: each model that runs in ONNX Runtime (the two image CNNs,
:mod:`safety.detectors.image.onnx_runtime`; the MiniLM text encoders,
:mod:`safety.detectors.text.onnx_runtime`) is exported from its integrity-checked torch weights
on first load (``torch.onnx.export``, TorchScript exporter, dynamic axes), checked against torch on
a fixed input, and kept in a cache folder:

``$SAFETY_CACHE_DIR/onnx``, else ``$XDG_CACHE_HOME/safety/onnx``, else ``~/.cache/safety/onnx``.

A cached graph's file name carries a key over everything that determines it (the weights' digest,
the exporting code, torch's and transformers' versions, the opset, any quantization), and a sidecar
JSON records the graph's own sha256, checked before each load; a graph that fails the check is
exported again. The graph is written to the cache by a background thread (writing 90 MB took
longer than exporting it on the reference machine), so a first start does not wait for the disk;
a load of the same graph meanwhile uses the bytes in memory, and the interpreter waits for the
write before it exits (:func:`wait_for_cache_writes` waits now). Where the folder cannot be
written, the graph is exported into memory on every load (slower starts, same results).

Every session runs on the CPU with as many intra-op threads as torch uses and without spinning
pool threads (see :func:`session`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from safety.errors import ConfigurationError, ModelError

logger = logging.getLogger(__name__)

#: The runtimes a detector's ``load(runtime=...)`` accepts.
RUNTIMES = ("torch", "onnxruntime")
OPSET = 17
_CACHE_ENV = "SAFETY_CACHE_DIR"
_STALE_KEY = re.compile(r"[0-9a-f]{24}")
#: Graphs exported by this process whose cache write has not finished: path -> (bytes, writer).
_PENDING: dict[Path, tuple[bytes, threading.Thread]] = {}
_PENDING_LOCK = threading.Lock()
INSTALL_HINT = "pip install onnx==1.23.2 onnxruntime==1.32.0 (dependencies of safety-filter)"


def check_runtime(runtime: str) -> None:
    if runtime not in RUNTIMES:
        raise ConfigurationError(f"unknown runtime {runtime!r}; known: {', '.join(RUNTIMES)}")


def onnxruntime():
    """The ``onnxruntime`` module, or a :class:`ConfigurationError` saying how to install it."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ConfigurationError(f"the onnxruntime runtime needs the onnxruntime package: {INSTALL_HINT}") from exc
    return ort


def require_onnx() -> None:
    """torch's exporter serialises through the ``onnx`` package."""
    try:
        import onnx  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(f"exporting a model to ONNX needs the onnx package: {INSTALL_HINT}") from exc


def runtime_version() -> str:
    """The suffix a detector's version gets when it runs in ONNX Runtime."""
    return f"+onnxruntime@{onnxruntime().__version__}"


def cache_dir() -> Path:
    """Where exported graphs are kept (see the module docstring)."""
    env = os.environ.get(_CACHE_ENV)
    if env:
        return Path(env) / "onnx"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "safety" / "onnx"


def source_digest(obj: Any) -> str:
    """sha256 of the source file defining ``obj`` (a module, class or function)."""
    try:
        return hashlib.sha256(Path(inspect.getfile(obj)).read_bytes()).hexdigest()
    except (OSError, TypeError):
        return "unknown"


def export_key(*lines: str) -> str:
    """A digest of what an exported graph depends on; the caller's ``lines`` plus torch and opset."""
    return hashlib.sha256("\n".join([f"opset={OPSET}", f"torch={torch.__version__}", *lines]).encode()).hexdigest()


def session(model: bytes, threads: int | None = None):
    """A CPU ``InferenceSession`` over ``model`` (serialised ONNX)."""
    ort = onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads would otherwise spin after each run, taking a core from the preprocessing
    # and the models that run next on the same inference thread: on the 2-core reference machine,
    # spinning made a single CNN run ~2 ms faster but a whole image-cnn call on a 640x480 photo
    # ~25 ms slower (91 vs 68 ms p50).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cached(path: Path, meta_path: Path, key: str) -> bytes | None:
    """The cached graph when its sidecar names ``key`` and its bytes match the recorded sha256."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        model = path.read_bytes()
    except (OSError, ValueError):
        return None
    if meta.get("key") != key or meta.get("onnx_sha256") != hashlib.sha256(model).hexdigest():
        logger.warning("cached ONNX graph %s does not match its record; exporting it again", path)
        return None
    return model


def graph_paths(name: str, key: str, directory: Path | None = None) -> tuple[Path, Path]:
    """(graph, sidecar JSON) of the graph ``name`` with ``key`` in the cache folder."""
    directory = directory or cache_dir()
    stem = f"{name}-{key[:24]}"
    return directory / f"{stem}.onnx", directory / f"{stem}.json"


def cached_session(name: str, key: str, *, export: Callable[[], bytes], check: Callable[[Any], float],
                   tolerance: float, threads: int | None = None, directory: Path | None = None,
                   meta: Mapping[str, object] | None = None):
    """A session over the graph ``name``: from the cache when a verified graph with ``key`` is
    there; else ``export()``-ed, checked (``check(session)`` must be at most ``tolerance``), and
    cached (best effort). ``meta`` is recorded in the sidecar beside the check's figure."""
    onnxruntime()  # fail with the install hint before spending time on an export
    path, meta_path = graph_paths(name, key, directory)
    with _PENDING_LOCK:
        pending = _PENDING.get(path)
    model = pending[0] if pending is not None else _cached(path, meta_path, key)
    if model is not None:
        return session(model, threads)
    model = export()  # each exporter checks for the onnx package (require_onnx)
    sess = session(model, threads)
    difference = check(sess)
    if not difference <= tolerance:
        raise ModelError(f"the ONNX export of {name} differs from torch by {difference:.3g} (> {tolerance}); not used")
    record = {"key": key, "name": name, **(meta or {}), "onnx_sha256": hashlib.sha256(model).hexdigest(),
              "bytes": len(model), "torch": torch.__version__, "opset": OPSET, "check_at_export": difference}
    # Not a daemon: the interpreter waits for the write at exit, so no half-written graph is left.
    writer = threading.Thread(target=_store, args=(name, path, meta_path, model, record), daemon=False,
                              name=f"safety-onnx-cache-{name}")
    with _PENDING_LOCK:
        _PENDING[path] = (model, writer)
    writer.start()
    return sess


def _store(name: str, path: Path, meta_path: Path, model: bytes, record: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(path, model)
        _write_atomic(meta_path, (json.dumps(record, indent=2) + "\n").encode())
    except OSError as exc:
        logger.warning("cannot cache the ONNX graph in %s (%s); it will be exported again on the next load",
                       path.parent, exc)
    else:
        _prune(name, keep=path.stem, directory=path.parent)
    finally:
        with _PENDING_LOCK:
            _PENDING.pop(path, None)


def wait_for_cache_writes() -> None:
    """Return when every graph this process exported is written to the cache (or failed to be)."""
    with _PENDING_LOCK:
        writers = [writer for _, writer in _PENDING.values()]
    for writer in writers:
        writer.join()


def _prune(name: str, *, keep: str, directory: Path) -> None:
    """Remove the graphs of ``name`` under other keys (older weights or code): up to 90 MB each."""
    for stale in directory.glob(f"{name}-*"):
        stem = stale.name.split(".", 1)[0]
        key = stem[len(name) + 1:]
        if stem != keep and stale.suffix in (".onnx", ".json") and _STALE_KEY.fullmatch(key):
            stale.unlink(missing_ok=True)
