"""Point citeformer at an OpenAI-compatible server that enforces the citation grammar.

This starts llama-cpp-python's own OpenAI-compatible server on the embedded SmolLM2
model (127.0.0.1, offline), then streams a cited answer through the openai SDK,
natively async. Swap the URL and ``server="vllm"`` (or ``"sglang"``) to use a vLLM
or SGLang cluster: only the request field that carries the grammar changes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from citeformer import Citeformer, Source
from citeformer.backends.embedded import smollm2_gguf
from citeformer.backends.openai import OpenAIBackend
from citeformer.events import CitationEvent, Completed, TextDelta

HERE = Path(__file__).parent


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()),
         "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
         "--n_ctx", "2048", "--verbose", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(240):
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1).close()
            return process, url
        except OSError:
            time.sleep(0.25)
    process.kill()
    raise SystemExit("the llama.cpp server did not start")


async def main(url: str) -> None:
    sources = [
        Source(s["content"], s["metadata"]) for s in json.loads((HERE / "sources.json").read_text())
    ]
    backend = OpenAIBackend.for_server(url, "smollm2", server="llama.cpp")
    async with Citeformer(backend, citation_policy="required") as cf:
        stream = cf.astream("How tall is the Eiffel Tower?", sources, temperature=0, max_tokens=60)
        async for event in stream.events():
            if isinstance(event, TextDelta):
                print(event.text, end="", flush=True)
            elif isinstance(event, CitationEvent):
                pass  # a UI would link event.citation to its source here
            elif isinstance(event, Completed):
                result = event.result
        print("\n\nReferences")
        for reference in result.references:
            print(reference.text)
        print(f"\nEnforcement: {result.enforcement} (the server sampled under the grammar)")


if __name__ == "__main__":
    server, base_url = start_server()
    try:
        asyncio.run(main(base_url))
    finally:
        server.terminate()
        server.wait(20)
