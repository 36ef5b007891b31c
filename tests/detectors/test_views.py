"""View geometry: which tiles a frame is cut into, and mapping boxes back into the frame."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from safety.detectors.image.views import FULL_WINDOW, TileGrid, map_box, views_of


def test_small_frames_are_only_scored_whole():
    assert TileGrid(min_side=448).boxes(447, 2000) == []
    views = views_of([Image.new("RGB", (300, 200))], TileGrid())
    assert [(v.kind, v.box) for v in views] == [("whole", (0, 0, 300, 200))]


def test_default_grid_on_a_vga_photo():
    boxes = TileGrid().boxes(640, 480)
    side = round(480 * 0.6)
    assert all(x1 - x0 == side and y1 - y0 == side for x0, y0, x1, y1 in boxes)
    assert len(boxes) == 6  # 3 across, 2 down
    assert {b[0] for b in boxes} == {0, 176, 352} and {b[1] for b in boxes} == {0, 192}


@given(width=st.integers(448, 6000), height=st.integers(448, 6000))
def test_tiles_cover_the_frame_within_budget(width, height):
    grid = TileGrid()
    boxes = grid.boxes(width, height)
    assert 1 <= len(boxes) <= grid.max_tiles
    assert all(0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height for x0, y0, x1, y1 in boxes)
    # first tile at the origin, last flush with the far corner: every edge pixel is in some tile
    assert min(b[0] for b in boxes) == 0 and max(b[2] for b in boxes) == width
    assert min(b[1] for b in boxes) == 0 and max(b[3] for b in boxes) == height


def test_every_frame_gets_its_views_in_order():
    frames = [Image.new("RGB", (800, 600)), Image.new("RGB", (800, 600))]
    views = views_of(frames, TileGrid())
    per_frame = len(TileGrid().boxes(800, 600)) + 1
    assert len(views) == 2 * per_frame
    assert [v.frame for v in views] == [0] * per_frame + [1] * per_frame
    assert views[0].kind == "whole" and views[per_frame].kind == "whole"
    assert views[1].crop(frames).size == (views[1].box[2] - views[1].box[0], views[1].box[3] - views[1].box[1])


@pytest.mark.parametrize(("inner", "view", "window", "expected"), [
    ((0, 0, 224, 224), (0, 0, 640, 480), FULL_WINDOW, (0, 0, 640, 480)),
    ((56, 56, 112, 112), (100, 200, 324, 424), FULL_WINDOW, (156, 256, 212, 312)),
    ((0, 0, 112, 224), (0, 0, 400, 100), FULL_WINDOW, (0, 0, 200, 100)),
    # open_nsfw: input = centre 224 of a 256 resize, so input pixel 0 is 16/256 into the view
    ((0, 0, 224, 224), (0, 0, 256, 256), (16 / 256, 16 / 256, 240 / 256, 240 / 256), (16, 16, 240, 240)),
])
def test_map_box(inner, view, window, expected):
    assert map_box(inner, 224, view, window) == expected
