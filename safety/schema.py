"""The one result schema, shared by the Python API, the CLI and the REST API.

``ModerationResult`` always has the same shape whatever the input: every canonical category is
present (``probability`` is ``null`` when no detector assessed it) and every channel is present
(``status`` says whether it ran). The OpenAI-compatible REST shape is a view of this model
(``safety.server.openai_compat``), not a second source of truth.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from safety.taxonomy import Action, Category, Channel


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class ChannelStatus(StrEnum):
    OK = "ok"
    #: The input has nothing for this channel (e.g. the image channel of a text-only request).
    SKIPPED = "skipped"
    #: The input needs this channel but no detector for it is installed. Fails closed.
    UNAVAILABLE = "unavailable"
    #: The detector raised. Fails closed.
    ERROR = "error"
    #: The detector did not answer in time. Fails closed.
    TIMEOUT = "timeout"

    @property
    def failed(self) -> bool:
        return self in (ChannelStatus.UNAVAILABLE, ChannelStatus.ERROR, ChannelStatus.TIMEOUT)


class ErrorInfo(_Model):
    type: str = Field(description="Stable error code, e.g. 'detector_timeout'.")
    message: str


class Span(_Model):
    """Characters ``text[start:end]`` of the input that drove ``category``'s score.

    ``score`` is how much removing the span lowers the category's logit (occlusion).
    """

    start: int
    end: int
    category: Category
    score: float


class Region(_Model):
    """A part of the image that drove ``category``'s score (Grad-CAM inside the view that fired)."""

    category: Category
    score: float = Field(description="The category's score in the view the region was found in.")
    box: tuple[int, int, int, int] = Field(
        description="(x0, y0, x1, y1) in pixels of the decoded image (EXIF orientation applied), x1/y1 exclusive.")
    frame: int = Field(0, description="Sampled frame index (animated images); 0 for still images.")
    view: str = Field("whole", description="'whole' when the whole frame fired, 'tile' when one of its tiles did.")
    method: str = Field("grad_cam", description="'grad_cam', or 'view' when the box is the view itself.")


class AuxiliaryResult(_Model):
    """A second model's scores on the same channel: evidence for the combiner, not the verdict."""

    scores: dict[str, float] = Field(default_factory=dict)
    model_version: str | None = None
    error: ErrorInfo | None = None


class ChannelResult(_Model):
    status: ChannelStatus
    scores: dict[str, float] = Field(
        default_factory=dict, description="Canonical category (or signal) -> score from this channel."
    )
    raw_scores: dict[str, float] = Field(
        default_factory=dict, description="The model's own label -> score, before the taxonomy mapping."
    )
    model_id: str | None = None
    model_version: str | None = None
    model_sha256: str | None = None
    latency_ms: float | None = None
    error: ErrorInfo | None = None
    spans: list[Span] = Field(default_factory=list, description="Text spans explaining a flagged text's top category.")
    regions: list[Region] = Field(default_factory=list, description="Image regions explaining a flagged image's categories.")
    transforms: list[str] = Field(
        default_factory=list,
        description="Normalisations (nfkc, invisible, homoglyph, leet, spacing, repeats) of the input whose form"
                    " produced the reported scores; empty when the text as given scored highest.",
    )
    unnormalized_scores: dict[str, float] | None = Field(
        None, description="Scores of the text as given, when a normalised form scored higher."
    )
    auxiliary: dict[str, AuxiliaryResult] = Field(
        default_factory=dict, description="Secondary models of this channel, by model id."
    )


class CombinerExplanation(_Model):
    """How the calibrated combiner reached a category's probability.

    ``intercept + sum(contributions.values()) == logit``; the probability is the calibrator applied
    to ``logit``. A channel's contribution is its features' standardised values times their
    coefficients (an interaction term is shared equally between the channels it involves), so a
    positive number pushed the probability up and a negative one pulled it down.
    """

    model: str = Field(description="The sub-model used: the channels present, e.g. 'text+image+cross_modal'.")
    calibration: str = Field(description="'temperature', 'platt' or 'isotonic' (chosen by cross-validation).")
    logit: float
    intercept: float
    contributions: dict[Channel, float] = Field(description="Each channel's share of the logit.")


class CategoryResult(_Model):
    probability: float | None = Field(description="Score in [0, 1]; null when no detector assessed it.")
    flagged: bool = Field(description="probability >= threshold (the policy's review threshold).")
    action: Action
    threshold: float = Field(description="The policy's review threshold for this category.")
    block_threshold: float
    sources: list[Channel] = Field(description="Channels whose scores produced the probability.")
    method: str | None = Field(
        None, description="'combiner' (the calibrated combiner's probability, see 'combiner') or 'max' (the highest"
                          " score of the sources: categories or channel patterns the combiner has no model for);"
                          " null when no detector assessed the category.")
    combiner: CombinerExplanation | None = Field(None, description="Present when method is 'combiner'.")


class Reason(_Model):
    code: str = Field(description="Machine-readable: 'category_threshold' or 'channel_failed'.")
    message: str = Field(description="Human-readable explanation.")
    action: Action
    category: Category | None = None
    channel: Channel | None = None


class PolicyRef(_Model):
    name: str
    version: str


class BundleRef(_Model):
    id: str
    sha256: str = Field(description="Digest over the bundle's detectors and their artifact digests.")


class ImageSummary(_Model):
    format: str
    width: int
    height: int
    frames: int
    sha256: str


class InputSummary(_Model):
    """What was moderated, without the content itself (raw content is never echoed or logged)."""

    text_chars: int | None = None
    text_sha256: str | None = None
    image: ImageSummary | None = None


class ModerationResult(_Model):
    id: str
    flagged: bool = Field(description="True when action is not 'allow'.")
    action: Action
    categories: dict[Category, CategoryResult]
    channels: dict[Channel, ChannelResult]
    reasons: list[Reason]
    policy: PolicyRef
    model_bundle: BundleRef
    input: InputSummary
    latency_ms: float
    cached: bool = Field(False, description="True when an identical input under the same policy and model bundle"
                                            " was answered from the result cache.")
