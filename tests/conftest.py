"""Shared fixtures: the built-in rig (loaded once), a Ctrl-C in tracking, and a CUDA check for GPU-marked tests."""

import os
import tempfile

import pytest
import torch

from avatar.rig import L2T_HEAD_PATH, Rig, RigData

# A worker (`l2t-avatar serve`) the developer may have running must not take the tests' speak calls.
os.environ["L2T_WORKER_SOCKET"] = os.path.join(tempfile.gettempdir(), f"l2t-tests-{os.getpid()}-no-worker.sock")


@pytest.fixture(scope="session")
def head_data() -> RigData:
    return RigData.load_npz(L2T_HEAD_PATH)


@pytest.fixture(scope="session")
def head(head_data) -> Rig:
    return Rig(head_data)


@pytest.fixture
def interrupt_tracking(monkeypatch):
    """interrupt_tracking(steps): the next tracking run raises KeyboardInterrupt after `steps` steps, as a
    Ctrl-C would there; runs after it are not interrupted."""
    from avatar.fit import tracking

    real_tqdm = tracking.tqdm

    def arm(steps: int) -> None:
        class Interrupted(real_tqdm):
            done = 0

            def update(self, n=1):
                super().update(n)
                Interrupted.done += n
                if Interrupted.done == steps:
                    monkeypatch.setattr(tracking, "tqdm", real_tqdm)
                    raise KeyboardInterrupt

        monkeypatch.setattr(tracking, "tqdm", Interrupted)

    return arm


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def needs(available: bool, what: str):
    """Skip where a speech program is not installed, except in CI, which installs them (.ci/run)."""
    import os

    return pytest.mark.skipif(not available and not os.environ.get("CI"), reason=f"needs {what}")
