"""Which parts of an image a CNN looks at: the whole frame, plus overlapping tiles on large images.

A weapon is often a small part of a large photo (CCTV, phone shots); one 224x224 downscale of a
1280-px frame shrinks it to a few pixels. So a large frame is scored as a whole *and* as a grid of
overlapping tiles, each resized to the model's input, and a category keeps its maximum over the
views; the view that fired is reported as the region. The grid is data (each model's
``config.json``), so its cost can be traded against recall without code changes.

Boxes are ``(x0, y0, x1, y1)`` in pixels of the decoded frame (EXIF orientation applied),
``x1``/``y1`` exclusive.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from PIL import Image

Box = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class TileGrid:
    """Tiles of ``fraction`` of the frame's shorter side, overlapping by ``overlap``.

    Frames whose shorter side is below ``min_side`` pixels are only scored whole (a tile would be
    upsampled, adding cost and no detail). ``max_tiles`` bounds the cost of extreme aspect ratios.
    """

    min_side: int = 448
    fraction: float = 0.6
    overlap: float = 0.2
    max_tiles: int = 6

    @classmethod
    def from_dict(cls, data: Mapping[str, object] | None) -> "TileGrid | None":
        return None if not data else cls(**data)  # type: ignore[arg-type]

    def boxes(self, width: int, height: int) -> list[Box]:
        """Tile boxes for a ``width`` x ``height`` frame (empty when the frame is too small)."""
        short = min(width, height)
        if short < self.min_side:
            return []
        side = max(1, round(short * self.fraction))
        step = max(1, round(side * (1.0 - self.overlap)))
        xs = _starts(width, side, step)
        ys = _starts(height, side, step)
        while len(xs) * len(ys) > self.max_tiles:  # widen the step until the grid fits the budget
            step = math.ceil(step * 1.25)
            xs, ys = _starts(width, side, step), _starts(height, side, step)
        return [(x, y, x + side, y + side) for y in ys for x in xs]


def _starts(length: int, side: int, step: int) -> list[int]:
    """Evenly spread tile starts covering ``[0, length)``, first at 0 and last flush with the end."""
    if length <= side:
        return [0]
    count = math.ceil((length - side) / step) + 1
    return [round(i * (length - side) / (count - 1)) for i in range(count)]


@dataclass(frozen=True, slots=True)
class View:
    """One crop of one frame that a model scores."""

    frame: int
    box: Box
    #: ``"whole"`` or ``"tile"``.
    kind: str

    def crop(self, frames: Sequence[Image.Image]) -> Image.Image:
        image = frames[self.frame]
        if self.kind == "whole":
            return image
        return image.crop(self.box)


def views_of(frames: Sequence[Image.Image], grid: TileGrid | None) -> list[View]:
    """Every frame whole, then its tiles (when ``grid`` is set and the frame is large enough)."""
    views: list[View] = []
    for index, frame in enumerate(frames):
        width, height = frame.size
        views.append(View(index, (0, 0, width, height), "whole"))
        if grid is not None:
            views.extend(View(index, box, "tile") for box in grid.boxes(width, height))
    return views


#: The part of a resized view that a model's input covers, as fractions (x0, y0, x1, y1): the
#: whole view for a plain resize, less for a model that centre-crops after resizing.
Window = tuple[float, float, float, float]
FULL_WINDOW: Window = (0.0, 0.0, 1.0, 1.0)


def map_box(inner: Box, input_size: int, view: Box, window: Window = FULL_WINDOW) -> Box:
    """Map ``inner`` (pixels of a square ``input_size`` model input) back into frame pixels of ``view``."""
    x0, y0, x1, y1 = view
    width, height = x1 - x0, y1 - y0
    wx0, wy0, wx1, wy1 = window

    def to_frame(value: float, start: float, span: float, origin: int, extent: int) -> float:
        return origin + (start + value / input_size * span) * extent

    left = to_frame(inner[0], wx0, wx1 - wx0, x0, width)
    top = to_frame(inner[1], wy0, wy1 - wy0, y0, height)
    right = to_frame(inner[2], wx0, wx1 - wx0, x0, width)
    bottom = to_frame(inner[3], wy0, wy1 - wy0, y0, height)
    return (max(x0, math.floor(left)), max(y0, math.floor(top)), min(x1, math.ceil(right)), min(y1, math.ceil(bottom)))
