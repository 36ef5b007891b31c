from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from safety.server import create_app
from safety.settings import Settings

#: Small limits so that every "too large" case is cheap to build.
LIMITS = dict(max_text_chars=200, max_image_bytes=20_000, max_request_bytes=60_000, max_batch_items=3,
              max_image_pixels=1_000_000)


def wait_ready(client: TestClient, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/readyz")
        if response.status_code == 200 or time.monotonic() > deadline:
            return response.json()
        time.sleep(0.05)


@pytest.fixture(scope="session")
def client() -> TestClient:
    with TestClient(create_app(Settings(**LIMITS)), raise_server_exceptions=False) as test_client:
        assert wait_ready(test_client)["status"] == "ready"
        yield test_client
