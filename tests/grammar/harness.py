"""Real-matcher harness for the grammar soundness tests.

Trains a small byte-level BPE tokenizer offline, wraps XGrammar (EBNF and GBNF
renderings) and llguidance (Lark rendering) behind one three-valued verdict, and
holds the independent checks (marker regex oracle, token-mask oracle) the tests
compare them with. :class:`LlamaGbnf` runs the GBNF rendering on llama.cpp's own
grammar sampler, where llama-cpp-python and the embedded SmolLM2 GGUF are installed.
"""

from __future__ import annotations

import ctypes
import enum
import re
from collections.abc import Iterator
from typing import Any

import llguidance as llg
import numpy as np
import xgrammar as xgr
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from citeformer.core import MarkerStyle, Policy
from citeformer.grammar.language import CitationLanguage
from citeformer.grammar.notation import to_ebnf, to_gbnf, to_lark
from citeformer.grammar.recognizer import recognize

EOS = "<|endoftext|>"
VOCAB_SIZE = 1500

_CORPUS_LINES = (
    "Paris is the capital of France [1]. It has about 2.1 million residents [2, 3].",
    "The Eiffel Tower was finished in 1889 (4) and is 330 m tall {5}.",
    'She said "the results are clear" [1] and later wrote “we agree” (2).',
    "Water boils at 100 degrees at sea level^1; ice melts at 0 degrees^2.",
    "See e.g. the survey at example.com/a.b for details [3]. Is it true? Yes! [4]",
    "Results (see above) were mixed [1,2]; {note} the café in Zürich is naïve déjà vu.",
    "東京は日本の首都です[1]。大阪は大きな都市です[2]。人口は多い！本当？",
    "Sources [1], [2], [10], [11], [99], [100], [101], [1000], [10000] were cited.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 20 21 42 64 99 100 101 255 999 1000 1001.",
    "Version 3.5 was released on 2021-03-04; pi is 3.14159 and e is 2.71828.",
    "Lists: (a) apples, (b) bears, (c) cats; [sic] and [citation needed] appear.",
    'Quote: “Knowledge is power” [7]. Another: "Time is money" [8].',
    "He asked: why? She answered: because! The end.",
    "Bad markers like [0], [01], [1-3], [1a], [], [1,] and [1, 1] must never appear.",
    "Mathematics: x^2 + y^2 = z^2 and 2^10 = 1024; {x | x > 0} is a set.",
    "The résumé of the naïve coöperative was élite; señor Müller met García.",
    "Lookalikes: full-width ［１］ ［9］ （２） ｛３｝ ＾４, Arabic [٩] (۹) ^٣ and [١] [٢].",
)


def training_corpus(repeat: int = 6) -> list[str]:
    """The built-in English corpus (digits, brackets, quotes, `。`, `é`...)."""
    out: list[str] = []
    for r in range(repeat):
        out.extend(_CORPUS_LINES)
        out.append(" ".join(f"[{i}]" for i in range(1 + 37 * r, 40 + 37 * r)))
        out.append(" ".join(str(i) for i in range(0, 1200, 7 + r)))
    return out


def train_tokenizer() -> Tokenizer:
    """A byte-level BPE tokenizer with ``EOS`` as token 0.

    ``use_regex=False`` lets merges cross digit/punctuation boundaries, so the
    vocabulary holds tokens like ``" [1"``, ``"2]"`` and ``"] [1"`` that mix marker
    characters with ids: the interesting case for token masks.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=1,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(training_corpus(), trainer)
    return tok


class Verdict(enum.StrEnum):
    """What a matcher says about a whole string."""

    ACCEPT = "accept"
    """A complete legal answer (EOS may follow)."""
    PREFIX = "prefix"
    """Not complete, but every character was accepted (still viable)."""
    REJECT = "reject"
    """Some character can never appear there."""


BACKENDS = ("recognizer", "xgrammar-ebnf", "xgrammar-gbnf", "llguidance-lark")


def recognizer_verdict(lang: CitationLanguage, text: str) -> Verdict:
    """The pure-Python recogniser's verdict."""
    rec = recognize(lang, text)
    if rec.accepted:
        return Verdict.ACCEPT
    return Verdict.PREFIX if rec.viable else Verdict.REJECT


class Matchers:
    """Compiled-grammar caches and verdict functions for the real matchers.

    A plain class (not a dataclass) so Hypothesis prints it as its short repr.

    Attributes:
        tokenizer: The trained BPE tokenizer.
        eos_id: Id of the EOS special token.
        info: XGrammar tokenizer info built through ``transformers``.
        lltok: llguidance tokenizer built from the tokenizer's JSON.
    """

    def __init__(
        self, tokenizer: Tokenizer, eos_id: int, info: xgr.TokenizerInfo, lltok: llg.LLTokenizer
    ) -> None:
        self.tokenizer = tokenizer
        self.eos_id = eos_id
        self.info = info
        self.lltok = lltok
        self._compiler = xgr.GrammarCompiler(info, max_threads=2)
        self._xgr: dict[tuple[str, str], xgr.CompiledGrammar] = {}
        self._ll: dict[str, llg.LLMatcher] = {}

    def __repr__(self) -> str:
        return f"Matchers(vocab={self.info.vocab_size}, eos={self.eos_id})"

    # --- XGrammar ----------------------------------------------------------

    def compiled(self, lang: CitationLanguage, kind: str = "ebnf") -> xgr.CompiledGrammar:
        """The compiled XGrammar grammar for ``lang`` (``kind``: ebnf or gbnf)."""
        text = to_ebnf(lang) if kind == "ebnf" else to_gbnf(lang)
        key = (kind, text)
        if key not in self._xgr:
            if kind == "ebnf":
                self._xgr[key] = self._compiler.compile_grammar(text, root_rule_name="root")
            else:
                # llama.cpp is not installed yet: the GBNF rendering is parsed by
                # XGrammar's GBNF-compatible front end (Grammar.from_ebnf) instead.
                grammar = xgr.Grammar.from_ebnf(text, root_rule_name="root")
                self._xgr[key] = self._compiler.compile_grammar(grammar)
        return self._xgr[key]

    def xgr_matcher(self, lang: CitationLanguage, kind: str = "ebnf") -> xgr.GrammarMatcher:
        """A fresh XGrammar matcher that stops on EOS."""
        return xgr.GrammarMatcher(self.compiled(lang, kind), override_stop_tokens=[self.eos_id])

    def xgr_verdict(self, lang: CitationLanguage, text: str, kind: str = "ebnf") -> Verdict:
        """Feed ``text`` with ``accept_string``; ACCEPT needs EOS to terminate it."""
        matcher = self.xgr_matcher(lang, kind)
        if text and not matcher.accept_string(text):
            return Verdict.REJECT
        completed = matcher.is_completed()
        terminated = matcher.accept_token(self.eos_id) and matcher.is_terminated()
        assert completed == terminated, f"is_completed={completed} but EOS gave {terminated}"
        return Verdict.ACCEPT if terminated else Verdict.PREFIX

    # --- llguidance --------------------------------------------------------

    def ll_matcher(self, lang: CitationLanguage) -> llg.LLMatcher:
        """A fresh llguidance matcher (deep copy of a cached pristine one)."""
        lark = to_lark(lang)
        if lark not in self._ll:
            grammar = llg.LLMatcher.grammar_from_lark(lark)
            is_error, messages = llg.LLMatcher.validate_grammar_with_warnings(grammar, self.lltok)
            assert not is_error, messages
            matcher = llg.LLMatcher(self.lltok, grammar, log_level=0)
            assert not matcher.is_error(), matcher.get_error()
            self._ll[lark] = matcher
        return self._ll[lark].deep_copy()

    def encode(self, text: str) -> list[int]:
        """The tokenizer's own (canonical) tokenization of ``text``."""
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def ll_verdict(self, lang: CitationLanguage, text: str) -> Verdict:
        """Consume the tokens of ``text``; ACCEPT needs ``is_accepting`` and EOS."""
        matcher = self.ll_matcher(lang)
        tokens = self.encode(text)
        if tokens and not matcher.consume_tokens(tokens):
            return Verdict.REJECT
        assert not matcher.is_error(), matcher.get_error()
        if not matcher.is_accepting():
            return Verdict.PREFIX
        assert matcher.consume_token(self.eos_id), matcher.get_error()
        return Verdict.ACCEPT

    # --- all together ------------------------------------------------------

    def verdicts(self, lang: CitationLanguage, text: str) -> dict[str, Verdict]:
        """The verdict of every backend in ``BACKENDS``."""
        return {
            "recognizer": recognizer_verdict(lang, text),
            "xgrammar-ebnf": self.xgr_verdict(lang, text, "ebnf"),
            "xgrammar-gbnf": self.xgr_verdict(lang, text, "gbnf"),
            "llguidance-lark": self.ll_verdict(lang, text),
        }

    def verdict(self, backend: str, lang: CitationLanguage, text: str) -> Verdict:
        """The verdict of one backend."""
        if backend == "recognizer":
            return recognizer_verdict(lang, text)
        if backend == "llguidance-lark":
            return self.ll_verdict(lang, text)
        return self.xgr_verdict(lang, text, backend.removeprefix("xgrammar-"))

    # --- token masks -------------------------------------------------------

    def xgr_allowed(self, lang: CitationLanguage, prefix: str) -> set[int]:
        """Token ids XGrammar's ``fill_next_token_bitmask`` allows after ``prefix``."""
        matcher = self.xgr_matcher(lang)
        assert not prefix or matcher.accept_string(prefix), prefix
        bitmask = xgr.allocate_token_bitmask(1, self.info.vocab_size)
        matcher.fill_next_token_bitmask(bitmask)
        words = bitmask.numpy().view(np.uint32)[0]
        return {i for i in range(self.info.vocab_size) if (words[i // 32] >> (i % 32)) & 1}

    def ll_allowed(self, lang: CitationLanguage, prefix: str) -> set[int]:
        """Token ids llguidance's ``compute_bitmask`` allows after ``prefix``."""
        matcher = self.ll_matcher(lang)
        tokens = self.encode(prefix)
        assert not tokens or matcher.consume_tokens(tokens), matcher.get_error()
        mask = matcher.compute_bitmask()
        return {i for i in range(self.lltok.vocab_size) if (mask[i // 8] >> (i % 8)) & 1}

    def token_bytes(self) -> Iterator[tuple[int, bytes]]:
        """Every non-special token with its decoded bytes."""
        special = set(self.info.special_token_ids) | {self.eos_id}
        for i, raw in enumerate(self.info.decoded_vocab):
            if i not in special:
                yield i, bytes(raw)


class LlamaGbnf:
    """llama.cpp's own grammar sampler running the GBNF rendering (``to_gbnf``).

    Bound to the vocabulary of the embedded SmolLM2 GGUF (loaded ``vocab_only``).
    A text is fed token by token in that tokenizer's own tokenization; each token is
    checked before it is accepted (accepting an illegal token aborts llama.cpp).
    """

    def __init__(self, llama: Any) -> None:
        import llama_cpp

        self._lib: Any = llama_cpp
        self._llama = llama
        self._vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self._eos = int(llama.token_eos())

    @staticmethod
    def load() -> LlamaGbnf | None:
        """The sampler over SmolLM2's vocabulary, or None without llama-cpp-python or it."""
        try:
            import llama_cpp

            from citeformer.backends.embedded import smollm2_gguf

            path = smollm2_gguf()
        except Exception:  # not installed: the other engines still run
            return None
        return LlamaGbnf(llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False))

    def __repr__(self) -> str:
        return "LlamaGbnf(SmolLM2)"

    def close(self) -> None:
        """Free the model (its vocabulary)."""
        self._llama.close()

    def _legal(self, grammar: Any, token: int) -> bool:
        lib = self._lib
        cell = (lib.llama_token_data * 1)()
        cell[0].id, cell[0].logit, cell[0].p = token, 0.0, 0.0
        data = lib.llama_token_data_array(data=cell, size=1, selected=-1, sorted=False)
        lib.llama_sampler_apply(grammar, ctypes.byref(data))
        return bool(np.isfinite(cell[0].logit))

    def verdict(self, lang: CitationLanguage, text: str) -> Verdict:
        """ACCEPT when every token is legal and then end of text is; PREFIX without it."""
        lib = self._lib
        grammar = lib.llama_sampler_init_grammar(self._vocab, to_gbnf(lang).encode(), b"root")
        assert grammar, "llama.cpp rejected the GBNF"
        try:
            for token in self._llama.tokenize(text.encode(), add_bos=False, special=False):
                if not self._legal(grammar, token):
                    return Verdict.REJECT
                lib.llama_sampler_accept(grammar, token)
            return Verdict.ACCEPT if self._legal(grammar, self._eos) else Verdict.PREFIX
        finally:
            lib.llama_sampler_free(grammar)


def expected_allowed(matchers: Matchers, lang: CitationLanguage, prefix: str) -> dict[int, bool]:
    """The recogniser's token mask after ``prefix``, for every token it can judge.

    A token is judged when its bytes are whole UTF-8 characters (allowed iff the
    extended text stays viable) or start with a continuation byte (never allowed
    after whole characters). EOS is allowed iff ``prefix`` is a complete answer.
    """
    out: dict[int, bool] = {matchers.eos_id: recognize(lang, prefix).accepted}
    for i, raw in matchers.token_bytes():
        try:
            piece = raw.decode("utf-8")
        except UnicodeDecodeError:
            if raw and 0x80 <= raw[0] <= 0xBF:
                out[i] = False
            continue
        out[i] = recognize(lang, prefix + piece).viable
    return out


# --- independent marker oracle ---------------------------------------------

_DIGITS_RUN = re.compile(r"[0-9]+")
_GROUP_BODY = re.compile(r"[0-9]+(?:, ?[0-9]+)*")
_HARD_END = re.compile(r"[\n\r。！？｡]")


def marker_violations(text: str, n: int, policy: Policy, style: MarkerStyle) -> list[str]:
    """Problems a plain regex scan finds in the markers of an accepted answer.

    Independent of the automaton: every opening character followed by an ASCII
    digit must start a well-formed marker whose ids lie in 1..n, without leading
    zeros, strictly increasing, at most 3 of them (1 above N=20 or for carets),
    closed, and not followed by another marker (nor, for carets, by any decimal
    digit); under QUOTES_ONLY it must follow a closing quote, or such a marker and
    spaces. No opening character (nor its full-width form) is followed by a
    non-ASCII decimal digit.
    """
    out: list[str] = []
    open_char, close = style.open, style.close
    max_ids = 1 if style is MarkerStyle.CARET or n > 20 else 3
    lookalike = rf"{re.escape(open_char)}(?=\d)(?![0-9])|{re.escape(style.wide_open)}(?=\d)"
    for found in re.finditer(lookalike, text):
        out.append(f"opening character at {found.start()} followed by a non-ASCII digit")
    for found in re.finditer(re.escape(open_char) + r"(?=[0-9])", text):
        body = (_GROUP_BODY if close else _DIGITS_RUN).match(text, found.end())
        assert body is not None
        end = body.end()
        where = f"marker at {found.start()}"
        if close:
            if text[end : end + 1] != close:
                out.append(f"{where}: not closed by {close!r}")
            end += 1
        ids = re.split(r", ?", body.group())
        if any(i.startswith("0") for i in ids):
            out.append(f"{where}: leading zero or zero in {ids}")
        values = [int(i) for i in ids]
        if any(not 1 <= v <= n for v in values):
            out.append(f"{where}: id outside 1..{n} in {values}")
        if values != sorted(set(values)):
            out.append(f"{where}: ids not strictly increasing {values}")
        if len(values) > max_ids:
            out.append(f"{where}: {len(values)} ids, at most {max_ids}")
        if re.match(re.escape(open_char) + r"[0-9]", text[end : end + 2]):
            out.append(f"{where}: another marker right after it")
        if style is MarkerStyle.CARET and text[end : end + 1].isdecimal():
            out.append(f"{where}: a digit right after a caret marker")
        if policy is Policy.QUOTES_ONLY and not _quote_before(text, found.start(), style):
            out.append(f"{where}: not right after a closing quotation")
    return out


def _quote_before(text: str, at: int, style: MarkerStyle) -> bool:
    """A closing quotation, then optionally markers, each followed by spaces, before ``at``."""
    marker = re.escape(style.open) + (r"[0-9, ]+" + re.escape(style.close) if style.close
                                      else "[0-9]+")  # fmt: skip
    pattern = re.compile(r'["”](?:[ \t\u00a0]*' + marker + r")*[ \t\u00a0]*\Z")
    return bool(pattern.search(text, 0, at))


def uncited_lines(text: str, style: MarkerStyle) -> list[str]:
    """REQUIRED: pieces between hard sentence ends (newline, 。！？｡) with no marker."""
    marker = re.compile(re.escape(style.open) + "[0-9]")
    return [line for line in _HARD_END.split(text) if line.strip() and not marker.search(line)]
