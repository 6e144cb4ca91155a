"""Virtual environments built from an install line the README gives, and nothing else: a README
command is tested where a reader who followed the README would run it, not in the development
environment (which has every test extra and would hide a missing install step).

Each environment is made once per test session, shared by pytest-xdist workers (a file lock), in
the session's temporary directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(command: list, **options) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, **options)
    assert done.returncode == 0, f"{shlex.join(map(str, command))} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def pip_command(line: str, python: Path) -> list:
    """`pip install ...` as the README writes it, run by this environment's Python (paths the
    README leaves to the reader, `path/to/this/checkout`, are this checkout)."""
    words = shlex.split(line.split("#")[0])
    assert words[:2] == ["pip", "install"], line
    words = [str(ROOT) if word == "path/to/this/checkout" else word for word in words]
    return [str(python), "-m", "pip", "install", "--quiet", "--no-compile", *words[2:]]  # .pyc made when run


def environment(base: Path, *install_lines: str) -> Path:
    """The `bin` directory of a virtual environment made with exactly these install lines (run
    in the checkout, as the README's `-e ".[...]"` lines are), made once."""
    key = hashlib.sha256("\n".join(install_lines).encode()).hexdigest()[:16]
    home = base / f"readme-env-{key}"
    base.mkdir(parents=True, exist_ok=True)
    with open(base / f"readme-env-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (home / "ready").exists():
            _run([sys.executable, "-m", "venv", "--clear", str(home)])
            env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
            env["PATH"] = f"{home / 'bin'}:{env['PATH']}"
            for line in install_lines:
                if line.startswith("pip "):
                    _run(pip_command(line, home / "bin" / "python"), cwd=ROOT, env=env)
                else:  # another tool the README names (`llm install -e ...`), from this environment
                    words = [str(ROOT) if w == "path/to/this/checkout" else w for w in shlex.split(line.split("#")[0])]
                    _run([str(home / "bin" / words[0]), *words[1:]], cwd=ROOT, env=env)
            (home / "ready").write_text("\n".join(install_lines))
    return home / "bin"


def shared_base(tmp_path_factory) -> Path:
    """A directory every xdist worker of this session sees."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "readme-environments"
