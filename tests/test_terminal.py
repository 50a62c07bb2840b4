"""What a person at a terminal sees: colour, the progress line, the cache options."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

from bnlint.cli import main
from bnlint.progress import Progress, progress_for

MOMENTS = (
    "import tensorflow as tf\n"
    "x = tf.compat.v1.placeholder(tf.float32, [None, 32, 32, 3])\n"
    "mean, var = tf.nn.moments(x, axes=[0, 3])\n"
)


def test_progress_is_shown_only_on_a_terminal_for_long_runs():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert progress_for(io.StringIO(), 5000) is None
    assert progress_for(Tty(), 10) is None
    stream = Tty()
    progress = progress_for(stream, 1000)
    assert isinstance(progress, Progress)
    progress(1000)
    progress.close()
    assert stream.getvalue() == "\rbnlint: 1000/1000 files\r\033[K"


def test_a_terminal_gets_colour_and_a_pipe_does_not(tmp_path):
    (tmp_path / "t.py").write_text(MOMENTS)
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    piped = subprocess.run([sys.executable, "-m", "bnlint", "t.py"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert "\033[" not in piped.stdout and "BN003" in piped.stdout
    leader, follower = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "bnlint", "t.py"], cwd=tmp_path, env={**env, "TERM": "xterm"},
                          stdout=follower, stderr=subprocess.DEVNULL) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait()
    os.close(leader)
    out = b"".join(chunks).decode()
    assert "\033[1;33mBN003\033[0m" in out or "\033[1;31mBN003\033[0m" in out
    forced = subprocess.run([sys.executable, "-m", "bnlint", "t.py"], cwd=tmp_path,
                              env={**env, "FORCE_COLOR": "1"}, capture_output=True, text=True)
    assert "\033[" in forced.stdout


def test_cache_options(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.py").write_text(MOMENTS)
    assert main(["--isolated", "t.py"]) == 1
    assert (tmp_path / ".bnlint_cache" / ".gitignore").exists()
    assert main(["--isolated", "--cache-dir", "elsewhere", "t.py"]) == 1
    assert (tmp_path / "elsewhere" / ".gitignore").exists()
    assert main(["--isolated", "--no-cache", "--cache-dir", "unused", "t.py"]) == 1
    assert not (tmp_path / "unused").exists()
    assert main(["--isolated", "--jobs", "2", "t.py"]) == 1
    out = capsys.readouterr().out
    assert out.count("t.py:3:13: BN003") == 4
