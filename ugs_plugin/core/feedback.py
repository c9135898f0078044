"""The one feedback protocol every use case reports through: progress 0-100,
is-cancelled, info and warning. The fronts adapt it (QgsProcessingFeedback in
Processing, a progress bar or plain lines in the CLI); the default is silent."""
from __future__ import annotations

from .errors import Cancelled


class Feedback:
    """Silent feedback; subclasses override what they show."""

    def progress(self, percent: float, text: str = "") -> None:
        pass

    def is_cancelled(self) -> bool:
        return False

    def info(self, message: str) -> None:
        pass

    def warning(self, message: str) -> None:
        pass

    def check_cancelled(self, what: str = "no output was written") -> None:
        if self.is_cancelled():
            raise Cancelled(f"cancelled: {what}")

    def part(self, start: float, end: float, quiet: bool = False) -> "Feedback":
        """A view of this feedback whose 0-100 maps onto ``start``-``end`` here;
        ``quiet``: without the info messages (one of many frames, say)."""
        return _Part(self, start, end, quiet)


class _Part(Feedback):
    def __init__(self, parent: Feedback, start: float, end: float, quiet: bool):
        self.parent, self.start, self.end, self.quiet = parent, start, end, quiet

    def progress(self, percent, text=""):
        self.parent.progress(self.start + (self.end - self.start) * percent / 100.0, text)

    def is_cancelled(self):
        return self.parent.is_cancelled()

    def info(self, message):
        if not self.quiet:
            self.parent.info(message)

    def warning(self, message):
        self.parent.warning(message)


SILENT = Feedback()


class Printing(Feedback):
    """Messages on stdout, no progress; for scripts and benchmarks."""

    def info(self, message):
        print(message, flush=True)

    def warning(self, message):
        print(f"warning: {message}", flush=True)


class Recording(Feedback):
    """Keeps every message and the last progress; for scripts and tests."""

    def __init__(self, cancel_after_progress: float | None = None):
        self.messages, self.warnings, self.percent = [], [], 0.0
        self.cancel_after_progress = cancel_after_progress

    def progress(self, percent, text=""):
        self.percent = percent

    def is_cancelled(self):
        return (self.cancel_after_progress is not None
                and self.percent >= self.cancel_after_progress)

    def info(self, message):
        self.messages.append(message)

    def warning(self, message):
        self.warnings.append(message)
