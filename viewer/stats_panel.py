"""The "Stats" folder, and the record of updates it reads: rate, server time, payload, frame, audio sync."""

from __future__ import annotations

import time
from collections import deque

import numpy as np


class UpdateRecord:
    """What the tab's update loop did lately."""

    def __init__(self, window: int = 90):
        self.times: deque[float] = deque(maxlen=window)  # when each update finished
        self.seconds: deque[float] = deque(maxlen=window)  # server time of each update
        self.count = 0
        self.last_payload = 0  # splat bytes of the last update
        self.shown_frame = -1

    def add(self, started: float, payload: int, frame: int) -> None:
        now = time.perf_counter()
        self.times.append(now)
        self.seconds.append(now - started)
        self.count += 1
        self.last_payload, self.shown_frame = payload, frame

    @property
    def rate(self) -> float:
        t = self.times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 2 and t[-1] > t[0] else 0.0


class StatsPanel:
    def __init__(self, gui):
        with gui.add_folder("Stats"):
            self.text = gui.add_markdown("")

    def show(self, record: UpdateRecord, num_gaussians: int, num_chunks: int, server_render: bool, sync_errors) -> None:
        server = f", {1000 * float(np.median(record.seconds)):.1f} ms each on the server" if record.seconds else ""
        sync = (
            f"audio sync: {1000 * float(np.median(np.abs(sync_errors))):.0f} ms median over {len(sync_errors)} reports  \n"
            if sync_errors
            else ""
        )
        frame = record.shown_frame if record.shown_frame >= 0 else "-"
        mode = "server gsplat frames" if server_render else "browser splats"
        self.text.content = (
            f"Gaussians: **{num_gaussians:,}** in {num_chunks} chunks  \n"
            f"updates/s: **{record.rate:.1f}**{server}  \n"
            f"last update: {record.last_payload / 1024:.0f} KB of splats  \n"
            f"frame: {frame}  \n{sync}view: {mode}"
        )
