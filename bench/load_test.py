"""Load test of the REST service on loopback: micro-batching on vs off, at 1, 8 and 32 clients.

    .venv/bin/python bench/load_test.py [--requests 300] [--clients 1 8 32] [--kind text|image|both]
                                        [--seconds 120] [--out bench/results/load_test.json]

For each server mode (``SAFETY_BATCH_MAX_SIZE=32`` and ``=1``, i.e. batching off), the script
starts ``safety serve`` as a child process on a free port, times process start to ``/readyz`` OK
(cold start), then for each client count drives it with an async httpx client: ``clients``
coroutines send ``POST /v1/moderate`` back to back until ``--requests`` requests are done (or
``--seconds`` pass). Every request carries a distinct text (so the result cache never answers;
it is also turned off, ``SAFETY_CACHE_SIZE=0``). Reported per run: throughput (requests/s),
latency p50/p95/p99, error rate by status, the server's peak RSS (VmHWM from /proc), the
batch sizes the server saw (from its ``/metrics``), and the CPU time per request of the server
and of this driver (both share the machine's cores). The summary gives batched/unbatched
throughput at each client count.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import SAMPLE_TEXTS, summary, write_report  # noqa: E402

_SUBJECTS = ("the council", "my neighbour", "this article", "our team", "the new library", "that referee",
             "the weather", "your cousin", "the station", "this recipe", "the museum", "their manager")
_PREDICATES = ("was great today", "needs more work", "is a total idiot", "closed early again",
               "made everyone laugh", "should be ashamed", "won the cup", "is full of rubbish",
               "opened a café", "will hurt you", "looks lovely in spring", "is stupid and useless")


def texts(n: int) -> list[str]:
    """``n`` distinct texts (about a quarter abusive), deterministic."""
    out = []
    for i in range(n):
        base = f"{_SUBJECTS[i % len(_SUBJECTS)]} {_PREDICATES[(i // len(_SUBJECTS)) % len(_PREDICATES)]}"
        out.append(f"{base} (#{i}, {SAMPLE_TEXTS[i % len(SAMPLE_TEXTS)][:20]})")
    return out


def image_payload() -> str:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(buffer, "JPEG", quality=85)
    return base64.b64encode(buffer.getvalue()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int | None = None) -> float | None:
    """User + system CPU time of a process, all threads (this one when ``pid`` is None)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return round(int(match.group(1)) / 1024, 1) if match else None


class Server:
    def __init__(self, batch_max_size: int, threads: int) -> None:
        self.port = free_port()
        env = {**os.environ, "SAFETY_BATCH_MAX_SIZE": str(batch_max_size), "SAFETY_CACHE_SIZE": "0",
               "SAFETY_TORCH_THREADS": str(threads), "SAFETY_MAX_QUEUE": "1024"}
        self.started = time.perf_counter()
        self.process = subprocess.Popen([sys.executable, "-m", "safety.cli", "serve", "--port", str(self.port)],
                                        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 120.0) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server not ready in time")

    def batch_sizes(self) -> dict:
        body = httpx.get(f"{self.url}/metrics", timeout=5).text
        count = re.search(r"^safety_batch_size_count (\S+)", body, re.M)
        total = re.search(r"^safety_batch_size_sum (\S+)", body, re.M)
        return {"batches": float(count.group(1)) if count else 0.0, "items": float(total.group(1)) if total else 0.0}

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


async def drive(url: str, clients: int, bodies: list[dict], seconds: float) -> dict:
    latencies: list[float] = []
    statuses: Counter = Counter()
    next_index = 0
    stop_at = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < len(bodies) and time.perf_counter() < stop_at:
            body = bodies[next_index]
            next_index += 1
            t0 = time.perf_counter()
            try:
                response = await http.post(f"{url}/v1/moderate", json=body)
                statuses[str(response.status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                continue
            latencies.append((time.perf_counter() - t0) * 1000.0)

    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    done = sum(statuses.values())
    errors = done - statuses.get("200", 0)
    return {"clients": clients, "requests": done, "seconds": round(elapsed, 2),
            "requests_per_s": round(statuses.get("200", 0) / elapsed, 2),
            "error_rate": round(errors / done, 4) if done else None, "statuses": dict(statuses),
            "latency": summary(latencies) if latencies else None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per run (after 10 warm-up requests)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--kind", choices=("text", "image", "both"), default="text")
    parser.add_argument("--seconds", type=float, default=120.0, help="time limit per run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in the server")
    parser.add_argument("--out", type=Path, default=Path("bench/results/load_test.json"))
    args = parser.parse_args()

    image = image_payload() if args.kind in ("image", "both") else None
    runs: dict[str, list[dict]] = {}
    modes = {"batched": 32, "unbatched": 1}
    cold: dict[str, float] = {}
    rss: dict[str, float | None] = {}
    offset = 0
    for mode, size in modes.items():
        server = Server(size, args.threads)
        try:
            cold[mode] = round(server.wait_ready(), 2)
            runs[mode] = []
            for clients in args.clients:
                pool = texts(offset + args.requests + 10)[offset:]
                offset += args.requests + 10
                bodies = [{k: v for k, v in (("text", t if args.kind != "image" else None), ("image", image))
                           if v is not None} for t in pool]
                asyncio.run(drive(server.url, min(clients, 4), bodies[:10], args.seconds))  # warm-up
                before = server.batch_sizes()
                cpu_before = cpu_seconds(server.process.pid), cpu_seconds()
                result = asyncio.run(drive(server.url, clients, bodies[10:], args.seconds))
                cpu_after = cpu_seconds(server.process.pid), cpu_seconds()
                after = server.batch_sizes()
                if None not in cpu_before + cpu_after and result["requests"]:
                    # Where the 2 cores went: the server (models and HTTP) and this driver (httpx).
                    result["cpu_ms_per_request"] = {
                        "server": round(1000 * (cpu_after[0] - cpu_before[0]) / result["requests"], 2),
                        "driver": round(1000 * (cpu_after[1] - cpu_before[1]) / result["requests"], 2)}
                batches = after["batches"] - before["batches"]
                result["server_batches"] = int(batches)
                result["mean_batch_size"] = round((after["items"] - before["items"]) / batches, 2) if batches else None
                result["peak_rss_mb"] = peak_rss_mb(server.process.pid)
                runs[mode].append(result)
                print(mode, clients, result["requests_per_s"], "req/s", result["latency"], result.get("cpu_ms_per_request"),
                      file=sys.stderr)
            rss[mode] = peak_rss_mb(server.process.pid)
        finally:
            server.stop()
    speedup = {str(b["clients"]): round(b["requests_per_s"] / u["requests_per_s"], 2)
               for b, u in zip(runs["batched"], runs["unbatched"], strict=True) if u["requests_per_s"]}
    return write_report({"benchmark": "load_test", "kind": args.kind, "requests_per_run": args.requests,
                         "cold_start_s": cold, "peak_rss_mb": rss, "runs": runs,
                         "throughput_batched_over_unbatched": speedup}, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
