"""Installed beside django-socio-grpc's own distribution (both ship the top-level package
`django_socio_grpc`, which pip silently merges): a system check error names it, and the server
refuses to start."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks

from hybrid_server.testing.process import clean_environ

ROOT = Path(__file__).resolve().parents[2]
TESTPROJECT = ROOT / "tests" / "testproject"


def fake_distribution(where: Path, name: str = "django-socio-grpc", files: tuple[str, ...] = ()) -> Path:
    """A dist-info as pip leaves it, listing `files` in its RECORD."""
    info = where / f"{name.replace('-', '_')}-0.25.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.25.0\n")
    (info / "RECORD").write_text("".join(f"{path},,\n" for path in (*files, f"{info.name}/RECORD")))
    return where


def e001() -> list[checks.CheckMessage]:
    return [message for message in checks.run_checks() if message.id == "django_socio_grpc.E001"]


def test_no_error_without_the_other_distribution():
    assert e001() == []


def test_a_merged_install_is_a_system_check_error(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(fake_distribution(tmp_path, files=("django_socio_grpc/__init__.py",))))
    (error,) = e001()
    assert error.level == checks.ERROR
    assert "django-socio-grpc 0.25.0 is installed beside hybrid-server" in error.msg
    assert "pip uninstall -y django-socio-grpc hybrid-server && pip install hybrid-server" in error.hint


def test_a_distribution_of_that_name_without_the_package_is_not_one(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(fake_distribution(tmp_path, files=("something_else/__init__.py",))))
    assert e001() == []


@pytest.mark.parametrize("command", ["grpcrunaioserver", "grpcrunserver"])
def test_the_server_does_not_start_on_a_merged_install(tmp_path, testproject_env, command):
    site = fake_distribution(tmp_path, files=("django_socio_grpc/__init__.py", "django_socio_grpc/apps.py"))
    env = clean_environ({**testproject_env, "PYTHONPATH": str(site)})
    done = subprocess.run(
        [sys.executable, "manage.py", command, "127.0.0.1:0"],
        cwd=TESTPROJECT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "django_socio_grpc.E001" in done.stderr
    assert "django-socio-grpc 0.25.0 is installed beside hybrid-server" in done.stderr
    assert "listening" not in done.stdout
