"""Every bad input gets a 4xx with the JSON error body; none gets a 5xx."""

from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import bomb_png, png_bytes, tiff_bytes

b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
PNG = png_bytes()
JSON = {"content-type": "application/json"}

# (id, method, path, request kwargs, expected status, expected error code)
CASES = [
    ("empty body", "/v1/moderate", dict(content=b"", headers=JSON), 400, "empty_input"),
    ("neither text nor image", "/v1/moderate", dict(json={}), 400, "empty_input"),
    ("empty text", "/v1/moderate", dict(json={"text": ""}), 400, "empty_input"),
    ("blank text", "/v1/moderate", dict(json={"text": "  \n "}), 400, "empty_input"),
    ("text over the size limit", "/v1/moderate", dict(json={"text": "a" * 201}), 413, "text_too_long"),
    ("invalid UTF-8 body", "/v1/moderate", dict(content=b'{"text": "caf\xe9"}', headers=JSON), 400, "invalid_text"),
    ("lone surrogate", "/v1/moderate", dict(content=b'{"text": "x \\ud800 y"}', headers=JSON), 400, "invalid_text"),
    ("text not a string", "/v1/moderate", dict(json={"text": 12}), 400, "invalid_request"),
    ("unknown field", "/v1/moderate", dict(json={"text": "hi", "txt": "typo"}), 400, "invalid_request"),
    ("JSON not an object", "/v1/moderate", dict(json=[1, 2]), 400, "invalid_request"),
    ("malformed JSON", "/v1/moderate", dict(content=b'{"text": "hi"', headers=JSON), 400, "malformed_json"),
    ("wrong content type", "/v1/moderate", dict(content=b"hello", headers={"content-type": "text/plain"}), 415, "unsupported_media_type"),
    ("no content type", "/v1/moderate", dict(content=b"hello"), 415, "unsupported_media_type"),
    ("invalid base64", "/v1/moderate", dict(json={"image": "not*base64!"}), 400, "invalid_base64"),
    ("data URL without base64", "/v1/moderate", dict(json={"image": "data:image/png,abc"}), 400, "invalid_base64"),
    ("URL (never fetched)", "/v1/moderate", dict(json={"image": "http://127.0.0.1/x.png"}), 400, "url_not_allowed"),
    ("corrupt image", "/v1/moderate", dict(json={"image": b64(b"this is not an image at all")}), 422, "corrupt_image"),
    ("truncated image", "/v1/moderate", dict(json={"image": b64(PNG[: len(PNG) // 2])}), 422, "corrupt_image"),
    ("unsupported image format", "/v1/moderate", dict(json={"image": b64(tiff_bytes())}), 415, "unsupported_image_format"),
    ("decompression bomb", "/v1/moderate", dict(json={"image": b64(bomb_png())}), 413, "image_too_large"),
    ("image over the byte limit", "/v1/moderate", dict(json={"image": b64(b"\x89PNG" + bytes(25_000))}), 413, "image_too_large"),
    ("request body over the limit", "/v1/moderate", dict(json={"text": "a", "policy": "x" * 70_000}), 413, "request_too_large"),
    ("unknown policy", "/v1/moderate", dict(json={"text": "hi", "policy": "nope"}), 422, "unknown_policy"),
    ("multipart corrupt upload", "/v1/moderate", dict(files={"image": ("x.png", b"\x00\x01", "image/png")}), 422, "corrupt_image"),
    ("multipart empty upload", "/v1/moderate", dict(files={"image": ("x.png", b"", "image/png")}), 400, "empty_input"),
    ("multipart unknown field", "/v1/moderate", dict(data={"text": "hi", "extra": "1"}, files={"image": ("x.png", PNG, "image/png")}), 400, "invalid_request"),
    ("multipart image as text", "/v1/moderate", dict(data={"image": "abc", "text": "hi"}, files={"f": ("f", b"", "text/plain")}), 400, "invalid_request"),
    ("multipart invalid UTF-8 text", "/v1/moderate", dict(
        content=b'--B\r\nContent-Disposition: form-data; name="text"\r\n\r\ncaf\xe9\r\n--B--\r\n',
        headers={"content-type": "multipart/form-data; boundary=B"}), 400, "invalid_text"),
    ("multipart malformed", "/v1/moderate", dict(content=b"--B\r\ngarbage", headers={"content-type": "multipart/form-data; boundary=B"}), 400, None),
    ("openai: empty input list", "/v1/moderations", dict(json={"input": []}), 400, "empty_input"),
    ("openai: empty string", "/v1/moderations", dict(json={"input": ""}), 400, "empty_input"),
    ("openai: input not text", "/v1/moderations", dict(json={"input": 5}), 400, "invalid_request"),
    ("openai: missing input", "/v1/moderations", dict(json={"model": "omni-moderation-latest"}), 400, "invalid_request"),
    ("openai: too many inputs", "/v1/moderations", dict(json={"input": ["a", "b", "c", "d"]}), 400, "invalid_request"),
    ("openai: remote image URL", "/v1/moderations", dict(json={"input": [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}), 400, "url_not_allowed"),
    ("openai: two images", "/v1/moderations", dict(json={"input": [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(PNG)}}] * 2}), 400, "invalid_request"),
    ("openai: unknown part type", "/v1/moderations", dict(json={"input": [{"type": "audio", "audio": "x"}]}), 400, "invalid_request"),
    ("openai: corrupt data URL image", "/v1/moderations", dict(json={"input": [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + b64(b"junk")}}]}), 422, "corrupt_image"),
    ("openai: text too long in a list", "/v1/moderations", dict(json={"input": ["ok", "a" * 201]}), 413, "text_too_long"),
    ("openai: wrong content type", "/v1/moderations", dict(content=json.dumps({"input": "hi"}), headers={"content-type": "text/plain"}), 415, "unsupported_media_type"),
    ("openai: malformed JSON", "/v1/moderations", dict(content=b"{", headers=JSON), 400, "malformed_json"),
]


@pytest.mark.parametrize(("path", "kwargs", "status", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_typed_4xx(client, path, kwargs, status, code):
    response = client.post(path, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    if code is not None:
        assert error["code"] == code


def test_unknown_route_and_method_are_json_4xx(client):
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = client.get("/v1/moderate")
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_a_bad_request_does_not_disturb_the_next_one(client):
    assert client.post("/v1/moderate", json={"image": b64(bomb_png())}).status_code == 413
    assert client.post("/v1/moderate", json={"text": "have a lovely day"}).json()["action"] == "allow"
