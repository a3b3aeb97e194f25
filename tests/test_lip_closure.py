"""Lips that meet: the mouthClose solve, the closure gate, the closure head through training,
calibration, offline and streaming speech (audio2mesh.lip_closure)."""

import numpy as np
import pytest
import torch

from audio2mesh.checkpoint import load_model
from audio2mesh.encoders import MelFrontEnd
from audio2mesh.lip_closure import CLOSED_GAP, CLOSURE_JAW, ClosureGate, LipCloser, close_lips
from audio2mesh.model import Audio2Mesh, preset_config
from audio2mesh.speech import Speaker
from audio2mesh.teacher.animator import inner_lip_gap
from audio2mesh.train import Audio2MeshTrainer, TrainConfig
from l2t_avatar.cli import main
from tests.synthetic_corpus import write_synthetic_corpus


def _open_params(head, frames: int = 5) -> torch.Tensor:
    """Jaw open 0.02..0.06 rad with some lip shapes: the lips a few mm apart."""
    params = torch.zeros(frames, 3 + head.num_expressions)
    params[:, 0] = torch.linspace(0.02, 0.06, frames)
    params[:, 3 + head.expression_index("mouthLowerDown_L")] = 0.3
    return params


def _opening(head):
    def opening(p):
        return inner_lip_gap(head, head(expression=p[:, 3:], jaw=p[:, :3], batch_size=len(p)).vertices)

    return opening


def test_close_lips_meets_the_asked_fraction_whatever_the_jaw(head):
    params = _open_params(head)
    opening = _opening(head)
    before = opening(params)
    assert float(before.min()) > 0.001
    close = 3 + head.expression_index("mouthClose")
    shut = close_lips(params, torch.ones(5), opening, close)
    assert torch.allclose(opening(shut), torch.full((5,), CLOSED_GAP), atol=2e-4)
    half = close_lips(params, torch.full((5,), 0.5), opening, close)
    assert torch.allclose(opening(half), 0.5 * before + 0.5 * CLOSED_GAP, atol=2e-4)
    same = close_lips(params, torch.zeros(5), opening, close)
    assert torch.equal(same, params)
    changed = (shut - params).abs().sum(0) > 0
    assert changed.nonzero().flatten().tolist() == [close]  # only mouthClose moves
    again = close_lips(shut, torch.ones(5), opening, close)  # already closed: stays
    assert torch.allclose(again, shut, atol=1e-3)


def test_gate_maps_probability_between_its_thresholds():
    gate = ClosureGate(0.2, 0.6)
    got = gate(torch.tensor([0.0, 0.2, 0.4, 0.6, 0.9]))
    assert torch.allclose(got, torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))
    assert ClosureGate.from_meta({"closure_gate": gate.to_dict()}) == gate
    assert ClosureGate.from_meta({}) is None
    with pytest.raises(ValueError):
        ClosureGate(0.5, 0.5)


def test_lip_closer_works_in_the_models_own_expression_layout(head):
    names = ["mouthLowerDown_L", "mouthClose", "mouthPucker"]  # a model speaking 3 of the rig's expressions
    closer = LipCloser(head, names, ClosureGate(0.0, 1.0))
    params = torch.zeros(4, 3 + len(names))
    params[:, 0], params[:, 3] = 0.08, 0.3
    logits = torch.tensor([-20.0, 0.0, 20.0, 20.0])  # probabilities 0, 0.5, 1, 1
    closed = closer(params, logits)
    opening = closer.opening(closed)
    assert torch.allclose(opening[2:], torch.full((2,), CLOSED_GAP), atol=2e-4)
    halfway = 0.5 * closer.opening(params)[1] + 0.5 * CLOSED_GAP
    assert CLOSED_GAP + 1e-3 < float(opening[1]) < float(halfway)  # half the gate: the jaw half up, then half the gap
    assert torch.allclose(closed[0], params[0], atol=1e-6)
    assert float(closed[2, 0]) == pytest.approx(CLOSURE_JAW) and float(closed[1, 0]) == pytest.approx(0.5 * (0.08 + CLOSURE_JAW))
    full = torch.zeros(4, 3 + head.num_expressions)  # the same pose in the rig's layout
    full[:, :3] = closed[:, :3]
    for i, n in enumerate(names):
        full[:, 3 + head.expression_index(n)] = closed[:, 3 + i]
    assert torch.allclose(_opening(head)(full), opening, atol=1e-6)


def test_streaming_equals_offline_with_the_closure_gate(head):
    torch.manual_seed(0)
    model = Audio2Mesh(preset_config("tiny", num_params=3 + head.num_expressions, num_offsets=4, closure_head=True)).eval()
    torch.nn.init.normal_(model.param_head.weight, std=0.2)  # motion big enough for the gate to matter
    torch.nn.init.normal_(model.closure_head.weight, std=1.0)
    meta = {"expression_names": head.data.expression_names, "audio_encoder": None, "closure_gate": {"low": 0.3, "high": 0.6}}
    speaker = Speaker(model, meta, MelFrontEnd(), torch.device("cpu"), LipCloser.for_checkpoint(model, meta))
    assert speaker.closer is not None
    t = np.arange(32000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)
    names, label = head.data.expression_names, head.data.name
    offline = speaker.motion(audio, 25.0, names, label).params
    stream = speaker.stream(25.0, names, label)
    parts = [stream.push(audio[i : i + 1600]).params for i in range(0, len(audio), 1600)] + [stream.flush().params]
    # the stream normalises with running statistics: compare only that it emits every frame, closed the same way
    streamed = torch.cat([p["expression"] for p in parts])
    assert streamed.shape == offline["expression"].shape
    plain = Speaker(model, meta, MelFrontEnd(), torch.device("cpu")).motion(audio, 25.0, names, label).params
    close = head.expression_index("mouthClose")
    raised = offline["expression"][:, close] - plain["expression"][:, close]
    assert float(raised.min()) >= 0 and float(raised.max()) > 0.05  # the gate closed some frames, opened none
    others = [i for i in range(head.num_expressions) if i != close]
    assert torch.equal(offline["expression"][:, others], plain["expression"][:, others])
    assert bool((offline["jaw"][:, 0] <= plain["jaw"][:, 0] + 1e-7).all())  # the jaw only rises


@pytest.fixture(scope="module")
def bilabial_corpus(tmp_path_factory, head):
    return write_synthetic_corpus(tmp_path_factory.mktemp("bilabial_corpus"), head, clips=9, seconds=3.0, bilabials=True)


def _closure_rate(speaker: Speaker, clips, space) -> float:
    """Pooled closure of the speaker's motion (gate included) over the clips' bilabials."""
    from audio2mesh.inference import predict
    from audio2mesh.metrics import bilabial_closure, frame_segments, pooled_closure
    from sync_expert.features import dequantise

    rows = []
    with torch.no_grad():
        for clip in clips:
            out = predict(speaker.model, dequantise(clip.codes), clip.fps, clip.num_frames)
            gap = 1000 * space.lip_gap(speaker._closed(out)).numpy()
            rows.append(bilabial_closure(gap, frame_segments(clip.phones, clip.fps), clip.fps))
    return pooled_closure(rows)


def test_closure_head_trained_alone_learns_bilabials_and_closes_more(bilabial_corpus, tmp_path):
    tiny = dict(size="tiny", batch_size=4, warmup_steps=5, eval_every=100)
    base = Audio2MeshTrainer(
        bilabial_corpus, tmp_path / "base", TrainConfig(epochs=3, lr=4e-3, **tiny), torch.device("cpu"), progress=False
    )
    base.run()
    cfg = TrainConfig(epochs=30, lr=2e-2, w_bilabial=1.0, only_closure_head=True, init_from=str(tmp_path / "base" / "best.pt"), **tiny)
    trainer = Audio2MeshTrainer(bilabial_corpus, tmp_path / "head", cfg, torch.device("cpu"), progress=False)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    first, last = trainer.history[0]["train"]["bilabial"], trainer.history[-1]["train"]["bilabial"]
    assert last < 0.8 * first, (first, last)
    after = trainer.model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if not k.startswith("closure_head."))  # the rest is frozen

    model, meta = load_model(tmp_path / "head")
    gate = ClosureGate.from_meta(meta)
    assert gate is not None and len(meta["closure_calibration"]) > 3
    with_gate = Speaker.load(tmp_path / "head")
    without = Speaker.load(tmp_path / "head", close_lips=False)
    assert with_gate.closer is not None and without.closer is None
    clips = trainer.train_set.clips
    rates = _closure_rate(with_gate, clips, trainer.space), _closure_rate(without, clips, trainer.space)
    print(f"closure on the training clips: with the gate {rates[0]:.2f}, without {rates[1]:.2f}")
    assert rates[0] > rates[1] + 0.4, rates  # measured: 0.93 against 0.11


def test_only_closure_head_needs_a_model_and_a_weight(bilabial_corpus, tmp_path, capsys):
    args = ["train", "audio2mesh", "--data", str(bilabial_corpus), "--out", str(tmp_path / "r"), "--size", "tiny", "--quiet"]
    assert main([*args, "--only-closure-head"]) == 2
    assert "--init-from" in capsys.readouterr().err and not (tmp_path / "r").exists()
