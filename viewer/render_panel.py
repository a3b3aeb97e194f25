"""The "Render MP4" folder: render what the tab shows to an MP4 on the server and offer it as a download.

A render runs on its own thread; at most ``slots`` renders run at once over all tabs (a shared
semaphore), and a tab asking for one more is told the server is busy.
"""

from __future__ import annotations

import tempfile
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from avatar.avatar import Avatar
from avatar.errors import L2TError
from avatar.motion import Motion
from avatar.render.cameras import CAMERA_PRESETS

RENDER_SIZES = ("256", "512", "768", "1024")


@dataclass
class RenderRequest:
    avatar: Avatar
    motion: Motion
    audio: Path | None  # the speech's audio track, if any
    name: str  # the download's file name


class RenderPanel:
    def __init__(
        self, gui, client, cuda: bool, slots: threading.Semaphore, request: Callable[[], RenderRequest], alive: Callable[[], bool]
    ):
        self.client, self.slots, self._request, self._alive = client, slots, request, alive
        self.rendering = False
        with gui.add_folder("Render MP4"):
            self.size = gui.add_dropdown("size", RENDER_SIZES, initial_value="512" if cuda else "256")
            self.camera = gui.add_dropdown("camera", (*CAMERA_PRESETS, "orbit"), initial_value="front")
            self.button = gui.add_button("Render MP4")
            self.button.on_click(lambda _: self.start())
            self.progress = gui.add_progress_bar(0.0, visible=False)
            self.status = gui.add_markdown("")

    def start(self) -> None:
        if self.rendering:
            return
        if not self.slots.acquire(blocking=False):  # a cap over all tabs
            self.status.content = "The server is busy with other renders; try again in a moment."
            return
        self.rendering = True
        self.button.disabled = True
        self.progress.value, self.progress.visible = 0.0, True
        self.status.content = "Rendering…"
        threading.Thread(target=self._render, daemon=True).start()

    def _render(self) -> None:
        from avatar.render.animate import render_motion_to_mp4

        try:
            job = self._request()
            size = int(self.size.value)

            def progress(done: int, total: int) -> None:
                self.progress.value = round(100.0 * done / total, 1)

            with tempfile.TemporaryDirectory(prefix="l2t-render-") as folder:
                out = Path(folder) / "render.mp4"
                stats = render_motion_to_mp4(
                    job.avatar, job.motion, out, size=size, camera=self.camera.value, audio=job.audio, progress=False, on_frame=progress
                )
                content = out.read_bytes()
            self.client.send_file_download(job.name, content, save_immediately=False)
            self.status.content = (
                f"**{job.name}**: {stats.frames} frames, {size}x{size}, {len(content) / 2**20:.1f} MB, "
                f"{stats.fps:.1f} frames/s; the download link is in the notification"
            )
        except L2TError as exc:
            self.status.content = f"Render failed: {exc}"
        except Exception as exc:  # the tab may have closed meanwhile
            if self._alive():
                traceback.print_exc()
                self.status.content = f"Render failed: {exc}"
        finally:
            self.rendering = False
            self.slots.release()
            if self._alive():
                self.button.disabled = False
                self.progress.visible = False
