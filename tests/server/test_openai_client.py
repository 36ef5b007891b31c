"""The real ``openai`` client against the real server over loopback HTTP."""

from __future__ import annotations

import base64
import threading
import time

import pytest
import uvicorn
from openai import BadRequestError, OpenAI

from safety.server import create_app
from safety.settings import Settings
from tests.conftest import png_bytes


@pytest.fixture(scope="module")
def base_url():
    config = uvicorn.Config(create_app(Settings()), host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not (server.started and server.servers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v1"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def openai_client(base_url) -> OpenAI:
    return OpenAI(base_url=base_url, api_key="x", max_retries=0, timeout=60)


def test_text_input(openai_client):
    response = openai_client.moderations.create(model="omni-moderation-latest",
                                                input=["you are a stupid idiot", "have a lovely day"])
    rude, kind = response.results
    assert response.model == "offline-default" and response.id.startswith("modr-")
    assert rude.flagged and rude.categories.harassment and rude.category_scores.harassment > 0.9
    assert rude.category_applied_input_types.harassment == ["text"]
    assert not kind.flagged and not kind.categories.harassment
    assert kind.category_scores.sexual == 0.0 and kind.category_applied_input_types.sexual == []
    extras = rude.categories.model_extra or {}
    assert extras.get("toxicity") is True


def test_text_and_image_input(openai_client):
    url = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    response = openai_client.moderations.create(
        model="omni-moderation-latest",
        input=[{"type": "text", "text": "have a lovely day"}, {"type": "image_url", "image_url": {"url": url}}],
    )
    (result,) = response.results
    # Both parts are judged: a benign text over a plain red image is allowed.
    assert result.flagged is False
    assert result.category_applied_input_types.harassment == ["text"]
    # weapons is the combiner's: its text+image sub-model reads both parts
    assert result.category_applied_input_types.violence == ["text", "image"]
    assert 0.0 <= result.category_scores.violence < 0.5


def test_errors_reach_the_client_typed(openai_client):
    with pytest.raises(BadRequestError) as info:
        openai_client.moderations.create(input=[{"type": "image_url", "image_url": {"url": "https://example.com/x.png"}}])
    assert "never fetches URLs" in str(info.value)
