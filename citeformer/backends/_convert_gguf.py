"""Convert a GGUF model to a Hugging Face folder; run as ``python -m`` by ``embedded``.

A child process keeps the conversion's transformers/tqdm output and its ~1.3 GB of
float32 weights out of the caller's process: the caller reports progress itself and
then loads the small safetensors folder.

Usage: ``python -m citeformer.backends._convert_gguf GGUF_FILE OUT_DIR``
"""

from __future__ import annotations

import sys
from pathlib import Path


def convert(gguf: Path, out: Path) -> None:
    """Dequantise ``gguf`` and save model and tokenizer into ``out``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # save_pretrained refuses a model still marked as GGUF-quantised; the weights are
    # already dequantised to float32 here.
    setattr(model, "hf_quantizer", None)  # noqa: B010 (typed as a module attribute)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


if __name__ == "__main__":
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
