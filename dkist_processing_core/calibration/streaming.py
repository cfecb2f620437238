"""Streaming statistics over frames: running sums so a dataset is never stacked in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

FrameSource = Iterable[np.ndarray] | Callable[[], Iterable[np.ndarray]]


class RunningMean:
    """Per-pixel running mean and variance (Welford's algorithm) of frames added one at a time.

    Memory: three float64 frames, whatever the number of frames. After ``add`` of frames
    ``x_1 .. x_n``: ``mean = (1/n) sum x_i`` and ``variance = (1/(n-1)) sum (x_i - mean)^2``.
    """

    def __init__(self) -> None:
        self.count = 0
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None

    def add(self, frame: np.ndarray) -> None:
        frame = np.asarray(frame, dtype=np.float64)
        if self._mean is None:
            self._mean = frame.copy()
            self._m2 = np.zeros_like(self._mean)
            self.count = 1
            return
        if frame.shape != self._mean.shape:
            raise ValueError(
                f"frame {self.count + 1} has shape {frame.shape}, expected {self._mean.shape} "
                "like the frames before it"
            )
        self.count += 1
        delta = frame - self._mean
        self._mean += delta / self.count
        self._m2 += delta * (frame - self._mean)

    def extend(self, frames: Iterable[np.ndarray]) -> RunningMean:
        for frame in frames:
            self.add(frame)
        return self

    @property
    def mean(self) -> np.ndarray:
        if self._mean is None:
            raise ValueError("no frames were given: cannot average zero frames")
        return self._mean

    @property
    def variance(self) -> np.ndarray:
        if self.count < 2:
            raise ValueError(f"variance needs at least 2 frames, got {self.count}")
        return self._m2 / (self.count - 1)


def iterate(frames: FrameSource) -> Iterable[np.ndarray]:
    """Frames from an iterable, or from a callable returning a fresh iterable each call."""
    return frames() if callable(frames) else frames


def is_reiterable(frames: FrameSource) -> bool:
    return callable(frames) or iter(frames) is not frames


def average_frames(frames: FrameSource) -> np.ndarray:
    """Plain per-pixel mean of a stream of frames (float64)."""
    return RunningMean().extend(iterate(frames)).mean
