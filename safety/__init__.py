"""safety: a self-hosted multimodal harmful-content filter.

    >>> from safety import moderate
    >>> result = moderate(text="you are a stupid idiot")
    >>> result.action, result.categories["insult"].probability

``moderate`` and ``moderate_batch`` use one process-wide :class:`Moderator` built from
:class:`Settings` (environment variables ``SAFETY_*``) on first use; build your own ``Moderator``
for other bundles, limits or timeouts.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import ValidationError

from safety.errors import (
    ConfigurationError,
    EmptyInputError,
    ImageError,
    InputError,
    ModelError,
    SafetyError,
    TextTooLongError,
)
from safety.pipeline import Moderator
from safety.policy import Policy
from safety.schema import ModerationResult
from safety.settings import Settings
from safety.taxonomy import Action, Category, Channel

__version__ = "0.1.0"

__all__ = [
    "Action", "Category", "Channel", "ConfigurationError", "EmptyInputError", "ImageError", "InputError",
    "ModelError", "ModerationResult", "Moderator", "Policy", "SafetyError", "Settings", "TextTooLongError",
    "default_moderator", "moderate", "moderate_batch", "__version__",
]

_default: Moderator | None = None
_default_lock = threading.Lock()


def default_moderator() -> Moderator:
    """The shared moderator behind :func:`moderate`, built from ``Settings()`` on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                try:
                    settings = Settings()
                except ValidationError as exc:
                    raise ConfigurationError(f"invalid SAFETY_* settings: {exc}") from None
                _default = Moderator.from_settings(settings)
    return _default


def moderate(text: str | bytes | None = None, image: object = None, *,
             policy: str | Path | Policy | None = None) -> ModerationResult:
    """Moderate one text and/or image (a path, encoded bytes, a PIL image or a numpy array)."""
    return default_moderator().moderate(text, image, policy=policy)


def moderate_batch(items: Sequence[Mapping[str, object]], *,
                   policy: str | Path | Policy | None = None) -> list[ModerationResult]:
    """Moderate ``[{"text": ..., "image": ...}, ...]`` through the batched detector paths; results in order."""
    return default_moderator().moderate_batch(items, policy=policy)
