"""SyncNet3D and the lip reader on a tiny synthetic corpus, and `eval sync` on bad input."""

import numpy as np
import pytest
import torch

from avatar.io.audio import write_wav
from l2t_avatar.cli import main
from sync_expert.features import dequantise
from sync_expert.lip_reader import edit_distance, greedy_decode, phone_targets
from sync_expert.lips import shift_motion
from sync_expert.train import ExpertConfig, LipReaderTrainer, SyncTrainer, sync_infonce
from sync_expert.windows import audio_windows, lip_run, lip_windows, sync_score
from tests.synthetic_corpus import write_synthetic_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, head):
    return write_synthetic_corpus(tmp_path_factory.mktemp("sync_corpus"), head, clips=12, seconds=3.0, seed=1)


@pytest.fixture(scope="module")
def expert(corpus, tmp_path_factory):
    cfg = ExpertConfig(epochs=3, steps_per_epoch=20, batch_size=32, lr=2e-3, eval_clips=4)
    trainer = SyncTrainer(corpus, tmp_path_factory.mktemp("sync") / "run", cfg, torch.device("cpu"), progress=False)
    trainer.run()
    return trainer


def test_expert_separates_aligned_from_shifted_windows(expert):
    data = expert.val
    model = expert.model.eval()
    aligned, shifted = [], []
    with torch.no_grad():
        for clip, off in zip(data.clips, data.offsets):
            feats = dequantise(clip.codes)
            frames = torch.arange(10, off.shape[0] - 10)
            a = model.embed_audio(audio_windows(feats, frames, clip.fps))
            aligned.append((a * model.embed_lips(lip_windows(off, frames), data.rest)).sum(-1))
            shifted.append((a * model.embed_lips(lip_windows(off, frames + 6), data.rest)).sum(-1))
    assert float(torch.cat(aligned).mean()) > float(torch.cat(shifted).mean()) + 0.2


def test_lse_of_aligned_motion_beats_motion_shifted_by_five_frames(expert):
    data = expert.val
    for clip, off in zip(data.clips, data.offsets):
        feats = dequantise(clip.codes)
        good = sync_score(expert.model, feats, off, data.rest, clip.fps)
        bad = sync_score(expert.model, feats, shift_motion(off, 5), data.rest, clip.fps, max_offset=0)
        assert good.lse_d < bad.lse_d
        found = sync_score(expert.model, feats, shift_motion(off, 5), data.rest, clip.fps)
        assert abs(found.offset - 5) <= 1 and found.lse_c > 0


def test_lip_runs_embed_each_window_as_embed_lips_does(expert):
    off = expert.val.offsets[0]
    model, rest = expert.model.eval(), expert.val.rest
    with torch.no_grad():
        windows = model.embed_lips(lip_windows(off, torch.arange(off.shape[0])), rest)
        runs = model.embed_lip_runs(lip_run(off, 0, off.shape[0])[None], rest)[0]
        middle = model.embed_lip_runs(lip_run(off, 7, 19)[None], rest)[0]
    torch.testing.assert_close(runs, windows, atol=1e-5, rtol=0)
    torch.testing.assert_close(middle, windows[7:19], atol=1e-5, rtol=0)


def test_a_batch_is_runs_of_consecutive_frames_of_a_few_clips(corpus, tmp_path):
    cfg = ExpertConfig(epochs=1, steps_per_epoch=1, batch_size=32, run_frames=8, min_shift=3, eval_clips=2)
    trainer = SyncTrainer(corpus, tmp_path / "run", cfg, torch.device("cpu"), progress=False)
    audio, runs, clips, frames = trainer._sample(np.random.default_rng(0), cfg.batch_size)
    pk = trainer._packed
    assert audio.shape[0] == 32 and runs.shape[:2] == (4, 8 + 4)
    assert torch.equal(frames.view(4, 8).diff(dim=1), torch.ones(4, 7, dtype=torch.long))  # consecutive frames
    torch.testing.assert_close(audio, pk.audio_windows(clips, frames))
    windows = pk.lip_windows(clips, frames).view(4, 8, 5, *runs.shape[2:])
    torch.testing.assert_close(runs.unfold(1, 5, 1).permute(0, 1, 4, 2, 3), windows)
    assert np.isfinite(float(trainer.loss(np.random.default_rng(0)).detach()))


@pytest.mark.parametrize("min_shift", [1, 2, 4])
def test_infonce_leaves_out_own_clip_windows_closer_than_min_shift(min_shift):
    # two runs of 4 windows; within a run every window embeds alike, the runs orthogonally: a pair's
    # logit row holds itself (scale), its run's others (scale, kept when >= min_shift away) and the
    # other run's four (0)
    scale, run = 5.0, 4
    emb = torch.eye(2).repeat_interleave(run, 0)
    clips, frames = torch.tensor([0] * run + [1] * run), torch.arange(run).repeat(2)
    loss = float(sync_infonce(emb, emb, torch.tensor(scale), clips, frames, min_shift))
    kept = [sum(abs(i - j) >= min_shift for j in range(run)) for i in range(run)]
    expected = np.mean([np.log1p((k * np.exp(scale) + run) / np.exp(scale)) for k in kept])
    assert loss == pytest.approx(expected, rel=1e-5)


def test_lip_reader_trains_and_ctc_helpers(corpus, tmp_path):
    cfg = ExpertConfig(epochs=2, steps_per_epoch=15, batch_size=64, lr=3e-3, eval_clips=4)
    trainer = LipReaderTrainer(corpus, tmp_path / "reader", cfg, torch.device("cpu"), progress=False)
    rows = [trainer.run()]
    assert rows[-1]["train"]["loss"] < 5.0 and 0.0 <= rows[-1]["val"]["per"] <= 1.5
    assert phone_targets(np.array([0, 0, 3, 3, 0, 3, 5, 5])) == [3, 3, 5]
    assert edit_distance([1, 2, 3], [1, 3]) == 1 and edit_distance([], [4, 4]) == 2
    log_probs = torch.full((6, 40), -9.0)
    for t, c in enumerate([0, 7, 7, 0, 7, 2]):
        log_probs[t, c] = 0.0
    assert greedy_decode(log_probs) == [7, 7, 2]


def _motion(path, frames, fps=25.0):
    np.savez(path, jaw=np.zeros((frames, 3), np.float32), expression=np.zeros((frames, 39), np.float32), fps=np.float32(fps))


@pytest.mark.parametrize("case", ["length", "missing_audio", "bad_motion", "no_motion", "both"])
def test_eval_sync_rejects_bad_input(tmp_path, capsys, case):
    rng = np.random.default_rng(0)
    wav = write_wav(tmp_path / "a.wav", (0.2 * rng.standard_normal(32000)).astype(np.float32))  # 2 s
    motion = tmp_path / "m.npz"
    _motion(motion, 80 if case == "length" else 50)
    args = ["eval", "sync", "--audio", str(wav), "--motion", str(motion), "--device", "cpu"]
    if case == "missing_audio":
        args[3] = str(tmp_path / "nope.wav")
    elif case == "bad_motion":
        motion.write_bytes(b"garbage")
    elif case == "no_motion":
        args = args[:4] + ["--device", "cpu"]
    elif case == "both":
        args += ["--data", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("l2t-avatar eval: error:")


def test_eval_sync_scores_one_clip(tmp_path, capsys):
    rng = np.random.default_rng(0)
    wav = write_wav(tmp_path / "a.wav", (0.2 * rng.standard_normal(32000)).astype(np.float32))
    _motion(tmp_path / "m.npz", 50)
    assert main(["eval", "sync", "--audio", str(wav), "--motion", str(tmp_path / "m.npz"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "LSE-D" in out and "LSE-C" in out and "offset" in out and "lower = better sync" in out
