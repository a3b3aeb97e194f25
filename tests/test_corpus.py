"""The corpus builder end to end on a tiny corpus: sources, determinism, resuming, splits, items."""

import json

import numpy as np
import pytest

from audio2mesh.data import align
from audio2mesh.data.corpus import CorpusBuilder
from audio2mesh.data.real_speech import allison_prompts, codec2_recordings
from audio2mesh.data.tts import Espeak, Festival, Flite
from avatar.errors import L2TError
from sync_expert.data.datasets import CorpusDataset, open_dataset
from sync_expert.data.items import CorpusItem
from tests.conftest import needs

ALL_TOOLS = (
    Espeak.available()
    and Festival.available()
    and Flite.available()
    and align.available()
    and bool(allison_prompts())
    and bool(codec2_recordings())
)
HOURS = 0.012  # 43 s of audio


def build(folder, hours=HOURS, seed=5, log=None):
    messages = []
    summary = CorpusBuilder(folder, seed=seed, log=messages.append).build(hours, progress=False)
    if log is not None:
        log.extend(messages)
    return summary


def item_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted((folder / "items").glob("*.npz"))}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    return folder, build(folder)


@needs(ALL_TOOLS, "espeak-ng, festival, flite, pocketsphinx and the speech packages")
def test_tiny_corpus_mixes_every_source(corpus):
    folder, summary = corpus
    assert summary["minutes"] * 60 >= HOURS * 3600
    assert set(summary["minutes_by_source"]) == {"espeak", "festival", "flite", "allison", "codec2"}
    assert summary["phones_covered"].split("/")[0] >= "35"
    info = json.loads((folder / "corpus.json").read_text())
    assert info["seed"] == 5 and info["fps"] == 25.0 and info["rig"] == {"name": "l2t-head"} and info["summary"] == summary
    lips = np.load(folder / "rig_lips.npz")
    assert lips["indices"].shape == (268,) and 0.03 < float(lips["mouth_width"]) < 0.07


@needs(ALL_TOOLS, "the speech tools")
def test_items_hold_aligned_audio_phones_and_motion(corpus):
    folder, _ = corpus
    manifest = [json.loads(line) for line in (folder / "manifest.jsonl").read_text().splitlines()]
    assert len(manifest) == corpus[1]["items"]
    for meta in manifest:
        item = CorpusItem.load(folder / "items" / f"{meta['id']}.npz")
        frames = round(item.seconds * 25)
        assert item.meta == meta and meta["frames"] == frames and meta["licence"]
        assert item.expression.shape == (frames, 39) and item.jaw.shape == (frames, 3) and item.lip_vertices.shape == (frames, 268, 3)
        assert item.alignment.duration == pytest.approx(item.seconds, abs=1e-3)
        assert np.abs(item.audio).max() > 0.01 and np.abs(item.audio).max() <= 1.0
        assert np.abs(item.lip_vertices - item.lip_template).max() < 0.03  # lips move by centimetres at most
        assert (meta["text"] is not None) == (meta["source"] != "codec2")


@needs(ALL_TOOLS, "the speech tools")
def test_splits_are_by_voice_and_real_test_speakers_are_unseen(corpus):
    folder, _ = corpus
    splits = json.loads((folder / "splits.json").read_text())
    manifest = {m["id"]: m for m in map(json.loads, (folder / "manifest.jsonl").read_text().splitlines())}
    voices = {s: {manifest[i]["voice"] for i in ids} for s, ids in splits.items()}
    assert not voices["train"] & voices["test"] and not voices["val"] & voices["test"]
    assert voices["train"] & voices["val"] <= {"allison"}  # only unseen Allison prompts are in val
    assert all(manifest[i]["source"] != "codec2" for i in splits["train"])
    assert any(not manifest[i]["synthetic"] for i in splits["test"])
    assert all(manifest[i]["augmentation"]["gain_db"] == 0.0 for s in ("val", "test") for i in splits[s])
    assert len(CorpusDataset(folder, "train")) == len(splits["train"])


@needs(ALL_TOOLS, "the speech tools")
def test_build_is_deterministic_resumable_and_extendable(corpus, tmp_path):
    folder, summary = corpus
    again = tmp_path / "again"
    build(again)
    assert item_bytes(again) == item_bytes(folder)
    assert (again / "splits.json").read_bytes() == (folder / "splits.json").read_bytes()
    # an interrupted build: some items and the listing missing
    for name in sorted(item_bytes(again))[2:5]:
        (again / "items" / name).unlink()
    (again / "manifest.jsonl").unlink()
    resumed = build(again)
    assert resumed["reused_items"] == summary["items"] - 3 and item_bytes(again) == item_bytes(folder)
    # a bigger build extends the smaller one
    bigger = build(again, hours=2 * HOURS)
    assert bigger["items"] > summary["items"] and all(item_bytes(again)[k] == v for k, v in item_bytes(folder).items())
    with pytest.raises(L2TError, match="seed"):
        build(again, seed=6)


@needs(Espeak.available() and align.available(), "espeak-ng and pocketsphinx")
def test_other_seed_other_corpus_and_missing_programs_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # festival and flite disappear; espeak-ng is a library
    log = []
    summary = build(tmp_path / "c", hours=0.004, seed=7, log=log)
    assert any("festival" in m and "apt install" in m for m in log) and any("flite" in m for m in log)
    assert "festival" not in summary["minutes_by_source"] and "espeak" in summary["minutes_by_source"]
    first = CorpusItem.load(sorted((tmp_path / "c" / "items").glob("*espeak.npz"))[0])
    assert first.meta["text"] != CorpusItem.load(sorted((tmp_path / "c" / "items").glob("*espeak.npz"))[-1]).meta["text"] or len(log) > 0


def test_no_source_at_all_is_a_clear_error(tmp_path, monkeypatch):
    import audio2mesh.data.corpus as corpus_module

    class Gone:
        name, synthetic = "espeak", True

        def missing(self):
            return "espeak-ng (apt install espeak-ng)"

    monkeypatch.setattr(corpus_module, "all_sources", lambda seed: [Gone()])
    with pytest.raises(L2TError, match="no speech source"):
        CorpusBuilder(tmp_path / "x", log=lambda m: None)


def test_open_dataset_refuses_unknown_folders(tmp_path):
    with pytest.raises(L2TError, match="neither"):
        open_dataset(tmp_path)
    with pytest.raises(L2TError, match="not found"):
        open_dataset(tmp_path / "nope")
