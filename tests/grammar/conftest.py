"""Session fixtures: one trained tokenizer and one set of real matchers."""

from __future__ import annotations

import pytest
import xgrammar as xgr
from llguidance import LLTokenizer
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from tests.grammar.harness import EOS, Matchers, train_tokenizer


@pytest.fixture(scope="session")
def bpe_tokenizer() -> Tokenizer:
    """A byte-level BPE tokenizer trained offline on the built-in corpus."""
    return train_tokenizer()


@pytest.fixture(scope="session")
def matchers(bpe_tokenizer: Tokenizer) -> Matchers:
    """XGrammar and llguidance bound to ``bpe_tokenizer``, with grammar caches."""
    eos_id = bpe_tokenizer.token_to_id(EOS)
    assert eos_id is not None
    hf = PreTrainedTokenizerFast(tokenizer_object=bpe_tokenizer, eos_token=EOS)  # type: ignore[no-untyped-call]
    info = xgr.TokenizerInfo.from_huggingface(hf, stop_token_ids=[eos_id])
    lltok = LLTokenizer(bpe_tokenizer.to_str(), eos_token=eos_id)
    return Matchers(tokenizer=bpe_tokenizer, eos_id=eos_id, info=info, lltok=lltok)
