"""NLIScorer through its real loading path, on tiny classifiers built here from a config.

Each model is randomly initialised (2 layers, hidden 32), saved with save_pretrained
to a temp folder with a WordPiece tokenizer trained in milliseconds, and loaded by
NLIScorer as any model folder would be. Known probabilities come from zeroing the
classifier's weights and setting its bias to chosen log-odds, so the expected score is
exact whatever the input. Nothing is downloaded: sockets are refused throughout.
"""

from __future__ import annotations

import math
import socket
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from citeformer.errors import ConfigurationError, InvalidOptionError, MissingDependencyError
from citeformer.verify.nli import (
    ENV_VAR,
    NLIScorer,
    NLITruncationWarning,
    resolve_label_map,
)
from citeformer.verify.scorer import ScorerKind

# citeformer.verify.nli imports torch only when a scorer is built.
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

CORPUS = [
    "the eiffel tower is 330 metres tall and stands in paris",
    "the tower opened in 1889 for the world fair",
    "gustave eiffel designed it; the louvre is a museum in france",
    "bananas are yellow. stock markets fell on monday.",
]
PAIRS = [
    ("The Eiffel Tower is 330 metres tall.", "The tower is 330 metres high."),
    ("The tower opened in 1889.", "It opened in 1889."),
    ("Bananas are yellow.", "The Louvre is in Paris."),
    ("Stock markets fell on Monday.", "Markets rose."),
    ("Gustave Eiffel designed it.", "Eiffel designed the tower for the world fair."),
]


def _refuse(*args: Any, **kwargs: Any) -> None:
    raise OSError("test_nli: network access is blocked")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        CORPUS * 4, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    folder = tmp_path_factory.mktemp("tokenizer")
    fast.save_pretrained(folder)
    return folder


ModelFactory = Callable[..., Path]


@pytest.fixture
def make_model(tmp_path: Path, tokenizer_dir: Path) -> ModelFactory:
    """Save a tiny classifier (and the tokenizer) to a fresh folder; return the folder."""
    vocab = transformers.AutoTokenizer.from_pretrained(tokenizer_dir).vocab_size
    count = iter(range(1000))

    def build(
        labels: tuple[str, ...],
        probs: Mapping[str, float] | None = None,
        *,
        logit: float | None = None,
        arch: str = "bert",
        max_positions: int = 128,
        with_tokenizer: bool = True,
        seed: int = 0,
    ) -> Path:
        torch.manual_seed(seed)
        common: dict[str, Any] = {
            "vocab_size": vocab,
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 37,
            # Wide weights (default 0.02) so a random model's scores differ per input.
            "initializer_range": 0.5,
            "max_position_embeddings": max_positions,
            "id2label": dict(enumerate(labels)),
            "label2id": {name: i for i, name in enumerate(labels)},
        }
        if arch == "bert":
            config = transformers.BertConfig(**common)
            model = transformers.BertForSequenceClassification(config)
        else:
            config = transformers.DebertaV2Config(**common)
            model = transformers.DebertaV2ForSequenceClassification(config)
        if probs is not None or logit is not None:
            bias = (
                [logit] if logit is not None else [math.log(probs[name]) for name in labels]  # type: ignore[index]
            )
            with torch.no_grad():
                model.classifier.weight.zero_()
                model.classifier.bias.copy_(torch.tensor(bias))
        folder = tmp_path / f"model{next(count)}"
        model.save_pretrained(folder)
        if with_tokenizer:
            transformers.AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)
        return folder

    return build


THREE_WAY = {"entailment": 0.7, "neutral": 0.2, "contradiction": 0.1}


@pytest.mark.parametrize(
    "labels",
    [
        ("entailment", "neutral", "contradiction"),
        ("contradiction", "entailment", "neutral"),
        ("CONTRADICTION", "NEUTRAL", "ENTAILMENT"),
    ],
)
def test_three_way_scores_p_entailment_in_any_order(
    make_model: ModelFactory, labels: tuple[str, ...]
) -> None:
    probs = {name: THREE_WAY[name.lower()] for name in labels}
    scorer = NLIScorer(make_model(labels, probs), local_files_only=True)
    assert scorer.label_map.activation == "softmax"
    assert scorer.label_map.label.lower() == "entailment"
    assert scorer.score_batch(PAIRS) == pytest.approx([0.7] * len(PAIRS), abs=1e-5)


@pytest.mark.parametrize(
    "labels",
    [
        ("entailment", "not_entailment"),
        ("not_entailment", "entailment"),
        ("NOT ENTAILMENT", "Entails"),
    ],
)
def test_two_way_scores_p_entailment(make_model: ModelFactory, labels: tuple[str, ...]) -> None:
    entail = next(n for n in labels if "not" not in n.lower())
    probs = {name: 0.83 if name == entail else 0.17 for name in labels}
    scorer = NLIScorer(make_model(labels, probs), local_files_only=True)
    assert scorer.score_batch(PAIRS[:3]) == pytest.approx([0.83] * 3, abs=1e-5)


def test_single_logit_is_read_with_a_sigmoid(make_model: ModelFactory) -> None:
    p = 0.27
    folder = make_model(("LABEL_0",), logit=math.log(p / (1 - p)))
    scorer = NLIScorer(folder, local_files_only=True)
    assert scorer.label_map.activation == "sigmoid"
    assert scorer.score_batch(PAIRS) == pytest.approx([p] * len(PAIRS), abs=1e-5)


def test_deberta_v2_classifier(make_model: ModelFactory) -> None:
    labels = ("contradiction", "entailment", "neutral")
    probs = {"contradiction": 0.05, "entailment": 0.9, "neutral": 0.05}
    scorer = NLIScorer(make_model(labels, probs, arch="deberta-v2"), local_files_only=True)
    assert scorer.score_batch(PAIRS[:2]) == pytest.approx([0.9, 0.9], abs=1e-5)


def test_generic_labels_need_entailment_label(make_model: ModelFactory) -> None:
    folder = make_model(("LABEL_0", "LABEL_1"), {"LABEL_0": 0.4, "LABEL_1": 0.6})
    with pytest.raises(InvalidOptionError, match="entailment_label="):
        NLIScorer(folder, local_files_only=True)
    for chosen in (1, "LABEL_1", "label_1"):
        scorer = NLIScorer(folder, local_files_only=True, entailment_label=chosen)
        assert scorer.score(*PAIRS[0]) == pytest.approx(0.6, abs=1e-5)
    assert NLIScorer(folder, entailment_label=0).score(*PAIRS[0]) == pytest.approx(0.4, abs=1e-5)
    for wrong in (2, "LABEL_7", True, 1.0):
        with pytest.raises(InvalidOptionError):
            NLIScorer(folder, entailment_label=wrong)  # type: ignore[arg-type]


def test_label_map_rules() -> None:
    assert resolve_label_map({0: "SUPPORTED", 1: "not supported"}).index == 0
    assert resolve_label_map({"0": "refutes", "1": "supports"}).index == 1
    assert resolve_label_map({0: "hallucinated", 1: "consistent"}).index == 1
    assert resolve_label_map({0: "Not-Entailment", 1: "Entailment"}).index == 1
    assert resolve_label_map({0: "x"}).activation == "sigmoid"
    with pytest.raises(InvalidOptionError, match="none of the model's labels"):
        resolve_label_map({0: "positive", 1: "negative"})
    with pytest.raises(InvalidOptionError, match="several"):
        resolve_label_map({0: "entailment", 1: "supported"})
    with pytest.raises(InvalidOptionError, match="generic"):
        resolve_label_map({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"})
    with pytest.raises(InvalidOptionError):
        resolve_label_map({})


def test_batches_keep_order(make_model: ModelFactory) -> None:
    # A random head: scores depend on the input, so order and batch boundaries show.
    folder = make_model(("entailment", "neutral", "contradiction"), seed=3)
    one = NLIScorer(folder, batch_size=1)
    two = NLIScorer(folder, batch_size=2)
    singles = [one.score(p, h) for p, h in PAIRS]
    assert len({round(s, 3) for s in singles}) == len(PAIRS)  # distinguishable
    assert two.score_batch(PAIRS) == pytest.approx(singles, abs=1e-5)
    assert two.score_batch(PAIRS[::-1]) == pytest.approx(singles[::-1], abs=1e-5)
    assert one.score_batch(PAIRS) == pytest.approx(singles, abs=1e-5)
    assert two.score_batch([]) == []
    assert all(0.0 <= s <= 1.0 for s in singles)


def test_window_words_follow_the_model_length(make_model: ModelFactory) -> None:
    folder = make_model(("entailment", "neutral", "contradiction"), max_positions=64)
    scorer = NLIScorer(folder)
    assert scorer.max_length == 64  # the tokenizer declares no limit; the positions do
    assert scorer.window_words == int(0.6 * 64)
    small = NLIScorer(folder, max_length=40, window_words=20)
    assert (small.max_length, small.window_words) == (40, 20)


def test_a_pair_too_long_is_truncated_and_reported_not_dropped(
    make_model: ModelFactory,
) -> None:
    folder = make_model(
        ("entailment", "not_entailment"),
        {"entailment": 0.6, "not_entailment": 0.4},
        max_positions=32,
    )
    scorer = NLIScorer(folder)
    long_premise = "the eiffel tower is 330 metres tall " * 20
    long_claim = "the tower opened in 1889 for the world fair " * 20
    pairs = [PAIRS[0], (long_premise, "it is tall"), (long_premise, long_claim)]
    with pytest.warns(NLITruncationWarning, match="2 of 3"):
        scores = scorer.score_batch(pairs)
    assert scores == pytest.approx([0.6, 0.6, 0.6], abs=1e-5)
    assert scorer.truncated_pairs == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scorer.score_batch(PAIRS[:2])  # pairs that fit: no warning
    assert scorer.truncated_pairs == 2


def test_template_input_cuts_the_premise_to_fit(make_model: ModelFactory) -> None:
    folder = make_model(
        ("hallucinated", "consistent"), {"hallucinated": 0.25, "consistent": 0.75}, max_positions=32
    )
    scorer = NLIScorer(folder, template="premise: {premise} hypothesis: {hypothesis}")
    fitted, cut = scorer._fit_template("the tower is tall " * 30, "it opened in 1889")
    assert cut and fitted.endswith("hypothesis: it opened in 1889")
    with pytest.warns(NLITruncationWarning):
        scores = scorer.score_batch([("the tower is tall " * 30, "it opened"), PAIRS[1]])
    assert scores == pytest.approx([0.75, 0.75], abs=1e-5)
    with pytest.raises(InvalidOptionError):
        NLIScorer(folder, template="no placeholders")


def test_a_separate_tokenizer(make_model: ModelFactory, tokenizer_dir: Path) -> None:
    folder = make_model(
        ("entailment", "contradiction"),
        {"entailment": 0.5, "contradiction": 0.5},
        with_tokenizer=False,
    )
    # transformers 5 would build an empty tokenizer here; every word would be [UNK].
    with pytest.raises(ConfigurationError, match="no vocabulary"):
        NLIScorer(folder, local_files_only=True)
    scorer = NLIScorer(folder, tokenizer=tokenizer_dir, local_files_only=True)
    assert scorer.score(*PAIRS[0]) == pytest.approx(0.5, abs=1e-5)
    loaded = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
    assert NLIScorer(folder, tokenizer=loaded).score(*PAIRS[0]) == pytest.approx(0.5, abs=1e-5)


def test_trust_remote_code_is_passed_only_when_asked(
    make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_model(("entailment", "neutral", "contradiction"), THREE_WAY)
    calls: list[dict[str, Any]] = []
    depth: list[int] = []
    for cls in (
        transformers.AutoConfig,
        transformers.AutoTokenizer,
        transformers.AutoModelForSequenceClassification,
    ):
        original = cls.from_pretrained

        def spy(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            # Record NLIScorer's own calls, not transformers' nested ones.
            if not depth:
                calls.append(kwargs)
            depth.append(1)
            try:
                return _original(*args, **kwargs)
            finally:
                depth.pop()

        monkeypatch.setattr(cls, "from_pretrained", spy)
    NLIScorer(folder)
    assert len(calls) == 3
    assert all("trust_remote_code" not in kwargs for kwargs in calls)
    calls.clear()
    NLIScorer(folder, trust_remote_code=True)
    assert len(calls) == 3
    assert all(kwargs["trust_remote_code"] is True for kwargs in calls)


def test_reports_itself(make_model: ModelFactory) -> None:
    folder = make_model(("entailment", "neutral", "contradiction"), THREE_WAY)
    scorer = NLIScorer(folder, threshold=0.6, device="cpu")
    assert scorer.kind is ScorerKind.NLI
    assert scorer.model == str(folder)
    assert scorer.device == "cpu"
    info = scorer.info()
    assert (info.kind, info.model, info.threshold, info.judges_entailment) == (
        ScorerKind.NLI,
        str(folder),
        0.6,
        True,
    )


def test_missing_models_raise_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        NLIScorer(tmp_path / "absent")
    with pytest.raises(ConfigurationError, match="does not exist"):
        NLIScorer(str(tmp_path / "absent"))
    with pytest.raises(ConfigurationError, match="Hugging Face cache"):
        NLIScorer("citeformer-tests/not-a-cached-model", local_files_only=True)
    (tmp_path / "file.bin").write_bytes(b"")
    with pytest.raises(ConfigurationError, match="is a file"):
        NLIScorer(tmp_path / "file.bin")
    with pytest.raises(InvalidOptionError):
        NLIScorer(tmp_path, batch_size=0)
    with pytest.raises(InvalidOptionError):
        NLIScorer(42)  # type: ignore[arg-type]


def test_from_env(make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert NLIScorer.from_env() is None
    monkeypatch.setenv(ENV_VAR, "  ")
    assert NLIScorer.from_env() is None
    folder = make_model(("entailment", "neutral", "contradiction"), THREE_WAY)
    monkeypatch.setenv(ENV_VAR, str(folder))
    scorer = NLIScorer.from_env(batch_size=4)
    assert scorer is not None
    assert (scorer.model, scorer.batch_size) == (str(folder), 4)
    assert scorer.score(*PAIRS[0]) == pytest.approx(0.7, abs=1e-5)
    monkeypatch.setenv(ENV_VAR, "citeformer-tests/not-a-cached-model")
    with pytest.raises(ConfigurationError, match=ENV_VAR):
        NLIScorer.from_env(local_files_only=False)  # forced back to True: no download


def test_the_environments_model_is_verifys_default_loaded_once(
    make_model: ModelFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from citeformer import Citeformer, Source
    from citeformer.backends.mock import MockBackend
    from citeformer.verify import LexicalScorer, default_scorer

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert isinstance(default_scorer(), LexicalScorer)
    folder = make_model(("entailment", "neutral", "contradiction"), THREE_WAY)
    monkeypatch.setenv(ENV_VAR, str(folder))
    first = default_scorer()
    assert isinstance(first, NLIScorer) and default_scorer() is first  # not reloaded
    result = Citeformer(MockBackend("It is tall [1].")).generate("Q?", [Source("Tall.")])
    report = result.verify()
    assert report.scorer.kind == "nli" and report.scorer.model == str(folder)
    assert report.sentences[0].score == pytest.approx(0.7, abs=1e-5)
    assert report.notes[0].startswith("Support was judged by an entailment model")


def test_missing_torch_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "transformers" else find_spec(name, *a),
    )
    with pytest.raises(MissingDependencyError, match=r"citeformer\[verify\]"):
        NLIScorer(tmp_path)


async def test_concurrent_async_batches_agree(make_model: ModelFactory) -> None:
    import asyncio

    scorer = NLIScorer(make_model(("entailment", "neutral", "contradiction"), seed=5), batch_size=2)
    expected = scorer.score_batch(PAIRS)
    results = await asyncio.gather(*(scorer.ascore_batch(PAIRS) for _ in range(4)))
    for result in results:
        assert result == pytest.approx(expected, abs=1e-5)
