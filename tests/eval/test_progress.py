"""The evaluation's progress bar: live on a terminal, one line per finished sequence in a log."""

from __future__ import annotations

from litlora_desktop.eval.progress import ProgressBar


def test_progress_bar_on_a_terminal_and_in_a_log():
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    bar = ProgressBar(20, stream=tty)
    bar.update(5, "sam2 bear")
    bar.update(15, finished="sam2 bear: 3 corrections")
    bar.close()
    text = tty.getvalue()
    assert "\r[" in text and "100.0% 20/20 frames" in text and text.endswith("\n")
    log = io.StringIO()
    bar = ProgressBar(20, stream=log)
    bar.update(10)  # a log gets no carriage returns, one line per finished sequence
    bar.update(10, finished="sam2 bear: 3 corrections")
    assert log.getvalue() == "[100.0%] sam2 bear: 3 corrections\n"
