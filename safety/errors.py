"""One base exception, a shallow hierarchy by cause (the httpx way).

Every error the library raises on purpose derives from :class:`SafetyError` and carries a stable
machine-readable ``code``. Third-party errors (Pillow, base64, safetensors, torch) are translated
into these at the boundary where they happen, so callers never need to import those libraries to
handle failures. The REST layer maps each class to an HTTP status in one table
(``safety.server.errors``).
"""

from __future__ import annotations


class SafetyError(Exception):
    """Base class of every error raised by the ``safety`` package."""

    code: str = "safety_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- Bad input: the caller sent something we will not moderate. --------------------------------


class InputError(SafetyError, ValueError):
    """The content or request given to moderate is not acceptable."""

    code = "invalid_input"


class EmptyInputError(InputError):
    """Neither text nor image, or a text/image that is empty."""

    code = "empty_input"


class TextTooLongError(InputError):
    """A text longer than the configured hard limit."""

    code = "text_too_long"


class InvalidTextError(InputError):
    """Text that is not valid Unicode (invalid UTF-8 bytes, lone surrogates) or not a string."""

    code = "invalid_text"


class InvalidBase64Error(InputError):
    """An image payload that is not valid base64 (or not a valid data URL)."""

    code = "invalid_base64"


class ImageError(InputError):
    """Base class of image decoding problems."""

    code = "invalid_image"


class CorruptImageError(ImageError):
    """Bytes that do not decode as an image: corrupt, truncated or zero-length."""

    code = "corrupt_image"


class UnsupportedImageFormatError(ImageError):
    """An image in a format outside the allow-list."""

    code = "unsupported_image_format"


class ImageTooLargeError(ImageError):
    """An image over the byte or pixel limit (including decompression bombs)."""

    code = "image_too_large"


class ImageNotFoundError(ImageError):
    """An image path that does not exist or cannot be read."""

    code = "image_not_found"


class InvalidRequestError(InputError):
    """A request whose shape is wrong: malformed JSON, wrong content type, unknown fields."""

    code = "invalid_request"


# --- Configuration: policies, settings, registry. -----------------------------------------------


class ConfigurationError(SafetyError):
    """A policy, detector registry entry or setting is invalid."""

    code = "configuration_error"


class UnknownPolicyError(ConfigurationError, LookupError):
    """A policy name that is not installed."""

    code = "unknown_policy"


class InvalidPolicyError(ConfigurationError, ValueError):
    """A policy file that fails validation."""

    code = "invalid_policy"


class UnknownDetectorError(ConfigurationError, LookupError):
    """A detector or bundle name that is not in the registry."""

    code = "unknown_detector"


# --- Models: artifacts and detectors at run time. -----------------------------------------------


class ModelError(SafetyError):
    """A model artifact or detector failed."""

    code = "model_error"


class ArtifactNotFoundError(ModelError):
    code = "artifact_not_found"


class ArtifactIntegrityError(ModelError):
    """An artifact whose files do not match the sha256 sums in its manifest."""

    code = "artifact_integrity"


class DetectorError(ModelError):
    """A detector raised while scoring. Verdicts fail closed to ``review`` on this."""

    code = "detector_error"


class DetectorTimeoutError(DetectorError):
    """A detector did not answer within its time budget. Verdicts fail closed on this."""

    code = "detector_timeout"


class OverloadedError(SafetyError):
    """The server's moderation queue is full: the request was not accepted (retry later)."""

    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
