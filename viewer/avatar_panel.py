"""The "Avatar" folder: pick a loaded avatar, or load an avatar folder the server offers."""

from __future__ import annotations

from collections.abc import Callable


class AvatarPanel:
    def __init__(self, gui, names: tuple[str, ...], current: str, on_choose: Callable[[str], None], on_load: Callable[[str], None]):
        self.folder = gui.add_folder("Avatar")
        with self.folder:
            self.menu = gui.add_dropdown("avatar", names, initial_value=current)
            self.menu.on_update(lambda event: on_choose(self.menu.value) if event.client is not None else None)
            self.path = gui.add_text("folder", "", hint="Path of an avatar folder on the server")
            self.load_button = gui.add_button("Load avatar folder")
            self.load_button.on_click(lambda _: on_load(self.path.value))

    def set_names(self, names: tuple[str, ...]) -> None:
        self.menu.options = names

    def show(self, name: str) -> None:
        self.menu.value = name
