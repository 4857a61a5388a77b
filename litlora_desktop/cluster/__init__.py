"""Spreading headless work over a Ray cluster: ``litlora-eval --ray`` and ``litlora-desktop track --ray``.

Ray is an optional extra (``pip install 'litlora-desktop[cluster]'``): only this package imports it,
and only when ``--ray`` is asked for. The app, its worker threads and the bundle never import it.
"""
