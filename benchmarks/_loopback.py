"""The loopback OpenAI server in its own process, for benchmarks.

A separate process keeps the server's CPU off the measured client's GIL; on a
2-core machine the two still share cores, equally for every compared path.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANSWER_SEGMENTS = (
    ("The Eiffel Tower is 330 metres tall and stands in Paris.", [1]),
    ("The Colosseum in Rome held about 50,000 spectators.", [2]),
    ("Big Ben is the nickname of the great bell, not of the tower.", [3]),
)


def _serve(latency: float, judge: bool = False) -> None:  # runs in the child process
    sys.path.insert(0, str(ROOT))
    from tests.loopback import openai_wire
    from tests.loopback.server import serve_forever

    if judge:  # a yes/no judge answer with its first-token log-probs, as OpenAI sends them
        from tests.backends.test_choice_api import SCHEMA_ENTRIES, logprob_completion

        reply = logprob_completion(SCHEMA_ENTRIES)
        serve_forever(lambda request: reply, latency)
    serve_forever(openai_wire.answer(openai_wire.segments(*ANSWER_SEGMENTS), size=8), latency)


@contextmanager
def openai_server(latency: float, *, judge: bool = False) -> Iterator[str]:
    """Start the server with ``latency`` seconds per response; yields its ``/v1`` URL.

    ``judge=True`` answers every request as a yes/no judge (with log-probs).
    """
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        f"from benchmarks._loopback import _serve; _serve({latency}, {judge})"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout:
            process.stdout.close()
