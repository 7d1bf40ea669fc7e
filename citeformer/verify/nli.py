"""Entailment scores from a local transformers sequence classifier.

:class:`NLIScorer` runs any ``AutoModelForSequenceClassification`` NLI or factual-
consistency model (DeBERTa/RoBERTa-MNLI, MiniCheck, HHEM with an explicit
``trust_remote_code``) on (premise, hypothesis) pairs and scores each pair by the
model's probability that the premise entails the hypothesis.

Which output is "entailment" is read from the model's ``config.id2label``
(:func:`resolve_label_map`):

- **one logit**: the logit is the log-odds of support; the score is its sigmoid.
- **two or more labels**: the score is the softmax probability of the one label whose
  name is an entailment name (case-insensitive, ``-``/space/``_`` alike):
  ``entailment``, ``entails``, ``entailed``, ``supported``, ``supports``,
  ``consistent``, ``factual``, ``faithful``, ``true``, ``yes``... So 3-way MNLI heads
  work in any label order, and 2-way ``entailment``/``not_entailment`` heads too.
- **generic names** (``LABEL_0``, ``LABEL_1``, as MiniCheck's checkpoints ship) or
  names none of which is an entailment name: the scorer cannot guess, and raises
  :class:`~citeformer.errors.InvalidOptionError` asking for ``entailment_label=``
  (a label name or index, e.g. ``entailment_label=1`` for MiniCheck).

Nothing is downloaded unless the caller names a hub id explicitly; the
``CITEFORMER_NLI_MODEL`` default (:meth:`NLIScorer.from_env`) is used only when it is
already on disk. torch and transformers are imported when a scorer is built, not when
this module is imported.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from citeformer.errors import ConfigurationError, InvalidOptionError, MissingDependencyError
from citeformer.verify.scorer import Pair, Scorer, ScorerKind, check_threshold

if TYPE_CHECKING:
    import torch

__all__ = [
    "ENV_VAR",
    "LabelMap",
    "NLIScorer",
    "NLITruncationWarning",
    "resolve_label_map",
]

ENV_VAR: Final = "CITEFORMER_NLI_MODEL"
"""Names a default NLI model (folder or hub id) used only if it is already on disk."""

WINDOW_FRACTION: Final = 0.6
"""Premise window in words per token of the model's input length.

English runs about 1.2-1.4 word pieces per word, so 0.6 words per token fills about
80% of the input with the premise and leaves room for the hypothesis and the special
tokens: a 512-token model gets 307-word windows, which in practice are never cut.
"""

_ENTAILMENT_NAMES: Final = frozenset(
    {
        "entailment",
        "entailed",
        "entails",
        "entail",
        "supported",
        "supports",
        "support",
        "consistent",
        "factual",
        "faithful",
        "grounded",
        "true",
        "yes",
    }
)
_GENERIC_NAME: Final = re.compile(r"(label)?_?\d+")
# RoBERTa-style embeddings number positions after the padding index, so two of the
# config's max_position_embeddings are not usable positions.
_PADDING_OFFSET_TYPES: Final = frozenset(
    {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "data2vec-text"}
)
_FALLBACK_MAX_LENGTH: Final = 512


class NLITruncationWarning(UserWarning):
    """A (premise, hypothesis) pair was longer than the model's input and was cut."""


@dataclass(frozen=True, slots=True)
class LabelMap:
    """How a classifier's outputs become a support probability.

    Attributes:
        index: The output read (the entailment label, or the single logit).
        activation: ``"softmax"`` over all labels, or ``"sigmoid"`` of one logit.
        labels: The label names in output order, as the config gives them.
    """

    index: int
    activation: Literal["softmax", "sigmoid"]
    labels: tuple[str, ...]

    @property
    def label(self) -> str:
        """The name of the output read."""
        return self.labels[self.index]


def _normalise(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def resolve_label_map(
    id2label: Mapping[int | str, str], entailment_label: str | int | None = None
) -> LabelMap:
    """Which output of a classifier is entailment, from its ``config.id2label``.

    Args:
        id2label: The config's map from output index to label name.
        entailment_label: The entailment label's name (matched case-insensitively)
            or index, overriding the name rules; required for generic names.

    Returns:
        The output to read and how.

    Raises:
        InvalidOptionError: No label, or several, can be read as entailment, or
            ``entailment_label`` names no label.
    """
    if not id2label:
        raise InvalidOptionError("the model's config has no id2label; it is not a classifier")
    labels = tuple(str(id2label[key]) for key in sorted(id2label, key=int))
    shown = ", ".join(f"{i}={name}" for i, name in enumerate(labels))

    if entailment_label is not None:
        index = _find_label(labels, entailment_label, shown)
        if len(labels) == 1:
            return LabelMap(index, "sigmoid", labels)
        return LabelMap(index, "softmax", labels)

    if len(labels) == 1:
        # A single logit is a log-odds of support whatever its name (HHEM-style heads).
        return LabelMap(0, "sigmoid", labels)

    found = [i for i, name in enumerate(labels) if _normalise(name) in _ENTAILMENT_NAMES]
    if len(found) == 1:
        return LabelMap(found[0], "softmax", labels)
    if len(found) > 1:
        raise InvalidOptionError(
            f"several of the model's labels ({shown}) read as entailment; pass "
            "entailment_label= with the one to score"
        )
    if all(_GENERIC_NAME.fullmatch(_normalise(name)) for name in labels):
        raise InvalidOptionError(
            f"the model's labels are generic ({shown}), so which one means entailment "
            "is not written in its config; pass entailment_label= with its name or "
            "index (MiniCheck checkpoints: entailment_label=1)"
        )
    raise InvalidOptionError(
        f"none of the model's labels ({shown}) is an entailment label citeformer "
        "recognises; pass entailment_label= with the one that means 'supported'"
    )


def _find_label(labels: tuple[str, ...], wanted: str | int, shown: str) -> int:
    if isinstance(wanted, bool) or not isinstance(wanted, (str, int)):
        raise InvalidOptionError(
            f"entailment_label must be a label name or index, got {type(wanted).__name__}"
        )
    if isinstance(wanted, int):
        if 0 <= wanted < len(labels):
            return wanted
        raise InvalidOptionError(f"entailment_label={wanted} is not an output index ({shown})")
    if wanted in labels:
        return labels.index(wanted)
    matches = [i for i, name in enumerate(labels) if _normalise(name) == _normalise(wanted)]
    if len(matches) == 1:
        return matches[0]
    raise InvalidOptionError(f"entailment_label={wanted!r} names none of the labels ({shown})")


class NLIScorer(Scorer):
    """P(entailment) from a local transformers NLI or factual-consistency classifier.

    Pairs are tokenised as a pair, premise first, and scored in batches (order
    kept) under ``torch.inference_mode`` on the chosen device.

    **Length.** :attr:`window_words` is set from the model's input length
    (:data:`WINDOW_FRACTION` words per token), and ``verify()`` cuts sources into
    windows of that size, so pairs fit. A pair that still does not fit is **not
    dropped**: the premise is truncated (``truncation="only_first"``; if the
    hypothesis alone fills the input, both are cut, ``"longest_first"``), the pair
    is scored on what fits, :attr:`truncated_pairs` counts it, and an
    :class:`NLITruncationWarning` is issued once per batch.

    Args:
        model_or_path: A local model folder, or a hub id (a hub id is downloaded
            by transformers unless ``local_files_only``; :meth:`from_env` never
            downloads).
        device: Torch device; default ``"cuda"`` when available, else ``"cpu"``.
        batch_size: Pairs per forward pass.
        max_length: Input length in tokens; default the smaller of the tokenizer's
            ``model_max_length`` and the config's usable ``max_position_embeddings``
            (512 when neither is known).
        threshold: Support threshold on the probability.
        trust_remote_code: Run the model repository's own code (HHEM needs it).
            Passed to transformers only when true.
        entailment_label: The entailment label's name or index, when the config's
            label names do not say (see :func:`resolve_label_map`).
        local_files_only: Never touch the network; the model must be on disk.
        tokenizer: A tokenizer folder or hub id, or a loaded tokenizer, when the
            model folder has none (HHEM uses ``google/flan-t5-base``'s).
        template: Format the input as one text, ``template.format(premise=...,
            hypothesis=...)``, instead of a tokenizer pair (HHEM's prompt). Long
            premises are cut at a token boundary to fit.
        window_words: Override the premise window size in words.

    Raises:
        MissingDependencyError: torch or transformers is not installed.
        ConfigurationError: The model is not found (or cannot be loaded).
        InvalidOptionError: An option is invalid, or the labels need
            ``entailment_label``.
    """

    kind = ScorerKind.NLI

    def __init__(
        self,
        model_or_path: str | os.PathLike[str],
        *,
        device: str | None = None,
        batch_size: int = 16,
        max_length: int | None = None,
        threshold: float = 0.5,
        trust_remote_code: bool = False,
        entailment_label: str | int | None = None,
        local_files_only: bool = False,
        tokenizer: str | os.PathLike[str] | Any | None = None,
        template: str | None = None,
        window_words: int | None = None,
    ) -> None:
        _positive_int("batch_size", batch_size)
        if max_length is not None:
            _positive_int("max_length", max_length)
        if window_words is not None:
            _positive_int("window_words", window_words)
        if template is not None and (
            not isinstance(template, str)
            or "{premise}" not in template
            or "{hypothesis}" not in template
        ):
            raise InvalidOptionError("template must be a str containing {premise} and {hypothesis}")
        if not isinstance(model_or_path, (str, os.PathLike)):
            raise InvalidOptionError(
                f"model_or_path must be a folder or a hub id, got {type(model_or_path).__name__}"
            )
        self.threshold = check_threshold(threshold)
        self.batch_size = batch_size
        self.template = template
        self.truncated_pairs = 0
        """Pairs that did not fit the model's input and were scored truncated."""
        self._lock = threading.Lock()
        self._infer_lock = threading.Lock()
        self._model_id = os.fspath(model_or_path)

        for module in ("torch", "transformers"):
            if importlib.util.find_spec(module) is None:
                raise MissingDependencyError("NLIScorer", "verify", package=f"{module} missing")
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        source = _locate(model_or_path)
        kwargs: dict[str, Any] = {"local_files_only": local_files_only}
        if trust_remote_code:
            # Only when asked: remote code runs the repository's Python.
            kwargs["trust_remote_code"] = True
        try:
            config = AutoConfig.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(_not_found(self._model_id, local_files_only, exc)) from exc
        self.label_map = resolve_label_map(config.id2label, entailment_label)

        try:
            if tokenizer is None or isinstance(tokenizer, (str, os.PathLike)):
                tokenizer_source = source if tokenizer is None else _locate(tokenizer)
                self._tokenizer = AutoTokenizer.from_pretrained(tokenizer_source, **kwargs)
            else:
                self._tokenizer = tokenizer
            model = AutoModelForSequenceClassification.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as exc:
            raise ConfigurationError(_not_found(self._model_id, local_files_only, exc)) from exc
        _check_vocabulary(self._tokenizer, self._model_id)

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model = model.to(self.device).eval()
        self.max_length = max_length or _max_length(self._tokenizer, config)
        self.window_words = window_words or max(16, int(WINDOW_FRACTION * self.max_length))

    @classmethod
    def from_env(cls, **kwargs: Any) -> NLIScorer | None:
        """The scorer ``CITEFORMER_NLI_MODEL`` names, loaded only from disk.

        The variable holds a local folder or a hub id; a hub id is looked up in the
        Hugging Face cache with ``local_files_only=True``, so this never downloads.

        Args:
            **kwargs: Passed to :class:`NLIScorer` (``device``, ``entailment_label``,
                ``trust_remote_code``...); ``local_files_only`` is always true.

        Returns:
            The scorer, or ``None`` when the variable is unset or empty (no default
            model configured: the caller picks another scorer).

        Raises:
            ConfigurationError: The variable is set but the model is not on disk. A
                model the user asked for is never silently replaced by a weaker
                scorer.
        """
        value = os.environ.get(ENV_VAR, "").strip()
        if not value:
            return None
        kwargs["local_files_only"] = True
        try:
            return cls(value, **kwargs)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{ENV_VAR}={value!r}: {exc}") from exc

    @property
    def model(self) -> str:
        """The model id or path as given."""
        return self._model_id

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """P(entailment) of each (premise, hypothesis) pair, in order."""
        scores: list[float] = []
        truncated = 0
        for start in range(0, len(pairs), self.batch_size):
            chunk = list(pairs[start : start + self.batch_size])
            # One batch at a time per scorer: a fast tokenizer's truncation state is
            # not thread-safe ("Already borrowed"), and averify runs batches in threads.
            with self._infer_lock:
                chunk_scores, chunk_truncated = self._score_chunk(chunk)
            scores.extend(chunk_scores)
            truncated += chunk_truncated
        if truncated:
            with self._lock:
                self.truncated_pairs += truncated
            warnings.warn(
                f"NLIScorer: {truncated} of {len(pairs)} pair(s) exceeded the model's "
                f"{self.max_length} tokens; their premises were truncated and scored on "
                "what fits (use shorter windows: window_words)",
                NLITruncationWarning,
                stacklevel=2,
            )
        return scores

    def _score_chunk(self, chunk: list[Pair]) -> tuple[list[float], int]:
        if self.template is not None:
            texts, truncated = zip(*(self._fit_template(p, h) for p, h in chunk), strict=True)
            encoded = self._tokenizer(
                list(texts),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            return self._forward(encoded), sum(truncated)

        premises = [p for p, _ in chunk]
        hypotheses = [h for _, h in chunk]
        # Token counts first: only_first cannot cut a pair whose hypothesis alone is
        # too long (the tokenizer raises), so those pairs are cut longest_first.
        p_len = _lengths(self._tokenizer, premises)
        h_len = _lengths(self._tokenizer, hypotheses)
        special = self._tokenizer.num_special_tokens_to_add(pair=True)
        over = [p + h + special > self.max_length for p, h in zip(p_len, h_len, strict=True)]
        extreme = [h + special >= self.max_length for h in h_len]
        groups: dict[str, list[int]] = {"only_first": [], "longest_first": []}
        for i in range(len(chunk)):
            groups["longest_first" if extreme[i] else "only_first"].append(i)
        scores = [math.nan] * len(chunk)
        for strategy, rows in groups.items():
            if not rows:
                continue
            encoded = self._tokenizer(
                [premises[i] for i in rows],
                [hypotheses[i] for i in rows],
                padding=True,
                truncation=strategy,
                max_length=self.max_length,
                return_tensors="pt",
            )
            for i, score in zip(rows, self._forward(encoded), strict=True):
                scores[i] = score
        return scores, sum(over)

    def _fit_template(self, premise: str, hypothesis: str) -> tuple[str, bool]:
        """The templated input, its premise cut at a token boundary if it is too long."""
        assert self.template is not None
        text = self.template.format(premise=premise, hypothesis=hypothesis)
        overflow = _lengths(self._tokenizer, [text], special=True)[0] - self.max_length
        if overflow <= 0:
            return text, False
        offsets = self._tokenizer(premise, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        keep = max(0, len(offsets) - overflow - 1)
        cut = premise[: offsets[keep - 1][1]] if keep else ""
        return self.template.format(premise=cut, hypothesis=hypothesis), True

    def _forward(self, encoded: Any) -> list[float]:
        import torch

        with torch.inference_mode():
            logits: torch.Tensor = self._model(**encoded.to(self.device)).logits
        if logits.ndim == 3:
            # Token-classification heads (HHEM) carry the verdict on the first token.
            logits = logits[:, 0, :]
        if logits.shape[-1] != len(self.label_map.labels):
            raise ConfigurationError(
                f"{self._model_id} returned {logits.shape[-1]} outputs per pair but its "
                f"config names {len(self.label_map.labels)} labels"
            )
        logits = logits.float()
        if self.label_map.activation == "sigmoid":
            probs = torch.sigmoid(logits[:, self.label_map.index])
        else:
            probs = torch.softmax(logits, dim=-1)[:, self.label_map.index]
        return [float(p) for p in probs.cpu().tolist()]


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidOptionError(f"{name} must be a positive int, got {value!r}")


def _lengths(tokenizer: Any, texts: list[str], *, special: bool = False) -> list[int]:
    ids = tokenizer(texts, add_special_tokens=special, truncation=False)["input_ids"]
    return [len(row) for row in ids]


def _check_vocabulary(tokenizer: Any, model: str) -> None:
    """Refuse a tokenizer that knows only its special tokens.

    transformers 5 builds an *empty* tokenizer for a model folder that has no
    tokenizer files instead of failing, and every word would then read as ``[UNK]``:
    the scores would look valid and mean nothing.
    """
    try:
        size = len(tokenizer)
        specials = len(set(getattr(tokenizer, "all_special_tokens", ())))
    except TypeError:  # a tokenizer object without __len__: trust the caller's choice
        return
    if size <= specials + 1:
        raise ConfigurationError(
            f"NLIScorer: the tokenizer loaded for {model!r} has no vocabulary beyond its "
            f"{specials} special tokens (the folder has no tokenizer files?); pass "
            "tokenizer= with the model's tokenizer folder, id or object"
        )


def _max_length(tokenizer: Any, config: Any) -> int:
    """The usable input length: tokenizer limit and position table, whichever is less."""
    limits: list[int] = []
    declared = getattr(tokenizer, "model_max_length", None)
    # Tokenizers without a limit report a huge sentinel (int(1e30)).
    if isinstance(declared, int) and 0 < declared <= 1_000_000:
        limits.append(declared)
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        if getattr(config, "model_type", None) in _PADDING_OFFSET_TYPES:
            positions -= int(getattr(config, "pad_token_id", None) or 1) + 1
        limits.append(positions)
    return min(limits) if limits else _FALLBACK_MAX_LENGTH


def _locate(model_or_path: str | os.PathLike[str]) -> str:
    """A folder that exists, or a hub id; a missing folder raises instead of a hub lookup."""
    text = os.fspath(model_or_path)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ConfigurationError(f"NLIScorer: {text!r} is a file; pass the model's folder")
        return str(path)
    looks_like_path = (
        isinstance(model_or_path, os.PathLike)
        or path.is_absolute()
        or text.startswith((".", "~"))
        or "\\" in text
        or text.count("/") > 1
    )
    if looks_like_path:
        raise ConfigurationError(f"NLIScorer: model folder {text!r} does not exist")
    return text


def _not_found(model: str, local_only: bool, exc: BaseException) -> str:
    where = (
        "is neither a local folder nor in the Hugging Face cache, and citeformer does not "
        "download it here (download it first, e.g. `hf download <id>`)"
        if local_only
        else "could not be loaded"
    )
    return f"NLI model {model!r} {where}: {type(exc).__name__}: {exc}"
