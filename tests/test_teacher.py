"""The teacher animator on crafted and on synthesised speech: closure, aperture, anticipation, smoothness."""

import numpy as np
import pytest
import torch

from audio2mesh.data.tts import Espeak
from audio2mesh.teacher.animator import TeacherAnimator, TeacherStyle, inner_lip_gap
from avatar.errors import L2TError
from sync_expert.phones import BILABIALS, CLOSED_CONSONANTS, OPEN_VOWELS, PhoneAlignment
from tests.conftest import needs


def lip_gap_mm(head, motion):
    with torch.no_grad():
        v = head(expression=motion.params["expression"], jaw=motion.params["jaw"], batch_size=motion.num_frames).vertices
    return inner_lip_gap(head, v).numpy() * 1000, v


def centre_frames(alignment, fps, phones):
    return [int(round(0.5 * (s + e) * fps)) for p, s, e in zip(alignment.phones, alignment.starts, alignment.ends) if p in phones]


def check_teacher_motion(head, alignment, style=TeacherStyle()):
    animator = TeacherAnimator(head)
    motion = animator.animate(alignment, style=style)
    gap, verts = lip_gap_mm(head, motion)
    last = len(gap) - 1
    bilabial = [gap[min(f, last)] for f in centre_frames(alignment, animator.fps, BILABIALS)]
    open_vowels = [gap[min(f, last)] for f in centre_frames(alignment, animator.fps, OPEN_VOWELS)]
    closed = [gap[min(f, last)] for f in centre_frames(alignment, animator.fps, CLOSED_CONSONANTS)]
    assert bilabial and open_vowels
    assert max(bilabial) < 1.5, f"lips not closed at a bilabial: {bilabial}"
    assert np.mean(open_vowels) > 8.0 and np.mean(open_vowels) > 3 * np.mean(closed)
    lips = verts[:, head.region("lips")].numpy().astype(np.float64)
    speed = np.linalg.norm(np.diff(lips, axis=0), axis=-1).max() * animator.fps
    accel = np.linalg.norm(np.diff(lips, 2, axis=0), axis=-1).max() * animator.fps**2
    assert speed < 0.4 and accel < 10.0, (speed, accel)
    return motion, gap


def test_crafted_sentence(head):
    # "pa ma ba fa" with pauses: SIL P AA SIL M AA B AA F AA SIL
    phones = ["SIL", "P", "AA", "M", "AA", "B", "AE", "F", "AO", "SIL"]
    ends = [0.3, 0.38, 0.58, 0.66, 0.86, 0.92, 1.12, 1.22, 1.42, 1.9]
    motion, gap = check_teacher_motion(head, PhoneAlignment.from_end_times(phones, ends))
    assert motion.num_frames == round(1.9 * 25)
    assert gap[2] < 2.0 and gap[-1] < 2.0  # at rest in the leading and trailing silence: lips lightly closed
    assert abs(float(motion.params["jaw"][-1, 0])) < 0.01


@needs(Espeak.available(), "espeak-ng")
@pytest.mark.parametrize("voice, wpm", [("en-us+m3", 175), ("en-gb-x-rp+f2", 230), ("en-gb-scotland+m1", 140)])
def test_synthesised_speech(head, voice, wpm):
    speech = Espeak().synthesize("Bob bought a map, five purple balloons and a big bowl of apples for my mother.", voice, wpm)
    check_teacher_motion(head, speech.alignment, TeacherStyle.for_voice(voice))


def test_lips_round_before_a_rounded_vowel(head):
    animator = TeacherAnimator(head)
    pucker = head.expression_index("mouthPucker")

    def pucker_at_s(vowel):
        alignment = PhoneAlignment.from_end_times(["SIL", "S", vowel, "SIL"], [0.4, 0.52, 0.72, 1.2])
        return float(animator.animate(alignment).params["expression"][round(0.46 * 25), pucker])

    assert pucker_at_s("UW") > 0.25 > pucker_at_s("IY") + 0.2


def test_voice_style_is_fixed_per_voice():
    assert TeacherStyle.for_voice("espeak:en-us+f3") == TeacherStyle.for_voice("espeak:en-us+f3")
    assert TeacherStyle.for_voice("espeak:en-us+f3") != TeacherStyle.for_voice("flite:awb")


def test_rig_without_named_mouth_shapes_is_refused(head_data):
    from dataclasses import replace

    from avatar.rig import Rig

    unnamed = replace(head_data, expression_names=[f"e{i}" for i in range(len(head_data.expression_names))])
    with pytest.raises(L2TError, match="ARKit-named"):
        TeacherAnimator(Rig(unnamed))
