"""Audio2Mesh: front-end, bounded-context model, chunked and streaming inference, training."""

import numpy as np
import pytest
import torch

from audio2mesh.checkpoint import load_model
from audio2mesh.inference import StreamingPredictor, predict
from audio2mesh.model import Audio2Mesh, preset_config
from avatar.errors import L2TError
from avatar.io.audio import read_audio
from avatar.motion import frames_for
from sync_expert.checkpoint import save_model
from sync_expert.features import HOP, NormStats, dequantise, log_mel, quantise, speech_features


def random_model(size="tiny", **kw):
    torch.manual_seed(0)
    model = Audio2Mesh(preset_config(size, dropout=0.0, **kw)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.05)
    return model


def speechlike(seconds, rate=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    return (0.3 * env * np.sin(2 * np.pi * 180 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("rate,channels", [(8000, 1), (22050, 2), (44100, 2), (11025, 1)])
def test_any_rate_and_channel_count_gives_duration_times_fps_frames(tmp_path, rate, channels):
    import wave

    seconds = 1.32
    mono = speechlike(seconds, rate)
    data = np.stack([mono] * channels, 1) if channels > 1 else mono[:, None]
    path = tmp_path / f"a_{rate}_{channels}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((data * 32767).astype(np.int16).tobytes())
    audio = read_audio(path)
    assert abs(len(audio) / 16000 - seconds) < 0.01
    feats = speech_features(audio)
    assert feats.shape == (len(audio) // HOP + 1, 80)
    assert abs(float(feats.mean())) < 1e-4 and abs(float(feats.std()) - 1) < 1e-3  # per-utterance normalisation
    model = random_model()
    for fps in (25, 30, 60):
        n = frames_for(len(audio) / 16000, fps)
        out = predict(model, feats, fps, n, with_offsets=True)
        assert n == round(seconds * fps)
        assert out.params.shape == (n, 42) and out.offsets.shape == (n, 268, 3)


def test_normalisation_removes_most_of_a_gain_change():
    audio = speechlike(2.0)
    a, b = speech_features(audio), speech_features(audio * 0.5)
    raw_shift = float((log_mel(audio) - log_mel(audio * 0.5)).abs().mean())  # ~ln 4 before normalisation
    assert raw_shift > 1.0 and float((a - b).abs().mean()) < 0.05


def test_chunked_inference_equals_one_pass():
    model = random_model()
    feats = speech_features(speechlike(11.0))
    n = frames_for(11.0, 25)
    whole = predict(model, feats, 25, n, chunk_seconds=1000, with_offsets=True)
    chunked = predict(model, feats, 25, n, chunk_seconds=1.1, with_offsets=True)
    assert torch.allclose(whole.params, chunked.params, atol=1e-5)
    assert torch.allclose(whole.offsets, chunked.offsets, atol=1e-7)
    part = predict(model, feats, 25, 40, start_frame=100, chunk_seconds=1.1)
    assert torch.allclose(part.params, whole.params[100:140], atol=1e-5)


def test_streaming_equals_offline_with_fixed_statistics_and_has_a_bounded_lookahead():
    model = random_model()
    audio = speechlike(6.0)
    feats = speech_features(audio)
    offline = predict(model, feats, 25, frames_for(6.0, 25)).params
    stream = StreamingPredictor(model, 25, NormStats.of(log_mel(audio)))
    outs, emitted = [], 0
    for start in range(0, len(audio), 1600):  # 100 ms chunks
        out = stream.push(audio[start : start + 1600]).params
        emitted += len(out)
        heard = (start + 1600) / 16000
        assert emitted / 25 >= heard - stream.lookahead_seconds - 0.1  # frames keep up with the audio
        outs.append(out)
    outs.append(stream.flush().params)
    streamed = torch.cat(outs)
    assert streamed.shape == offline.shape
    assert torch.allclose(streamed, offline, atol=1e-5)
    assert stream.lookahead_seconds < 0.2
    assert len(stream.buffer) < 16000 * 4  # only the context window is kept


def test_quantised_features_round_trip():
    feats = speech_features(speechlike(1.0))
    back = dequantise(quantise(feats))
    assert float((back - feats.clamp(-4, 255 / 32 - 4)).abs().max()) <= 1 / 64 + 1e-6


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    model = random_model()
    path = save_model(tmp_path / "m.pt", "audio2mesh", model, {"expression_names": ["a"], "fps": 25.0})
    loaded, meta = load_model(path)
    feats = speech_features(speechlike(1.0))
    a = predict(model, feats, 25, 25).params
    b = predict(loaded, feats, 25, 25).params
    assert meta["fps"] == 25.0 and torch.allclose(a, b, atol=2e-3)  # float16 weights
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(L2TError, match="cannot read"):
        load_model(tmp_path / "junk.pt")
    with pytest.raises(L2TError, match="not found"):
        load_model(tmp_path / "missing.pt")


def test_pretrained_encoder_loads_only_from_a_local_folder(tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from audio2mesh.encoders import PretrainedEncoder, check_front_end, front_end

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
    encoder = front_end(tmp_path / "w2v")
    assert isinstance(encoder, PretrainedEncoder) and encoder.name == "wav2vec2" and encoder.rate == 50
    feats = encoder(speechlike(1.5))
    assert feats.shape == (75, 32)
    model = random_model(input_dim=32, input_rate=50.0)
    assert predict(model, feats, 25, 38).params.shape == (38, 42)
    with pytest.raises(L2TError, match="log-mel"):
        check_front_end({"audio_encoder": None}, encoder)
    with pytest.raises(L2TError, match="no config.json"):
        front_end(tmp_path / "missing")
