"""Settings for the library's default moderator, the CLI and the server (pydantic BaseSettings).

Every field can be set from the environment with the ``SAFETY_`` prefix, e.g.
``SAFETY_MAX_TEXT_CHARS=10000`` or ``SAFETY_DEFAULT_POLICY=strict``.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from safety.limits import DEFAULT_IMAGE_FORMATS, InputLimits

_LIMITS = InputLimits()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFETY_", extra="ignore", frozen=True)

    bundle: str = Field("offline-default", description="Model bundle from the detector registry.")
    default_policy: str = Field("default", description="Policy used when a request names none.")
    detector_timeout_s: float = Field(30.0, gt=0, description="Budget per batch for each channel; on expiry the verdict fails closed.")
    torch_threads: int | None = Field(None, ge=1, description="intra-op threads of torch and of the ONNX Runtime sessions (default: torch's choice).")
    openclip_model: str | None = Field(None, description="OpenCLIP architecture for the 'openclip' bundle, e.g. ViT-B-32.")
    openclip_checkpoint: str | None = Field(None, description="Path of the OpenCLIP checkpoint file on this machine.")
    prompt_bank: str | None = Field(None, description="Cross-modal prompt bank TOML (default: the packaged one).")

    max_text_chars: int = Field(_LIMITS.max_text_chars, ge=1)
    max_image_bytes: int = Field(_LIMITS.max_image_bytes, ge=1)
    max_image_pixels: int = Field(_LIMITS.max_image_pixels, ge=1)
    max_image_side: int = Field(_LIMITS.max_image_side, ge=1)
    max_image_frames: int = Field(_LIMITS.max_image_frames, ge=1)
    image_formats: frozenset[str] = DEFAULT_IMAGE_FORMATS

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    #: Largest HTTP request body accepted (base64 inflates images by 4/3).
    max_request_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    #: Most inputs in one OpenAI-style list request.
    max_batch_items: int = Field(64, ge=1)
    #: Results of identical inputs kept in memory (LRU; 0 turns the cache off).
    cache_size: int = Field(1024, ge=0)
    #: Micro-batching: concurrent requests are gathered into one model batch of at most this many
    #: items (1 turns batching off), waiting at most ``batch_wait_ms`` for more after the first.
    #: The default 0 waits for nothing: requests that arrive while a batch runs form the next one,
    #: so batches grow with load, and a lone request starts at once (measured: a 2 ms wait added
    #: 2 ms to the p50 of one client and no throughput at 32; bench/load_test.py).
    batch_max_size: int = Field(32, ge=1)
    batch_wait_ms: float = Field(0.0, ge=0.0)
    #: Items waiting for the models beyond which requests get 503 with Retry-After.
    max_queue: int = Field(256, ge=1)
    #: Load every model at start-up (``/readyz`` turns OK when done) instead of on first request.
    preload: bool = True

    def limits(self) -> InputLimits:
        return InputLimits(
            max_text_chars=self.max_text_chars,
            max_image_bytes=self.max_image_bytes,
            max_image_pixels=self.max_image_pixels,
            max_image_side=self.max_image_side,
            max_image_frames=self.max_image_frames,
            image_formats=frozenset(f.upper() for f in self.image_formats),
        )
