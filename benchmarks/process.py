"""Running one command and measuring it: wall time, and the peak RSS of its whole process tree
(sampled from /proc), with the load average before and after."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants now."""
    children = _children_map()
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            pass
        todo += children.get(pid, [])
    return total


def measure(cmd: list[str], *, env: dict | None = None, cwd: Path | None = None, log: Path | None = None,
            timeout: float = 7200, check: bool = True) -> dict:
    """Run a command; wall seconds, peak RSS of its process tree, load average before/after, stdout."""
    load_before = loadavg()
    full_env = {**os.environ, **(env or {})}
    out = subprocess.PIPE
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=full_env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        stdout, _ = proc.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
    wall = time.perf_counter() - started
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(stdout)
    result = {"wall_seconds": wall, "peak_rss_mb": peak[0] / 2**20, "exit_code": proc.returncode,
              "loadavg_before": load_before, "loadavg_after": loadavg()}
    if proc.returncode != 0:
        tail = "\n".join(stdout.strip().splitlines()[-15:])
        if check:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
        result["error"] = f"exit code {proc.returncode}: {tail}"
    result["stdout"] = stdout
    return result


def json_tail(stdout: str) -> dict:
    """The JSON object that benchmarks.stages / benchmarks.floor print last."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON result in the output")


def strip_stdout(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "stdout"}
