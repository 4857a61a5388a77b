"""``litlora-desktop track``: many videos tracked headless, as the app tracks, into project folders."""
