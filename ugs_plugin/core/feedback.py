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

    def part(self, start: float, end: float) -> "Feedback":
        """A view of this feedback whose 0-100 maps onto ``start``-``end`` here."""
        return _Part(self, start, end)


class _Part(Feedback):
    def __init__(self, parent: Feedback, start: float, end: float):
        self.parent, self.start, self.end = parent, start, end

    def progress(self, percent, text=""):
        self.parent.progress(self.start + (self.end - self.start) * percent / 100.0, text)

    def is_cancelled(self):
        return self.parent.is_cancelled()

    def info(self, message):
        self.parent.info(message)

    def warning(self, message):
        self.parent.warning(message)


SILENT = Feedback()


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
