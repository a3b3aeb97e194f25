"""``data from-videos``: a talking clip with its sound becomes corpus items whose motion is the
tracked face, aligned to the sound, that train audio2mesh reads."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from audio2mesh.data.from_videos import VideoCorpus, pieces, resample_tracked, video_files
from audio2mesh.speech import Speaker
from avatar.errors import L2TError
from avatar.io.audio import read_audio, write_wav
from avatar.motion import Motion
from sync_expert.data.items import CorpusItem

HELLO = "examples/hello.wav"
JAW_GAIN = 1.8
FPS = 10.0


@pytest.fixture(scope="module")
def talking_clip(head, tmp_path_factory):
    """The default avatar saying hello with a wide jaw (1.8x the generic model's), 64 px at 10 fps
    with its sound (4 s): (clip, true motion at 10 fps)."""
    from avatar.io.avatar_folder import load_avatar
    from avatar.render.animate import render_motion_to_mp4

    folder = tmp_path_factory.mktemp("talking_videos")
    audio = read_audio(HELLO)
    plain = Speaker.load().motion(audio, FPS, head.data.expression_names, head.data.name)
    jaw = plain.params["jaw"].clone()
    jaw[:, 0] = JAW_GAIN * jaw[:, 0]
    truth = Motion({**plain.params, "jaw": jaw}, fps=FPS)
    clip = folder / "talk.mp4"
    render_motion_to_mp4(load_avatar(), truth, clip, size=64, audio=write_wav(folder / "s.wav", audio))
    return clip, truth


@pytest.fixture(scope="module")
def corpus(talking_clip, tmp_path_factory):
    from avatar.fit.tracking import TrackingConfig

    out = tmp_path_factory.mktemp("video_corpus") / "corpus"
    notes = []
    builder = VideoCorpus(out, fps=25.0, log=notes.append, tracking=TrackingConfig(rigid_steps=50, steps=150))
    summary = builder.build([talking_clip[0]], progress=False)
    return out, summary, notes


def test_a_talking_clip_becomes_items_with_its_tracked_mouth_on_its_own_sound(corpus, talking_clip):
    out, summary, notes = corpus
    clip, truth = talking_clip
    assert summary["items"] == 1 and summary["real_minutes_by_split"]["train"] > 0.05
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert json.loads((out / "splits.json").read_text())["train"] == [m["id"] for m in manifest]
    meta = manifest[0]
    assert abs(meta["lag_frames"]) <= 1 and meta["video"] == "talk.mp4" and not meta["synthetic"]
    item = CorpusItem.load(out / "items" / f"{meta['id']}.npz")
    assert item.fps == 25.0 and len(item.jaw) == meta["frames"] and len(item.alignment.phones) > 5  # words were heard
    # the item's jaw is the face's: resampled to 25 fps it follows the true jaw of the clip
    start = meta["video_seconds"][0]
    t = start + np.arange(len(item.jaw)) / 25.0
    true_jaw = np.interp(t, np.arange(truth.num_frames) / FPS, truth.params["jaw"][:, 0].numpy())
    assert np.corrcoef(item.jaw[:, 0], true_jaw)[0, 1] > 0.8
    spread = np.ptp(item.jaw[:, 0]) / np.ptp(true_jaw)
    print(f"lag {meta['lag_frames']}, jaw r {np.corrcoef(item.jaw[:, 0], true_jaw)[0, 1]:.3f}, range ratio {spread:.2f}")
    assert 0.5 < spread < 1.3  # tracking at 64 px sees most of the opening (README, "Speaking style")


def test_train_reads_the_video_corpus_and_a_second_run_replaces_the_video(corpus, talking_clip, tmp_path):
    from sync_expert.data.clips import load_clips

    out, summary, _ = corpus
    clips = load_clips(out, "train", 25.0)
    assert len(clips.clips) == summary["items"] and clips.clips[0].params.shape[1] == 3 + len(clips.expression_names)
    assert not clips.clips[0].synthetic
    # fine-tune the shipped model on the person (no validation split: the last epoch is kept)
    from audio2mesh.checkpoint import load_model
    from l2t_avatar.cli import main

    args = ["--epochs", "1", "--init-from", "default", "--batch-size", "1", "--device", "cpu", "--quiet"]
    assert main(["train", "audio2mesh", "--data", str(out), "--out", str(tmp_path / "me"), *args]) == 0
    assert load_model(tmp_path / "me" / "best.pt")[1]["selected_by"] == "last epoch (no validation split)"
    # the same video again: replaced, not doubled (and train's cache of the old items is dropped)
    from avatar.fit.tracking import TrackingConfig

    again = VideoCorpus(out, fps=25.0, log=lambda _m: None, tracking=TrackingConfig(rigid_steps=10, steps=20))
    assert again.build([talking_clip[0]], split="val", progress=False)["items"] == summary["items"]
    assert not (out / "cache").exists()
    splits = json.loads((out / "splits.json").read_text())
    assert splits["train"] == [] and len(splits["val"]) == summary["items"]


def test_a_video_corpus_pools_with_a_built_one_of_the_same_rig(corpus, head, tmp_path, capsys):
    """train --data BUILT VIDEOS: Learn2Talk's pseudo-labels from real faces beside the teacher's."""
    from l2t_avatar.cli import main
    from sync_expert.data.clips import load_clips
    from tests.synthetic_corpus import write_synthetic_corpus

    out, summary, _ = corpus
    built = write_synthetic_corpus(tmp_path / "built", head, clips=6, seconds=2.0)
    from_video = 0
    for split in ("train", "val"):  # (the test above moved the video to val)
        alone, video = load_clips(built, split), load_clips(out, split)
        pooled = load_clips([built, out], split)
        assert len(pooled.clips) == len(alone.clips) + len(video.clips)
        assert not any(c.synthetic for c in pooled.clips[len(alone.clips) :])  # the video's clips are real speech
        assert pooled.info["sources"] == [str(built), str(out)] and pooled.expression_names == alone.expression_names
        from_video += len(video.clips)
    assert from_video == summary["items"]
    # another rig's corpus is refused in one line
    other = write_synthetic_corpus(tmp_path / "other", head, clips=6, seconds=2.0)
    lips = dict(np.load(other / "rig_lips.npz"))
    np.savez_compressed(other / "rig_lips.npz", **{**lips, "indices": lips["indices"][::-1]})
    args = ["--epochs", "1", "--batch-size", "1", "--device", "cpu", "--quiet"]
    assert main(["train", "audio2mesh", "--data", str(out), str(other), "--out", str(tmp_path / "mixed"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a corpus of the same rig" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "mixed").exists()
    # a vertex dataset (VOCASET, BIWI) is named for what it is
    from sync_expert.data.clips import pool_clip_sets

    vocaset_like = dataclasses.replace(load_clips(built, "train"), kind="vertices", info={"kind": "Vocaset"})
    with pytest.raises(L2TError, match="voca is a Vocaset dataset of vertex motion"):
        pool_clip_sets([load_clips(built, "train"), vocaset_like], [str(built), "voca"])


def test_videos_without_sound_and_foreign_folders(corpus, talking_clip, tmp_path):
    out, _, _ = corpus
    silent = tmp_path / "silent.mp4"
    import shutil
    import subprocess

    from avatar.io.audio import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(talking_clip[0]), "-an", "-c", "copy", str(silent)], check=True)
    notes = []
    faceless = tmp_path / "faceless.mp4"  # sound, but grey frames
    grey = ["-f", "lavfi", "-i", "color=c=gray:s=64x64:r=10", "-i", HELLO, "-shortest", "-pix_fmt", "yuv420p"]
    subprocess.run([ffmpeg_exe(), "-v", "error", *grey, str(faceless)], check=True)
    with pytest.raises(L2TError, match="no video gave an item"):
        VideoCorpus(tmp_path / "empty", fps=25.0, log=notes.append).build([silent, faceless], progress=False)
    assert notes[0] == "note: silent.mp4 has no sound; left out"
    assert notes[1].startswith("note: faceless.mp4: no face found") and notes[1].endswith("; left out")
    built = tmp_path / "built"
    built.mkdir()
    (built / "corpus.json").write_text(json.dumps({"sources": ["espeak"], "fps": 25.0}))
    with pytest.raises(L2TError, match="data build"):
        VideoCorpus(built, fps=25.0)
    with pytest.raises(L2TError, match="no such file"):
        video_files([str(tmp_path / "nowhere.mp4")])
    folder = tmp_path / "videos"
    folder.mkdir()
    shutil.copy(talking_clip[0], folder / "a.mp4")
    (folder / "notes.txt").write_text("x")
    assert [p.name for p in video_files([str(folder)])] == ["a.mp4"]


def test_resampling_keeps_only_frames_with_a_face_on_both_sides():
    params = {"jaw": torch.arange(10.0)[:, None].repeat(1, 3), "expression": torch.zeros(10, 2)}
    video_frames = np.array([0, 1, 2, 3, 4, 6, 7, 8, 9, 10])  # frame 5 has no face
    out, valid = resample_tracked(params, video_frames, 10.0, 0, 20.0, 22)
    # corpus frame k is video position k / 2: 4.5 and 5.0 and 5.5 lack a neighbour
    assert valid.tolist() == [True] * 9 + [False, False, False] + [True] * 9 + [False]
    assert out["jaw"][3, 0] == pytest.approx(1.5) and out["jaw"][12, 0] == pytest.approx(5.0)  # row 5 holds video frame 6
    shifted, ok = resample_tracked(params, video_frames, 10.0, 2, 10.0, 3)  # the video lags the sound by 2 frames
    assert ok.all() and shifted["jaw"][:, 0].tolist() == [2.0, 3.0, 4.0]
    assert [(p.start, p.stop) for p in pieces(np.array([True] * 30 + [False] + [True] * 60), 25.0)] == [(31, 91)]
