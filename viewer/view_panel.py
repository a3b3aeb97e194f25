"""The "View" folder: camera presets, the mesh wireframe and the server-render switch."""

from __future__ import annotations

from collections.abc import Callable


class ViewPanel:
    def __init__(
        self, gui, cuda: bool, on_camera: Callable[[str], None], on_wireframe: Callable[[], None], on_server_render: Callable[[], None]
    ):
        with gui.add_folder("View"):
            self.camera_buttons = gui.add_button_group("camera", ("front", "three-quarter", "profile"))
            self.camera_buttons.on_click(lambda e: on_camera(e.target.value))
            self.reset_camera = gui.add_button("Reset camera")
            self.reset_camera.on_click(lambda _: on_camera("front"))
            self.wireframe = gui.add_checkbox("mesh wireframe", False)
            self.wireframe.on_update(lambda _: on_wireframe())
            hint = "Full-quality frames (spherical harmonics) rendered on the server's GPU" if cuda else "Needs CUDA on the server"
            self.server_render = gui.add_checkbox("server render (gsplat)", False, disabled=not cuda, hint=hint)
            self.server_render.on_update(lambda _: on_server_render())
