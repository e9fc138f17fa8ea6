"""What a benchmark ran on, and what it cost the process: the machine line and an RSS/CPU sampler."""

from __future__ import annotations

import os
import platform
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def describe() -> str:
    """One line: the system, cores, CPU model, memory and Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    system = f"{platform.system()} {platform.release()}"
    return f"{system}, {os.cpu_count()} cores, {cpu}, {memory:.0f} GiB, Python {platform.python_version()}"


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of a process (this one by default), in MiB."""
    return float(psutil.Process(pid).memory_info().rss) / 2**20


@dataclass
class Sampler:
    """Samples RSS (MiB) and CPU (% of one core) of some processes every ``interval`` seconds in a thread.

    ``samples`` holds ``(seconds since start, pid, rss_mb, cpu_percent)``; add a
    child process with :meth:`watch` (a worker started mid-run, say).
    """

    interval: float = 0.5
    samples: list[tuple[float, int, float, float]] = field(default_factory=list)
    _processes: dict[int, psutil.Process] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _started: float = 0.0

    def watch(self, pid: int | None = None) -> None:
        process = psutil.Process(pid)
        process.cpu_percent(None)
        self._processes[process.pid] = process

    def start(self) -> Sampler:
        if not self._processes:
            self.watch()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            at = time.monotonic() - self._started
            for pid, process in list(self._processes.items()):
                try:
                    rss = float(process.memory_info().rss) / 2**20
                    cpu = float(process.cpu_percent(None))
                except psutil.Error:
                    del self._processes[pid]
                    continue
                self.samples.append((at, pid, rss, cpu))

    def peak_rss(self) -> float:
        """The highest summed RSS of the watched processes at one sample time."""
        by_time: dict[float, float] = {}
        for at, _, rss, _ in self.samples:
            by_time[at] = by_time.get(at, 0.0) + rss
        return max(by_time.values(), default=0.0)

    def mean_cpu(self) -> float:
        """Mean summed CPU% of the watched processes (100 = one core busy)."""
        by_time: dict[float, float] = {}
        for at, _, _, cpu in self.samples:
            by_time[at] = by_time.get(at, 0.0) + cpu
        return sum(by_time.values()) / len(by_time) if by_time else 0.0
