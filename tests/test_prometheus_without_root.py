"""The dashboard tests' Prometheus can be had without root: `scripts/install-prometheus.sh --user`
(the way it takes for an ordinary user) downloads Debian's package into a user cache, checks its
SHA256, unpacks it there and prints where the working `prometheus` and `promtool` are. Run as an
unprivileged user when the suite runs as root."""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "install-prometheus.sh"


def as_nobody():
    """setpriv arguments that drop to `nobody` when we are root (else: run as we are)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return []
    nobody = pwd.getpwnam("nobody")
    return ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]


@pytest.fixture
def home():
    """A home directory the unprivileged user can reach (pytest's own tmp_path is private to us)."""
    made = Path(tempfile.mkdtemp(prefix="neuralwatt-nonroot-"))
    made.chmod(0o777)
    yield made
    shutil.rmtree(made, ignore_errors=True)


def test_prometheus_and_promtool_install_into_a_user_cache(home):
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}

    script = home / SCRIPT.name  # the checkout may be private to us; the unprivileged user reads a copy
    shutil.copy(SCRIPT, script)
    script.chmod(0o755)

    def install():
        return subprocess.run([*as_nobody(), "bash", str(script), "--user"], capture_output=True, text=True,
                              env=env, timeout=300)

    done = install()
    if done.returncode != 0:
        why = f"the user-cache install failed: {done.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    bin_dir = Path(done.stdout.strip().splitlines()[-1])
    assert bin_dir.is_relative_to(home / "cache" / "opentelemetry-instrumentation-neuralwatt")
    for tool in ("prometheus", "promtool"):
        version = subprocess.run([*as_nobody(), str(bin_dir / tool), "--version"], capture_output=True, text=True,
                                 timeout=30)
        assert version.returncode == 0
        assert f"{tool}, version 2.42.0" in version.stdout + version.stderr
    if as_nobody():
        assert bin_dir.stat().st_uid == pwd.getpwnam("nobody").pw_uid  # unpacked by the unprivileged user

    again = install()  # cached: nothing downloaded again
    assert again.returncode == 0 and again.stdout.strip() == str(bin_dir)
