"""One vLLM engine shared by concurrent callers: submit, step, route, abort."""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Sequence
from typing import Any

_log = logging.getLogger("citeformer.backends.vllm")


class EngineDriver:
    """Shares one ``LLMEngine`` between concurrent callers.

    ``submit`` adds a request; ``next`` returns its next output, stepping the
    engine when its queue is empty and routing every other output to its owner.
    The lock serialises ``add_request``/``step``/``abort_request``, which are not
    thread-safe.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._inbox: dict[str, queue.SimpleQueue[Any]] = {}

    def submit(self, prompts: Sequence[Any], params: Sequence[Any]) -> list[str]:
        """Add requests to the engine; return their ids."""
        ids = [f"citeformer-{uuid.uuid4().hex}" for _ in prompts]
        with self._lock:
            added: list[str] = []
            try:
                for rid, prompt, param in zip(ids, prompts, params, strict=True):
                    self._inbox[rid] = queue.SimpleQueue()
                    added.append(rid)
                    self.engine.add_request(rid, prompt, param)
            except BaseException:
                self._drop(added)
                raise  # the error boundary names it
        return ids

    def next(self, rid: str) -> Any:
        """The next output of request ``rid``, stepping the engine when none is waiting."""
        inbox = self._inbox[rid]
        while True:
            try:
                out = inbox.get_nowait()
            except queue.Empty:
                pass
            else:
                if out.finished:
                    with self._lock:
                        self._inbox.pop(rid, None)
                return out
            with self._lock:
                if not inbox.empty():
                    continue
                outputs = self.engine.step()  # a failure reaches the error boundary
                for out in outputs:
                    target = self._inbox.get(out.request_id)
                    if target is not None:
                        target.put(out)

    def abort(self, rids: Sequence[str]) -> None:
        """Drop requests (finished ones are ignored)."""
        with self._lock:
            self._drop(rids)

    def _drop(self, rids: Sequence[str]) -> None:
        live = [rid for rid in rids if self._inbox.pop(rid, None) is not None]
        if live:
            try:
                self.engine.abort_request(live)
            except Exception:  # a dead engine has nothing left to abort
                _log.debug("aborting vLLM requests failed", exc_info=True)
