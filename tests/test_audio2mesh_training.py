"""Audio2Mesh training on a tiny synthetic corpus: it learns, resumes, runs under torchrun/gloo,
and the Learn2Talk terms (sync, lip reading, distillation) backpropagate into the model."""

import json
import os
import subprocess
import sys

import pytest
import torch

from audio2mesh.batches import make_batch
from audio2mesh.checkpoint import DEFAULTS, load_model
from audio2mesh.model import Audio2Mesh, preset_config
from audio2mesh.train import Audio2MeshTrainer, TrainConfig
from l2t_avatar.cli import main
from sync_expert.checkpoint import save_model
from tests.synthetic_corpus import write_synthetic_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, head):
    return write_synthetic_corpus(tmp_path_factory.mktemp("synthetic_corpus"), head, clips=12, seconds=3.0)


def tiny(**kw):
    return TrainConfig(**{"size": "tiny", "batch_size": 4, "lr": 4e-3, "warmup_steps": 5, "eval_every": 100, **kw})


def test_tiny_model_overfits_tiny_corpus(corpus, tmp_path):
    trainer = Audio2MeshTrainer(corpus, tmp_path / "run", tiny(epochs=80), torch.device("cpu"), progress=False)
    trainer.run()
    first, last = trainer.history[0]["train"]["total"], trainer.history[-1]["train"]["total"]
    assert last < first / 10, (first, last)
    assert (tmp_path / "run" / "best.pt").is_file() and len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 80
    model, meta = load_model(tmp_path / "run")
    assert meta["fps"] == 25.0 and len(meta["expression_names"]) == 39 and meta["val"]["all"]["clips"] == 2


def test_resume_continues_where_it_stopped(corpus, tmp_path):
    Audio2MeshTrainer(corpus, tmp_path / "run", tiny(epochs=2), torch.device("cpu"), progress=False).run()
    again = Audio2MeshTrainer(corpus, tmp_path / "run", tiny(epochs=4), torch.device("cpu"), resume=True, progress=False)
    assert again.epoch == 2 and again.step == 2 * again.steps_per_epoch
    again.run()
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert main(["train", "audio2mesh", "--data", str(corpus), "--out", str(tmp_path / "run"), "--size", "tiny", "--quiet"]) == 2


def test_learn2talk_terms_backpropagate_into_audio2mesh(corpus, tmp_path):
    teacher = Audio2Mesh(preset_config("tiny", num_params=42, num_offsets=268))
    save_model(tmp_path / "large.pt", "audio2mesh", teacher, {"expression_names": []})
    cfg = tiny(epochs=1, w_sync=1.0, w_lipread=0.1, w_distill=1.0, distill_from=str(tmp_path / "large.pt"))
    trainer = Audio2MeshTrainer(corpus, tmp_path / "run", cfg, torch.device("cpu"), progress=False)
    import numpy as np

    batch = make_batch(trainer.train_set.clips[:4], 50, 2, np.random.default_rng(0))
    terms = trainer.losses(batch)
    assert {"vertex", "velocity", "param", "sync", "lipread", "distill"} <= set(terms)
    for name in ("sync", "lipread", "distill"):
        trainer.model.zero_grad()
        terms = trainer.losses(batch)
        terms[name].backward()
        grad = trainer.model.conv_in.weight.grad
        assert grad is not None and float(grad.abs().sum()) > 0, name
    assert all(p.grad is None for p in trainer.sync.parameters())  # the expert stays frozen


def test_torchrun_with_two_gloo_processes(corpus, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "l2t_avatar.cli",
        "train",
        "audio2mesh",
        "--data",
        str(corpus),
        "--out",
        str(out),
        "--size",
        "tiny",
        "--epochs",
        "2",
        "--batch-size",
        "2",
        "--device",
        "cpu",
        "--quiet",
        "--eval-every",
        "2",
    ]
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    # 8 training clips in batches of 2 split over 2 processes: 2 steps per epoch each
    assert rows[-1]["step"] == 4 and (out / "best.pt").is_file()


def test_eval_audio2mesh_prints_labelled_metrics(corpus, capsys):
    assert main(["eval", "audio2mesh", "--data", str(corpus), "--split", "test", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for label in (
        "LVE, max-squared (CodeTalker), mm^2",
        "LVE, max L2 (square-rooted), mm",
        "FDD",
        "lip-aperture correlation",
        "LSE-D",
        "LSE-C",
        "phone error rate",
    ):
        assert label in out
    assert DEFAULTS["audio2mesh"].is_file()


def test_training_on_a_local_pretrained_encoder(corpus, tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
    )
    Wav2Vec2Model(config).save_pretrained(tmp_path / "w2v")
    cfg = tiny(epochs=2, audio_encoder=str(tmp_path / "w2v"))
    trainer = Audio2MeshTrainer(corpus, tmp_path / "run", cfg, torch.device("cpu"), progress=False)
    assert trainer.model.cfg.input_dim == 32 and trainer.model.cfg.input_rate == 50
    trainer.run()
    _, meta = load_model(tmp_path / "run")
    assert meta["audio_encoder"] == "wav2vec2"
    wav = tmp_path / "s.wav"
    from avatar.io.audio import write_wav
    from tests.test_speak import speech

    write_wav(wav, speech(1.0))
    common = ["speak", "--audio", str(wav), "--ckpt", str(tmp_path / "run"), "--size", "32", "--device", "cpu", "--quiet"]
    assert main([*common, "-o", str(tmp_path / "a.mp4")]) == 2  # trained on an encoder: it must be given
    assert main([*common, "-o", str(tmp_path / "b.mp4"), "--audio-encoder", str(tmp_path / "w2v")]) == 0
    with pytest.raises(Exception, match="--w-sync"):
        Audio2MeshTrainer(
            corpus, tmp_path / "run2", tiny(epochs=1, w_sync=1.0, audio_encoder=str(tmp_path / "w2v")), torch.device("cpu"), progress=False
        )


def test_training_and_eval_on_a_vocaset_layout_folder(tmp_path, capsys):
    import numpy as np

    from tests.test_datasets import VOCA_TEST, VOCA_TRAIN, fake_folder

    val_subject = "FaceTalk_170811_03275_TA"
    templates = {s: np.zeros((5023, 3)) for s in (VOCA_TRAIN, VOCA_TEST, val_subject)}
    t = np.arange(60)[:, None] / 60.0
    motion = lambda phase: (0.003 * np.sin(2 * np.pi * 3 * t + phase) * np.ones((1, 5023 * 3))).astype(np.float32)  # noqa: E731
    clips = {f"{VOCA_TRAIN}_sentence0{i}": motion(i) for i in range(1, 5)}
    clips[f"{val_subject}_sentence22"] = motion(0.5)
    clips[f"{VOCA_TEST}_sentence25"] = motion(1.5)
    root = fake_folder(tmp_path / "voca", templates, clips, seconds=1.0)
    trainer = Audio2MeshTrainer(root, tmp_path / "run", tiny(epochs=6, eval_every=3), torch.device("cpu"), progress=False)
    assert not trainer.corpus and trainer.model.cfg.num_offsets == 5023 and trainer.model.cfg.num_params == 0
    trainer.run()
    assert trainer.history[-1]["train"]["vertex"] < trainer.history[0]["train"]["vertex"]
    assert main(["eval", "audio2mesh", "--data", str(root), "--ckpt", str(tmp_path / "run"), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "LVE, max-squared (CodeTalker), mm^2" in out and "1 clips" in out


def _bilabial_excess(trainer) -> float:
    """Mean excess (mm) of the predicted inner-lip gap over the reference's on the M frames of the training clips."""
    from audio2mesh.inference import predict
    from audio2mesh.train import bilabial_frames
    from sync_expert.features import dequantise

    excess, frames = 0.0, 0
    with torch.no_grad():
        for clip in trainer.train_set.clips:
            out = predict(trainer.model, dequantise(clip.codes), clip.fps, clip.num_frames)
            pred = 1000 * trainer.space.lip_gap(out.params)
            ref = 1000 * trainer.space.lip_gap(torch.as_tensor(clip.params))
            on = bilabial_frames(torch.as_tensor(clip.phones))
            excess += float(torch.relu(pred - ref)[on].sum())
            frames += int(on.sum())
    assert frames > 20
    return excess / frames


def test_closure_loss_closes_the_lips_on_bilabials(tmp_path, head):
    corpus = write_synthetic_corpus(tmp_path / "corpus", head, clips=9, seconds=3.0, bilabials=True)
    excess = {}
    for weight in (0.0, 1.0):
        cfg = tiny(epochs=15, w_closure=weight, w_amplitude=0.1 * weight)
        trainer = Audio2MeshTrainer(corpus, tmp_path / f"run{weight}", cfg, torch.device("cpu"), progress=False)
        trainer.run()
        excess[weight] = _bilabial_excess(trainer)
        if weight:
            assert trainer.history[-1]["train"]["closure"] >= 0 and "amplitude" in trainer.history[-1]["train"]
    print(f"bilabial gap excess over the reference, mm: without {excess[0.0]:.2f}, with the closure loss {excess[1.0]:.2f}")
    assert excess[1.0] < 0.7 * excess[0.0], excess


def test_mel_warp_moves_formants_and_keeps_identity():
    from audio2mesh.batches import warp_mel

    features = torch.zeros(2, 5, 80)
    features[:, :, 20] = 1.0  # a "formant" at mel bin 20
    warped = warp_mel(features, [1.0, 1.25])
    assert torch.equal(warped[0], features[0])
    assert int(warped[1, 0].argmax()) == 25 and float(warped[1, 0].sum()) == pytest.approx(1.25, abs=0.3)


@pytest.mark.parametrize("flag", [["--mel-warp", "0.7"], ["--w-closure", "-1"], ["--w-amplitude", "nan"]])
def test_bad_closure_and_warp_options(corpus, tmp_path, capsys, flag):
    assert main(["train", "audio2mesh", "--data", str(corpus), "--out", str(tmp_path / "r"), "--size", "tiny", "--quiet", *flag]) == 2
    assert "must be" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_init_from_starts_from_a_checkpoint_of_the_same_shape(corpus, tmp_path):
    from avatar.errors import L2TError

    Audio2MeshTrainer(corpus, tmp_path / "first", tiny(epochs=1), torch.device("cpu"), progress=False).run()
    start, _ = load_model(tmp_path / "first" / "best.pt")
    again = Audio2MeshTrainer(
        corpus, tmp_path / "again", tiny(epochs=1, init_from=str(tmp_path / "first" / "best.pt")), torch.device("cpu")
    )
    for name, value in start.state_dict().items():
        assert torch.equal(again.model.state_dict()[name], value), name
    with pytest.raises(L2TError, match="--init-from"):
        Audio2MeshTrainer(
            corpus, tmp_path / "big", tiny(size="student", init_from=str(tmp_path / "first" / "best.pt")), torch.device("cpu")
        )
