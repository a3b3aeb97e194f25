"""VOCASET and BIWI loaders on tiny fake folders in the real layouts."""

import pickle

import numpy as np
import pytest

from avatar.errors import L2TError
from avatar.io.audio import write_wav
from sync_expert.data.datasets import BiwiDataset, VocasetDataset, open_dataset

VOCA_TRAIN, VOCA_TEST = "FaceTalk_170725_00137_TA", "FaceTalk_170809_00138_TA"


def fake_folder(root, templates: dict, clips: dict, seconds=0.5):
    """clips: file stem -> [T, V*3] vertices."""
    (root / "vertices_npy").mkdir(parents=True)
    (root / "wav").mkdir()
    with open(root / "templates.pkl", "wb") as f:
        pickle.dump(templates, f, protocol=2)  # the datasets ship Python 2 era pickles
    t = np.arange(int(16000 * seconds)) / 16000
    for stem, verts in clips.items():
        np.save(root / "vertices_npy" / f"{stem}.npy", verts)
        write_wav(root / "wav" / f"{stem}.wav", 0.2 * np.sin(2 * np.pi * 200 * t), 16000)
    return root


def ramp(frames, vertices):
    return np.tile(np.arange(frames, dtype=np.float32)[:, None], (1, vertices * 3))


def test_vocaset_splits_and_60_to_30_fps(tmp_path):
    templates = {VOCA_TRAIN: np.zeros((5023, 3)), VOCA_TEST: np.ones((5023, 3))}
    clips = {
        f"{VOCA_TRAIN}_sentence01": ramp(60, 5023),
        f"{VOCA_TRAIN}_sentence30": ramp(30, 5023),
        f"{VOCA_TEST}_sentence02": ramp(60, 5023),
        f"{VOCA_TEST}_sentence25": ramp(60, 5023),
    }
    root = fake_folder(tmp_path / "voca", templates, clips)
    train = VocasetDataset(root, "train")
    assert [e[0] for e in train.entries] == [f"{VOCA_TRAIN}_sentence01", f"{VOCA_TRAIN}_sentence30"]
    test = VocasetDataset(root, "test")  # test subjects, sentences 21-40 only
    assert [e[0] for e in test.entries] == [f"{VOCA_TEST}_sentence25"]
    clip = train[0]
    assert clip.fps == 30 and clip.vertices.shape == (30, 5023, 3) and clip.speaker == VOCA_TRAIN
    assert np.allclose(clip.vertices[:, 0, 0], np.arange(30) * 2)  # every other 60 fps frame
    assert clip.template.shape == (5023, 3) and len(clip.audio) == 8000
    assert isinstance(open_dataset(root, "test"), VocasetDataset)


def test_biwi_seen_and_unseen_subjects(tmp_path):
    templates = {"F2": np.zeros((23370, 3)), "M1": np.zeros((23370, 3))}
    clips = {"F2_e01": ramp(4, 23370), "F2_e38": ramp(4, 23370), "M1_e38": ramp(4, 23370), "M1_e02": ramp(4, 23370)}
    root = fake_folder(tmp_path / "biwi", templates, clips, seconds=0.16)
    assert [e[0] for e in BiwiDataset(root, "train").entries] == ["F2_e01"]
    assert [e[0] for e in BiwiDataset(root, "test").entries] == ["F2_e38"]
    assert [e[0] for e in BiwiDataset(root, "test_unseen").entries] == ["M1_e38"]
    clip = BiwiDataset(root, "train", fps=50)[0]
    assert clip.vertices.shape == (8, 23370, 3) and clip.fps == 50
    assert isinstance(open_dataset(root), BiwiDataset)


def test_bad_dataset_folders(tmp_path):
    root = fake_folder(tmp_path / "bad", {VOCA_TRAIN: np.zeros((5023, 3))}, {f"{VOCA_TRAIN}_sentence01": ramp(10, 100)})
    with pytest.raises(L2TError, match="expected"):
        VocasetDataset(root, "train")[0]
    with pytest.raises(L2TError, match="split"):
        VocasetDataset(root, "everything")
    (root / "templates.pkl").write_bytes(b"\x80\x02cos\nsystem\nq\x00.")
    with pytest.raises(L2TError, match="not a readable"):
        open_dataset(root)
    odd = fake_folder(tmp_path / "odd", {"X": np.zeros((7, 3))}, {})
    with pytest.raises(L2TError, match="neither VOCASET"):
        open_dataset(odd)
