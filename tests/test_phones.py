import numpy as np
import pytest

from sync_expert.phones import PHONES, PhoneAlignment, from_arpabet, ipa_to_phones


def test_phone_set_is_cmu_plus_silence():
    assert len(PHONES) == 40 and PHONES[0] == "SIL" and len(set(PHONES)) == 40


@pytest.mark.parametrize(
    "name, phone", [("pau", "SIL"), ("AH0", "AH"), ("ax", "AH"), ("axr", "ER"), ("+NSN+", "SIL"), ("dx", "D"), ("zh", "ZH"), ("SIL", "SIL")]
)
def test_arpabet_names(name, phone):
    assert from_arpabet(name) == phone


def test_arpabet_unknown_is_an_error():
    with pytest.raises(ValueError):
        from_arpabet("xyz")


@pytest.mark.parametrize(
    "ipa, phones",
    [
        ("oʊ", ["OW"]),
        ("dʒ", ["JH"]),
        ("ɜː", ["ER"]),
        ("", ["SIL"]),
        ("ˈaɪ", ["AY"]),
        ("ɡ", ["G"]),
        ("ʒ", ["ZH"]),
        ("tʃ", ["CH"]),
        ("n̩", ["N"]),
        ("aɪə", ["AY", "AH"]),
    ],
)
def test_espeak_ipa(ipa, phones):
    assert ipa_to_phones(ipa) == phones


def test_segments_fill_gaps_and_merge_silence():
    a = PhoneAlignment.from_segments([("B", 0.1, 0.2), ("AA", 0.2, 0.4), ("SIL", 0.4, 0.5), ("SIL", 0.5, 0.6)], duration=0.8)
    assert a.phones == ["SIL", "B", "AA", "SIL"]
    assert np.allclose(a.starts, [0, 0.1, 0.2, 0.4]) and np.allclose(a.ends, [0.1, 0.2, 0.4, 0.8])
    assert a.duration == pytest.approx(0.8)


def test_scale_fit_and_frame_labels():
    a = PhoneAlignment.from_end_times(["M", "AA"], [0.2, 0.4])
    assert np.allclose(a.scaled(2.0).ends, [0.4, 0.8])
    cut = a.fitted_to(0.3)
    assert cut.phones == ["M", "AA"] and cut.duration == pytest.approx(0.3)
    padded = a.fitted_to(0.5)
    assert padded.phones[-1] == "SIL" and padded.duration == pytest.approx(0.5)
    labels = a.frame_labels(fps=10, num_frames=6)
    assert [PHONES[i] for i in labels] == ["M", "M", "AA", "AA", "SIL", "SIL"]
