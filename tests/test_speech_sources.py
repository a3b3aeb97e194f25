"""Speech engines, the aligner and augmentation, on real synthesised and recorded speech."""

import numpy as np
import pytest

from audio2mesh.data import align
from audio2mesh.data.augment import Augmentation, apply_augmentation, draw_augmentation
from audio2mesh.data.real_speech import allison_prompts, codec2_recordings, split_at_pauses
from audio2mesh.data.tts import Espeak, Festival, Flite
from avatar.io.audio import SPEECH_RATE, read_audio
from tests.conftest import needs

TEXT = "Measure the beige thing, then join the boy at the zoo."


def check_speech(speech, min_phones=25):
    a = speech.alignment
    assert speech.audio.dtype == np.float32 and np.abs(speech.audio).max() > 0.05
    assert a.duration == pytest.approx(speech.seconds, abs=0.02)
    assert np.all(a.ends > a.starts) and np.allclose(a.starts[1:], a.ends[:-1])
    spoken = [p for p in a.phones if p != "SIL"]
    assert len(spoken) >= min_phones and {"ZH", "OY", "M", "B"} <= set(spoken)


@needs(Espeak.available(), "espeak-ng")
def test_espeak_voices_speed_and_timings():
    slow = Espeak().synthesize(TEXT, "en-us+f3", words_per_minute=120)
    fast = Espeak().synthesize(TEXT, "en-gb-x-rp+m2", words_per_minute=240)
    check_speech(slow), check_speech(fast)
    assert slow.seconds > 1.5 * fast.seconds
    assert len(Espeak.variants()) > 50


@needs(Festival.available() and bool(Festival().voices()), "festival voices")
@pytest.mark.parametrize("voice", ["kal", "slt"])
def test_festival(voice):
    check_speech(Festival().synthesize(TEXT, voice, stretch=1.1))


@needs(Flite.available(), "flite")
def test_flite():
    assert {"kal", "awb", "rms", "slt"} <= set(Flite().voices())
    check_speech(Flite().synthesize(TEXT, "awb", stretch=0.9, f0_mean=150))


@needs(align.available() and Espeak.available(), "pocketsphinx and espeak-ng")
def test_forced_alignment_recovers_known_timings():
    """Align espeak's audio to its text: boundaries land within ~40 ms of espeak's own timings."""
    speech = Espeak().synthesize("Please enter your password followed by the pound key.", "en-us+m1", 160)
    found = align.force_align(speech.audio, "Please enter your password followed by the pound key.")
    assert found is not None and found.duration == pytest.approx(speech.seconds, abs=0.01)
    truth, errors = speech.alignment, []
    for phone, start in zip(found.phones, found.starts):
        if phone == "SIL":
            continue
        same = [s for p, s in zip(truth.phones, truth.starts) if p == phone]
        if same:
            errors.append(min(abs(s - start) for s in same))
    assert len(errors) >= 20 and np.median(errors) < 0.04, np.median(errors)


@needs(bool(allison_prompts()) and align.available(), "asterisk-core-sounds-en(-wav) and pocketsphinx")
def test_word_recognition_and_its_alignment_on_a_real_recording():
    prompt = next(c for c in allison_prompts() if c.transcript and len(c.transcript.split()) >= 5)
    audio = read_audio(prompt.path)
    words = align.recognize_words(audio)
    spoken = set(align.normalise_transcript(prompt.transcript))
    heard = align.normalise_transcript(words)
    assert len(spoken & set(heard)) >= 3, (prompt.transcript, words)  # 8 kHz speech: recognition is rough
    found = align.word_alignment(audio)
    assert found is not None and found.duration == pytest.approx(len(audio) / SPEECH_RATE, abs=0.01)


@needs(align.available(), "pocketsphinx")
def test_alignment_handles_numbers_compounds_and_unknown_words():
    assert align.normalise_transcript("Press 1, then 162 & unmute") == [
        "press",
        "one",
        "then",
        "one",
        "hundred",
        "sixty",
        "two",
        "and",
        "unmute",
    ]
    assert align.compound_pronunciation("unmute") is not None
    assert align.force_align(np.zeros(SPEECH_RATE, np.float32), "zzqxv blorf") is None


@needs(bool(allison_prompts()) and bool(codec2_recordings()), "asterisk-core-sounds-en(-wav) and codec2-examples")
def test_real_speech_sources():
    prompts = allison_prompts()
    assert len(prompts) > 500 and all(p.transcript and "[" not in p.transcript for p in prompts)
    assert 20 * 60 < sum(p.seconds() for p in prompts[:50]) * len(prompts) / 50 < 40 * 60
    clips = codec2_recordings()
    assert len({c.speaker for c in clips}) >= 12
    long = next(c for c in clips if c.clip_id == "codec2-ve9qrp")
    audio = read_audio(long.path, raw_pcm_rate=long.raw_pcm_rate)
    pieces = split_at_pauses(audio, max_seconds=8.0)
    assert pieces[0][0] == 0 and pieces[-1][1] == len(audio)
    assert all(b - a <= 8 * SPEECH_RATE for a, b in pieces) and all(pieces[i][1] == pieces[i + 1][0] for i in range(len(pieces) - 1))


def test_augmentation_moves_timings_with_speed():
    from sync_expert.phones import PhoneAlignment

    rng = np.random.default_rng(0)
    t = np.arange(2 * SPEECH_RATE) / SPEECH_RATE
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * (t > 1.0)).astype(np.float32)  # silence, then a tone at 1.0 s
    alignment = PhoneAlignment.from_end_times(["SIL", "AA"], [1.0, 2.0])
    aug = Augmentation(speed=1.25, snr_db=20.0, reverb_rt60=0.3, reverb_wet=0.3, gain_db=-6.0)
    out, moved = apply_augmentation(audio, alignment, aug, rng)
    assert len(out) == pytest.approx(len(audio) / 1.25, abs=2)
    assert moved.ends[0] == pytest.approx(0.8, abs=0.002) and moved.duration == pytest.approx(len(out) / SPEECH_RATE)
    assert np.isfinite(out).all() and np.abs(out).max() <= 0.99
    quiet = out[: int(0.7 * SPEECH_RATE)].std()  # noise (and no tone yet) before the moved onset
    assert 0.0 < quiet < 0.2 * out[int(0.9 * SPEECH_RATE) :].std()
    sped, _ = apply_augmentation(audio, alignment, Augmentation(speed=1.25), rng)
    onset = np.argmax(np.abs(sped) > 0.2) / SPEECH_RATE  # the tone starts where the moved timing says
    assert 0.79 < onset < 0.81
    clean, _ = apply_augmentation(audio, alignment, Augmentation(), rng)
    assert np.allclose(clean, audio, atol=1e-6)
    draws = [draw_augmentation(np.random.default_rng(s)) for s in range(50)]
    assert draw_augmentation(np.random.default_rng(3)) == draws[3]
    assert any(d.snr_db is not None for d in draws) and any(d.speed != 1.0 for d in draws) and any(d.band_rate < SPEECH_RATE for d in draws)
