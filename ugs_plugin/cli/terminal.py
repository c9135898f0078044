"""Progress and messages on the terminal: a bar on a TTY, plain lines otherwise."""
from __future__ import annotations

import sys


class TerminalFeedback:
    """The engine's feedback on a terminal: a progress bar on a TTY, one plain line per
    10 % otherwise; --quiet shows warnings only. Built lazily (see ``make``) so the
    parser needs nothing of the engine."""

    @staticmethod
    def make(quiet=False, stream=None):
        from ..core.feedback import Feedback

        class _Terminal(Feedback):
            def __init__(self):
                self.stream = stream or sys.stderr
                self.quiet = quiet
                self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
                self.open_bar = False
                self.last_step = -1

            def progress(self, percent, text=""):
                if self.quiet:
                    return
                percent = max(0.0, min(100.0, float(percent)))
                if self.tty:
                    filled = int(percent / 100 * 30)
                    line = f"\r[{'#' * filled}{'.' * (30 - filled)}] {percent:5.1f} %"
                    self.stream.write(line + (f"  {text[:60]}" if text else "") + "\033[K")
                    self.stream.flush()
                    self.open_bar = True
                elif int(percent // 10) > self.last_step:
                    self.last_step = int(percent // 10)
                    print(f"{percent:5.1f} %" + (f"  {text}" if text else ""),
                          file=self.stream, flush=True)

            def _end_bar(self):
                if self.open_bar:
                    self.stream.write("\n")
                    self.open_bar = False

            def info(self, message):
                if not self.quiet:
                    self._end_bar()
                    print(message, file=self.stream, flush=True)

            def warning(self, message):
                self._end_bar()
                print(f"warning: {message}", file=self.stream, flush=True)

            def close(self):
                self._end_bar()

        return _Terminal()
