"""OpenCLIP joint embedder: real CLIP weights from a local file, never from the network.

The offline default joint embedding is ConSE (``safety.detectors.crossmodal.embedding``). Users who
have OpenCLIP weights on disk can switch to a real CLIP model instead; it implements the same
``JointEmbedder`` interface (``id``, ``version``, ``sha256``, ``dim``, ``logit_scale``,
``embed_images``, ``embed_texts``).

Switching to real weights (example: ViT-B-32 trained on LAION-2B, ``laion2b_s34b_b79k``):

1. On a machine with internet access, download ``open_clip_pytorch_model.bin`` from the Hugging
   Face repository ``laion/CLIP-ViT-B-32-laion2B-s34B-b79K`` (or ``open_clip_model.safetensors``;
   both formats are read).
2. Copy the file to the moderation machine, e.g. ``/srv/models/open_clip_pytorch_model.bin``.
3. Set ``SAFETY_OPENCLIP_MODEL=ViT-B-32`` (the OpenCLIP *architecture* name, as listed by
   ``open_clip.list_models()``; not a pretrained tag) and
   ``SAFETY_OPENCLIP_CHECKPOINT=/srv/models/open_clip_pytorch_model.bin``.

The architecture must match the checkpoint exactly: weights are loaded strictly (no missing or
unexpected keys, no positional-embedding resizing), so a wrong pairing is a
:class:`~safety.errors.ModelError` at load time rather than silently bad embeddings. Mind the
``-quickgelu`` variants: OpenAI's original weights (and a few others) were trained with QuickGELU
and need e.g. ``ViT-B-32-quickgelu``; the parameter names are identical, so only you can get this
right. Image preprocessing (size, mean/std, interpolation, resize mode) comes from the
architecture config; a handful of pretrained tags override it in ``open_clip.pretrained`` and
those overrides are not applied when loading from a file.

No network, by construction: the model is built with ``pretrained=None`` and no tower
weights (``pretrained_image=False``, ``pretrained_text=False``), and the checkpoint is then read
here with ``torch.load(..., weights_only=True)`` (or safetensors) and loaded with
``load_state_dict(strict=True)``. Passing the path as ``pretrained=`` to OpenCLIP is avoided on
purpose: OpenCLIP 3.3.0 first looks the string up as a pretrained *tag* (a file named like a tag,
e.g. ``openai``, would trigger a download), and its loader retries ``torch.load`` with
``weights_only=False`` (arbitrary unpickling) on a ``TypeError``. Schema names (``hf-hub:``,
``local-dir:``) are refused, and architectures whose text tower or tokenizer come from the
Hugging Face Hub (``hf_model_name``/``hf_tokenizer_name`` configs, SigLIP) are refused unless
Hugging Face offline mode (``HF_HUB_OFFLINE=1``, set before the process starts) is on, in which
case their files must already be in the local Hugging Face cache.

Errors are translated at this boundary: an unknown or unusable architecture is a
:class:`~safety.errors.ConfigurationError`, a missing checkpoint an
:class:`~safety.errors.ArtifactNotFoundError`, an unreadable or mismatched checkpoint (or a
failure while embedding) a :class:`~safety.errors.ModelError`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from safety.artifacts import sha256_file
from safety.errors import (
    ArtifactIntegrityError,
    ArtifactNotFoundError,
    ConfigurationError,
    InputError,
    ModelError,
    SafetyError,
)
from safety.images import DecodedImage

__all__ = ["OpenCLIPEmbedder"]

#: CLIP clamps its learned temperature to 100 during training; so do we.
MAX_LOGIT_SCALE = 100.0
#: Rows (frames or texts) sent through a tower at once; bounds peak memory on large inputs.
BATCH_SIZE = 32

_SCHEMA_PREFIXES = ("hf-hub:", "local-dir:")
_UNSUPPORTED_SUFFIXES = (".npz", ".npy")  # big_vision (JAX) checkpoints: convert them first
_RANDOM_INIT_WARNING = "No pretrained weights loaded for model"


class OpenCLIPEmbedder:
    """A CLIP model from OpenCLIP behind the ``JointEmbedder`` interface. Build with :meth:`load`."""

    def __init__(
        self,
        *,
        model: torch.nn.Module,
        preprocess: Callable[[Any], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        model_name: str,
        version: str,
        sha256: str,
        dim: int,
        device: torch.device,
    ) -> None:
        self._model = model
        self._preprocess = preprocess
        self._tokenizer = tokenizer
        self._device = device
        self.model_name = model_name
        self.id = f"openclip:{model_name}"
        self.version = version
        self.sha256 = sha256
        self.dim = dim
        self.logit_scale = min(MAX_LOGIT_SCALE, float(model.logit_scale.detach().exp().float().cpu()))

    def __repr__(self) -> str:
        return f"OpenCLIPEmbedder(id={self.id!r}, version={self.version!r}, sha256={self.sha256[:12]}...)"

    # --- Loading. -----------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        *,
        model_name: str,
        checkpoint: str | os.PathLike[str],
        device: str = "cpu",
        expected_sha256: str | None = None,
    ) -> "OpenCLIPEmbedder":
        """Build architecture *model_name* and load the weights in the local file *checkpoint*.

        *checkpoint* is an OpenCLIP state dict saved with ``torch.save`` (bare, or under a
        ``"state_dict"`` key, optionally with DistributedDataParallel's ``module.`` prefixes) or a
        ``.safetensors`` file. When *expected_sha256* is given, a file with another digest is an
        :class:`~safety.errors.ArtifactIntegrityError` and is never read by torch.
        """
        open_clip = _import_open_clip()
        name = _check_model_name(open_clip, model_name)
        path = _check_checkpoint(checkpoint)
        digest = sha256_file(path)
        if expected_sha256 is not None and digest != expected_sha256.lower():
            raise ArtifactIntegrityError(
                f"OpenCLIP checkpoint {path} has sha256 {digest}, expected {expected_sha256}"
            )
        try:
            torch_device = torch.device(device)
        except (RuntimeError, TypeError, ValueError) as exc:
            raise ConfigurationError(f"invalid torch device {device!r} for OpenCLIP ({exc})") from exc

        model, preprocess = _build_model(open_clip, name)
        state_dict = _read_state_dict(path)
        _load_weights(model, state_dict, path)
        try:
            model = model.to(torch_device).eval()
            tokenizer = open_clip.get_tokenizer(name)
        except Exception as exc:  # noqa: BLE001 - torch/open_clip errors become ours
            raise ModelError(f"could not prepare OpenCLIP {name!r} on {device!r}: {_describe(exc)}") from exc
        return cls(
            model=model,
            preprocess=preprocess,
            tokenizer=tokenizer,
            model_name=name,
            version=path.name,
            sha256=digest,
            dim=_embed_dim(open_clip, name, model),
            device=torch_device,
        )

    # --- Embedding. ---------------------------------------------------------------------------

    def embed_images(self, images: Sequence[DecodedImage]) -> torch.Tensor:
        """``(N, dim)`` float32 CPU tensor of unit rows, in input order.

        Every frame goes through the model's eval preprocessing; an animated image is the mean
        of its frames' (unit) embeddings, re-normalised.
        """
        images = list(images)
        for index, image in enumerate(images):
            if not isinstance(image, DecodedImage):
                raise InputError(
                    f"embed_images expects safety.images.DecodedImage items (use decode_image); "
                    f"item {index} is {type(image).__name__}"
                )
        if not images:
            return torch.empty((0, self.dim), dtype=torch.float32)
        owners = [i for i, image in enumerate(images) for _ in image.frames]
        try:
            pixels = [self._preprocess(frame) for image in images for frame in image.frames]
            frames = self._encode(self._model.encode_image, pixels)
        except SafetyError:
            raise
        except Exception as exc:  # noqa: BLE001 - torch/open_clip errors become ours
            raise ModelError(f"{self.id} failed to embed images: {_describe(exc)}") from exc
        summed = torch.zeros((len(images), self.dim), dtype=torch.float32)
        summed.index_add_(0, torch.tensor(owners), frames)
        return _normalise(summed)

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """``(N, dim)`` float32 CPU tensor of unit rows, in input order."""
        if isinstance(texts, str):
            raise InputError("embed_texts expects a sequence of strings, not a single string")
        texts = list(texts)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputError(f"embed_texts expects strings; item {index} is {type(text).__name__}")
        if not texts:
            return torch.empty((0, self.dim), dtype=torch.float32)
        try:
            tokens = self._tokenizer(texts)
            return self._encode(self._model.encode_text, list(tokens))
        except SafetyError:
            raise
        except Exception as exc:  # noqa: BLE001 - torch/open_clip errors become ours
            raise ModelError(f"{self.id} failed to embed texts: {_describe(exc)}") from exc

    def _encode(self, tower: Callable[[torch.Tensor], torch.Tensor], rows: list[torch.Tensor]) -> torch.Tensor:
        """Run *tower* over *rows* in batches; unit-normalised float32 rows on the CPU."""
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(rows), BATCH_SIZE):
                batch = torch.stack(rows[start : start + BATCH_SIZE]).to(self._device)
                outputs.append(tower(batch).float().cpu())
        return _normalise(torch.cat(outputs))


# --- Helpers. ---------------------------------------------------------------------------------


def _import_open_clip() -> Any:
    try:
        import open_clip
    except ImportError as exc:
        raise ConfigurationError(
            "the OpenCLIP backend needs the open-clip-torch package (pip install open-clip-torch)"
        ) from exc
    return open_clip


def _check_model_name(open_clip: Any, model_name: object) -> str:
    if not isinstance(model_name, str) or not model_name.strip():
        raise ConfigurationError(f"OpenCLIP model name must be a non-empty string, got {model_name!r}")
    if model_name.startswith(_SCHEMA_PREFIXES):
        raise ConfigurationError(
            f"OpenCLIP model name {model_name!r} uses a schema; give an architecture name "
            f"(e.g. 'ViT-B-32') and the checkpoint file separately"
        )
    # open_clip.create_model maps '/' to '-' but get_tokenizer does not: normalise once for both.
    name = model_name.strip().replace("/", "-")
    config = open_clip.get_model_config(name)
    if config is None:
        raise ConfigurationError(
            f"unknown OpenCLIP architecture {model_name!r}; open_clip.list_models() lists the known ones"
        )
    if _needs_hugging_face(name, config) and not _hugging_face_offline():
        raise ConfigurationError(
            f"OpenCLIP architecture {name!r} fetches its text tower or tokenizer from the Hugging Face "
            f"Hub; set HF_HUB_OFFLINE=1 (with those files in the local Hugging Face cache) to use it"
        )
    return name


def _needs_hugging_face(name: str, config: Mapping[str, Any]) -> bool:
    text_cfg = config.get("text_cfg", {}) or {}
    return bool(
        "hf_model_name" in text_cfg
        or "hf_tokenizer_name" in text_cfg
        or "siglip" in name.lower()  # open_clip.get_tokenizer picks a Hub tokenizer for these names
    )


def _hugging_face_offline() -> bool:
    try:
        from huggingface_hub import constants
    except ImportError:
        return True  # nothing can reach the Hub without it; loading will fail locally instead
    return bool(constants.HF_HUB_OFFLINE)


def _check_checkpoint(checkpoint: object) -> Path:
    if not isinstance(checkpoint, (str, os.PathLike)) or not os.fspath(checkpoint):
        raise ConfigurationError(f"OpenCLIP checkpoint must be a file path, got {checkpoint!r}")
    path = Path(checkpoint).expanduser()
    if not path.exists():
        raise ArtifactNotFoundError(
            f"OpenCLIP checkpoint {str(path)!r} does not exist; download the weights elsewhere, copy "
            f"them here and point SAFETY_OPENCLIP_CHECKPOINT at the file"
        )
    if not path.is_file():
        raise ArtifactNotFoundError(f"OpenCLIP checkpoint {str(path)!r} is not a regular file")
    if path.suffix.lower() in _UNSUPPORTED_SUFFIXES:
        raise ConfigurationError(
            f"OpenCLIP checkpoint {path.name!r} is a numpy (big_vision) file; give an OpenCLIP state "
            f"dict (.bin/.pt/.pth from torch.save, or .safetensors)"
        )
    return path


def _build_model(open_clip: Any, name: str) -> tuple[torch.nn.Module, Callable[[Any], torch.Tensor]]:
    """The architecture, randomly initialised on the CPU, and its eval preprocessing."""
    try:
        with _quiet_random_init_warning():
            model, _, preprocess = open_clip.create_model_and_transforms(
                name,
                pretrained=None,
                load_weights=False,
                pretrained_image=False,
                pretrained_text=False,
                precision="fp32",
                device="cpu",
            )
    except SafetyError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unusable config, whatever open_clip raised
        raise ConfigurationError(f"could not build OpenCLIP architecture {name!r}: {_describe(exc)}") from exc
    return model, preprocess


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors in *path*, unwrapped from ``{"state_dict": ...}`` and ``module.`` prefixes."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            loaded: object = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure means an unusable file
        raise ModelError(f"could not read OpenCLIP checkpoint {path.name!r}: {_describe(exc)}") from exc
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, Mapping) or not loaded:
        raise ModelError(f"OpenCLIP checkpoint {path.name!r} does not hold a state dict of tensors")
    bad = [key for key, value in loaded.items() if not isinstance(key, str) or not isinstance(value, torch.Tensor)]
    if bad:
        raise ModelError(
            f"OpenCLIP checkpoint {path.name!r} has entries that are not named tensors: {bad[:3]!r}"
        )
    state_dict = dict(loaded)
    if all(key.startswith("module.") for key in state_dict):
        state_dict = {key[len("module."):]: value for key, value in state_dict.items()}
    return state_dict


def _load_weights(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], path: Path) -> None:
    """``open_clip.load_checkpoint``'s format fix-ups, then a strict load (no resizing)."""
    from open_clip.convert import convert_state_dict
    from open_clip.model import convert_to_custom_text_state_dict

    try:
        state_dict = convert_state_dict(model, state_dict)  # Apple MobileCLIP layouts
        if "positional_embedding" in state_dict and not hasattr(model, "positional_embedding"):
            state_dict = convert_to_custom_text_state_dict(state_dict)
        for key in ("logit_scale", "logit_bias"):
            param = getattr(model, key, None)
            if key in state_dict and isinstance(param, torch.Tensor) and param.ndim != state_dict[key].ndim:
                state_dict[key] = state_dict[key].reshape(param.shape)
        if getattr(model, "logit_bias", None) is not None and "logit_bias" not in state_dict:
            state_dict["logit_bias"] = torch.zeros_like(model.logit_bias)
        state_dict.pop("text.transformer.embeddings.position_ids", None)
        model.load_state_dict(state_dict, strict=True)
    except Exception as exc:  # noqa: BLE001 - missing/unexpected keys, shape mismatches
        raise ModelError(
            f"OpenCLIP checkpoint {path.name!r} does not fit the architecture: {_describe(exc)}"
        ) from exc


def _embed_dim(open_clip: Any, name: str, model: torch.nn.Module) -> int:
    config = open_clip.get_model_config(name) or {}
    dim = config.get("embed_dim")
    if isinstance(dim, int) and dim > 0:
        return dim
    projection = getattr(model, "text_projection", None)  # pragma: no cover - every config has it
    if isinstance(projection, torch.Tensor):
        return int(projection.shape[-1])
    raise ModelError(f"cannot tell the embedding dimension of OpenCLIP {name!r}")


def _normalise(rows: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(rows.float(), dim=-1).contiguous()


class _DropRandomInitWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_RANDOM_INIT_WARNING)


@contextmanager
def _quiet_random_init_warning() -> Iterator[None]:
    """Drop open_clip's "initialized randomly" warning: the weights are loaded right after."""
    root = logging.getLogger()  # open_clip logs through the root logger (logging.warning)
    log_filter = _DropRandomInitWarning()
    root.addFilter(log_filter)
    try:
        yield
    finally:
        root.removeFilter(log_filter)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())  # torch's state-dict errors span several lines
    text = text if len(text) <= 400 else text[:397] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
