"""Serve the dashboard: `funnel dashboard [--warehouse FILE] [--port N] [--host H]` calls `serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
ROOT = APP.parent.parent


def command(port: int = 8501, address: str = "127.0.0.1") -> list[str]:
    """The `streamlit run` command line: headless, usage stats off, bound to `address`."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.headless", "true",
        "--server.address", address,
        "--server.port", str(int(port)),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
        "--server.runOnSave", "false",
        "--client.toolbarMode", "viewer",
        "--theme.base", "light",
    ]


def environment(published: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["FUNNEL_PUBLISHED"] = str(Path(published).resolve())
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    env["TZ"] = "UTC"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def start(published: Path, port: int = 8501, address: str = "127.0.0.1", **popen) -> subprocess.Popen:
    """Start the server in the background (tests, benchmarks); the caller stops it."""
    return subprocess.Popen(command(port, address), env=environment(published), cwd=str(ROOT), **popen)


def serve(published: Path | None = None, port: int = 8501, address: str = "127.0.0.1") -> int:
    """Run the dashboard on `published` (default: beside FUNNEL_WAREHOUSE) until the server exits."""
    if published is None:
        from pipelines.core.settings import Settings

        published = Settings.from_env().published
    published = Path(published)
    if not published.is_file():
        print(f"note: no published warehouse at {published} yet; the dashboard will say so until "
              "`funnel run` publishes one", file=sys.stderr)
    print(f"Serving the KPI dashboard on http://{address}:{port} (data: {published})", file=sys.stderr)
    proc = start(published, port, address)

    def _stop(signum, frame):  # a TERM to this process stops the server too
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # python -m dashboards.launch [published] [port]
    args = sys.argv[1:]
    sys.exit(serve(Path(args[0]) if args else None, int(args[1]) if len(args) > 1 else 8501))
