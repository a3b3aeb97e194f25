"""The command line: help, rig commands, and one-line errors with exit code 2."""

import subprocess
import sys

import numpy as np
from PIL import Image

from l2t_avatar.cli import main


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "rig-sheet" in out and "rig-info" in out


def test_rig_info_on_default_head(capsys):
    assert main(["rig-info"]) == 0
    out = capsys.readouterr().out
    assert "l2t-head" in out and "mouthFunnel" in out and "4768" in out


def test_missing_rig_is_one_line_exit_2(tmp_path, capsys):
    assert main(["rig-info", "--rig", str(tmp_path / "missing.pkl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not found" in err[0]


def test_corrupt_rig_leaves_no_output(tmp_path, capsys):
    bad = tmp_path / "flame.pkl"
    bad.write_bytes(b"\x80\x02garbage")
    out = tmp_path / "sheet.png"
    assert main(["rig-sheet", "--rig", str(bad), "-o", str(out)]) == 2
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_rig_sheet_draws_the_head(tmp_path):
    out = tmp_path / "sheet.png"
    assert main(["rig-sheet", "-o", str(out), "--tile", "96"]) == 0
    img = np.asarray(Image.open(out).convert("RGB")).astype(float)
    assert img.shape[1] == 8 * 96 and img.shape[0] % 96 == 0
    first = img[:96, :96]
    # The neutral front tile shows a head: plenty of non-white, skin-toned pixels in the middle.
    centre = first[24:72, 24:72]
    assert (centre.mean(-1) < 240).mean() > 0.8
    assert centre[..., 0].mean() > centre[..., 2].mean()  # skin is redder than blue


def test_console_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "l2t_avatar", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "rig-sheet" in result.stdout
