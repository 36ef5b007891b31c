"""The process-wide inference thread.

Every model call and model load runs on this one thread. torch keeps an OpenMP thread team per
calling thread, and on a small CPU two teams fight for the cores: measured on the 2-core
reference machine, a 0.7 ms BiLSTM call took 10 ms once a second thread had used torch. With one
inference thread, each call still uses all intra-op threads (``torch.set_num_threads``), and
channels run one after another. A detector stuck past its deadline makes the calls queued behind
it time out (and fail closed) until it returns.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def inference_executor() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="safety-inference")
        return _executor
