from __future__ import annotations

import base64

import pytest

from safety.schema import ModerationResult
from safety.server.openai_compat import OPENAI_CATEGORIES, OPENAI_NAME, to_openai
from safety.taxonomy import Category
from tests.conftest import png_bytes

PNG = png_bytes()


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["detectors"] == {"text": None, "image": None, "cross_modal": None}
    assert len(ready["model_bundle"]["sha256"]) == 64


def test_json_text(client):
    response = client.post("/v1/moderate", json={"text": "you are a stupid idiot"})
    assert response.status_code == 200
    result = ModerationResult.model_validate(response.json())  # the REST body IS the library schema
    assert result.action.value == "block" and result.categories[Category.INSULT].flagged
    assert "you are a stupid idiot" not in response.text  # content is never echoed


def test_policy_is_selectable_per_request(client):
    text = "I will kill you and your whole family"
    default = client.post("/v1/moderate", json={"text": text}).json()
    strict = client.post("/v1/moderate", json={"text": text, "policy": "strict"}).json()
    assert default["policy"]["name"] == "default" and strict["policy"]["name"] == "strict"
    assert strict["categories"]["threat"]["threshold"] < default["categories"]["threat"]["threshold"]


@pytest.mark.parametrize("encode", [lambda b: base64.b64encode(b).decode(),
                                    lambda b: "data:image/png;base64," + base64.b64encode(b).decode()])
def test_json_image_alone_and_with_text(client, encode):
    alone = client.post("/v1/moderate", json={"image": encode(PNG)}).json()
    assert alone["action"] == "allow" and alone["channels"]["image"]["status"] == "ok"
    assert set(alone["channels"]["image"]["scores"]) == {"sexual", "weapons"}
    assert alone["channels"]["cross_modal"]["status"] == "skipped"
    body = client.post("/v1/moderate", json={"text": "have a lovely day", "image": encode(PNG)}).json()
    assert body["action"] == "allow"
    assert body["channels"]["image"]["status"] == "ok" and body["channels"]["cross_modal"]["status"] == "ok"
    assert 0.0 <= body["channels"]["cross_modal"]["scores"]["mismatch"] <= 1.0
    assert body["input"]["image"]["format"] == "PNG"


def test_multipart_upload(client):
    response = client.post("/v1/moderate", data={"text": "have a lovely day", "policy": "permissive"},
                           files={"image": ("photo.png", PNG, "image/png")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["policy"]["name"] == "permissive"
    assert body["input"]["image"]["width"] == 32
    assert body["channels"]["text"]["status"] == "ok"


def test_openapi_documents_both_body_types(client):
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/v1/moderate"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    assert "/v1/moderations" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_openai_view_mapping_is_explicit(real_moderator):
    result = real_moderator.moderate(text="you are a stupid idiot")
    view = to_openai(result)
    assert list(view.categories)[: len(OPENAI_CATEGORIES)] == list(OPENAI_CATEGORIES)
    for ours, theirs in OPENAI_NAME.items():
        if result.categories[ours].probability is not None:
            assert view.category_scores[theirs] == result.categories[ours].probability
    for extra in (Category.TOXICITY, Category.SEVERE_TOXICITY, Category.OBSCENE):
        assert view.category_scores[extra.value] == result.categories[extra].probability
    assert view.category_applied_input_types["harassment"] == ["text"]
    assert view.category_applied_input_types["sexual"] == []  # not assessed, not "clean"
    assert view.flagged is result.flagged


def test_a_server_bug_is_a_json_500_that_does_not_echo_content():
    from fastapi.testclient import TestClient

    from safety.pipeline import Moderator
    from safety.server import create_app
    from safety.settings import Settings

    class Broken(Moderator):
        def moderate_inputs(self, items, *, policy=None):
            raise RuntimeError(f"bug while handling {items[0].text}")

    with TestClient(create_app(Settings(preload=False), moderator=Broken()), raise_server_exceptions=False) as client:
        response = client.post("/v1/moderate", json={"text": "SECRET-TEXT"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "SECRET-TEXT" not in response.text
