"""The bilabial-closure metric on alignments with known answers, the phone-file reader, and
`eval sync --alignment` on teacher motion (whose lips close on every M/B/P by construction)."""

import numpy as np
import pytest

from audio2mesh.data import align
from audio2mesh.data.tts import Espeak
from audio2mesh.metrics import bilabial_closure, frame_segments, pooled_closure
from avatar.errors import L2TError
from l2t_avatar.cli import main
from sync_expert.phones import PHONE_INDEX, read_phone_file
from tests.conftest import needs

FPS = 25.0


def _gap(frames: int, closed: list[int], open_mm: float = 10.0) -> np.ndarray:
    gap = np.full(frames, open_mm)
    gap[closed] = 0.2
    return gap


def test_closure_counts_each_bilabial_that_closes_within_a_frame():
    # Three bilabials: M at 0.40-0.48 s (frames 10-12), B at 1.00-1.08 s (25-27), P at 1.60-1.64 s (40-41).
    segments = [("AA", 0.1, 0.3), ("M", 0.40, 0.48), ("AE", 0.6, 0.8), ("B", 1.00, 1.08), ("P", 1.60, 1.64)]
    gap = _gap(60, closed=[11, 28])  # M closes inside; B one frame after its end (frame 27 + 1): both count
    c = bilabial_closure(gap, segments, FPS)
    assert (c["bilabials"], c["closed"]) == (3, 2) and c["closure_rate"] == pytest.approx(2 / 3)
    late = bilabial_closure(_gap(60, closed=[11, 30]), segments, FPS)  # B closes 3 frames late: missed
    assert late["closed"] == 1
    assert c["gap_p95_mm"] == pytest.approx(10.0) and c["gap_p5_mm"] == pytest.approx(10.0)


def test_open_vowel_ratio_and_a_threshold_relative_to_the_clip():
    segments = [("AA", 0.0, 0.4), ("M", 0.4, 0.5), ("AH", 0.5, 0.9), ("P", 0.9, 1.0)]
    gap = np.full(30, 8.0)
    gap[11], gap[23] = 1.0, 2.0  # both under 20% of the 8 mm 95th percentile... (1.6 mm) only the first is
    c = bilabial_closure(gap, segments, FPS)
    assert c["closed"] == 1
    # centres: AA at frame 5 (8 mm), AH at 18 (8 mm); M at round(11.25) = 11 (1 mm), P at round(23.75) = 24 (8 mm)
    assert c["open_bilabial_ratio"] == pytest.approx(8.0 / ((1.0 + 8.0) / 2))


def test_frame_segments_and_pooling():
    track = np.array([0, 0, PHONE_INDEX["M"], PHONE_INDEX["M"], PHONE_INDEX["AA"], 0])
    assert frame_segments(track, FPS) == [("M", 0.08, 0.16), ("AA", 0.16, 0.2)]
    rows = [{"bilabials": 3, "closed": 3}, {"bilabials": 1, "closed": 0}, {"bilabials": 0, "closed": 0}]
    assert pooled_closure(rows) == 0.75  # over phones, not the mean of clip rates (0.5)
    assert bilabial_closure(np.full(10, 5.0), [("AA", 0.0, 0.4)], FPS)["closure_rate"] is None


def test_phone_files(tmp_path):
    good = tmp_path / "a.txt"
    good.write_text("# start end phone\n0.00 0.10 sil\n0.10 0.20 m\n0.20 0.35 AA1   # stress digits are fine\n")
    alignment = read_phone_file(good)
    assert alignment.phones == ["SIL", "M", "AA"] and alignment.ends[-1] == pytest.approx(0.35)
    for text, message in (("0.1 0.2\n", "line 1"), ("0.2 0.1 M\n", "line 1"), ("0 0.1 M\n0.1 0.2 XYZ\n", "line 2"), ("#\n", "no phones")):
        bad = tmp_path / "bad.txt"
        bad.write_text(text)
        with pytest.raises(L2TError, match=message):
            read_phone_file(bad)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(L2TError, match="not UTF-8"):
        read_phone_file(binary)


SENTENCE = "Maybe my brother bought a big map."


@needs(Espeak.available() and align.available(), "espeak-ng and pocketsphinx")
def test_eval_sync_reports_closure_of_teacher_motion(tmp_path, capsys):
    from avatar.io.audio import write_wav

    speech = Espeak().synthesize(SENTENCE, "en-us", 160)
    wav = write_wav(tmp_path / "s.wav", speech.audio)
    motion = tmp_path / "m.npz"
    assert main(["teacher", "--audio", str(wav), "--transcript", SENTENCE, "-o", str(motion)]) == 0
    phones = tmp_path / "phones.txt"
    phones.write_text(
        "".join(f"{s:.3f} {e:.3f} {p}\n" for p, s, e in zip(speech.alignment.phones, speech.alignment.starts, speech.alignment.ends))
    )
    capsys.readouterr()
    for alignment in (str(phones), "auto"):
        args = ["eval", "sync", "--audio", str(wav), "--motion", str(motion), "--alignment", alignment, "--device", "cpu"]
        assert main(args + (["--transcript", SENTENCE] if alignment == "auto" else [])) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("bilabial closure"))
        rate, count = line.split()[2], int(line.split()[4])
        assert count >= 7 and rate == "100.0%", line  # m-b-m-b-b-b-m (maybe my brother bought a big map)
    assert main(["eval", "sync", "--data", str(tmp_path), "--alignment", "auto"]) == 2
