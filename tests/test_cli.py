from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from safety.cli import main
from safety.schema import ModerationResult
from tests.conftest import png_bytes


def test_moderate_prints_a_readable_verdict(capsys):
    assert main(["moderate", "--text", "you are a stupid idiot"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("action: block")
    assert "* insult" in out and "block threshold" in out


def test_moderate_json_is_the_schema(capsys, tmp_path):
    image = tmp_path / "a.png"
    image.write_bytes(png_bytes())
    assert main(["moderate", "--text", "have a lovely day", "--image", str(image), "--json", "--policy", "strict"]) == 0
    result = ModerationResult.model_validate_json(capsys.readouterr().out)
    assert result.policy.name == "strict" and result.input.image.format == "PNG"
    assert result.action.value == "allow"  # every channel assessed it: benign text over a plain image
    assert {c.value: r.status.value for c, r in result.channels.items()} == {
        "text": "ok", "image": "ok", "cross_modal": "ok"}


def test_text_from_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("have a lovely day\n"))
    assert main(["moderate", "--text", "-", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["action"] == "allow"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["moderate"], "empty_input"),
        (["moderate", "--text", ""], "empty_input"),
        (["moderate", "--image", "/no/such/file.png"], "image_not_found"),
        (["moderate", "--text", "hi", "--policy", "nope"], "unknown_policy"),
    ],
)
def test_bad_input_exits_2_with_a_message(capsys, argv, needle):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_the_rest_service():
    port = _free_port()
    script = Path(sys.executable).with_name("safety")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "safety.cli"]
    process = subprocess.Popen([*command, "serve", "--port", str(port), "--log-level", "warning"],
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "server exited"
            time.sleep(0.2)
        response = httpx.post(f"{base}/v1/moderate", json={"text": "you are a stupid idiot"}, timeout=30)
        assert response.status_code == 200 and response.json()["action"] == "block"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_prepare_exports_the_bundles_graphs_into_the_cache(capsys, tmp_path, monkeypatch):
    from safety.detectors import registry

    monkeypatch.setenv("SAFETY_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(registry, "_DEFAULT", None)  # a fresh process's registry: nothing loaded yet
    assert main(["prepare", "--bundle", "offline-fast"]) == 0
    out = capsys.readouterr().out
    assert "text         ok" in out and "image        ok" in out and "cross_modal  ok" in out
    graphs = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "onnx").glob("*.onnx"))
    assert graphs == ["all-minilm-l6-v2", "efficientnet_weapons", "minilm_toxicity", "open_nsfw"]
    assert main(["prepare", "--bundle", "no-such-bundle"]) == 1
    assert "no-such-bundle" in capsys.readouterr().err


def test_eval_run_compare_and_gate(capsys, tmp_path):
    data = tmp_path / "rows.jsonl"
    rows = [{"id": "a", "text": "you are a stupid idiot", "labels": {"insult": 1, "toxicity": 1}},
            {"id": "b", "text": "have a lovely day", "labels": {"insult": 0, "toxicity": 0}},
            {"id": "c", "text": "thanks for the help", "label": "benign"}]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["eval", "--data", str(data), "--report", str(tmp_path / "A"), "--quiet"]) == 0
    assert main(["eval", "--data", str(data), "--report", str(tmp_path / "B"), "--quiet", "--policy", "strict"]) == 0
    capsys.readouterr()
    assert main(["eval", "compare", str(tmp_path / "A"), str(tmp_path / "B"), "--n-boot", "50"]) == 0
    comparison = json.loads(capsys.readouterr().out)
    assert comparison["ids"]["common"] == 3 and comparison["a"]["policy"]["name"] == "default"
    gates = tmp_path / "gates.toml"
    gates.write_text('[suites.tiny]\ndata = "rows.jsonl"\n[suites.tiny.gates]\n'
                     '"categories.insult.recall" = { min = 1.0 }\n"categories.insult.fpr" = { max = 0.0 }\n'
                     '"categories.weapons.auroc" = { min = 0.5 }\n')
    assert main(["eval", "gate", "--gates", str(gates), "--suite", "tiny", "--report", str(tmp_path / "A")]) == 3
    out = capsys.readouterr().out
    assert "PASS  categories.insult.recall" in out and "FAIL  categories.weapons.auroc" in out  # unmeasured fails
    assert main(["eval", "gate", "--gates", str(gates), "--suite", "nope", "--report", str(tmp_path / "A")]) == 2
    assert main(["eval", "--data", str(tmp_path / "missing.jsonl"), "--report", str(tmp_path / "C")]) == 2
