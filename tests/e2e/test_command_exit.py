"""A clean stop is clean: `call_command()` returns to its caller, `atexit` handlers run, and idle
pool threads (asgiref's, an exporter's) are not mistaken for work past the grace period."""
import signal
import sys
import textwrap

import pytest
from django.core.management import CommandError, call_command

from hybrid_server.testing.process import ServerProcess
from tests.conftest import TESTPROJECT

SCRIPT = textwrap.dedent("""
    import atexit, os, sys
    sys.path.insert(0, os.getcwd())
    os.environ["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
    import django
    django.setup()
    from asgiref.sync import async_to_sync, sync_to_async
    from django.core.management import call_command
    async_to_sync(sync_to_async(lambda: None, thread_sensitive=False))()  # leaves an idle pool thread
    atexit.register(lambda: print("atexit ran", flush=True))
    call_command("grpcrunaioserver", "127.0.0.1:0")
    print("call_command returned", flush=True)
""")


def test_clean_stop_returns_and_runs_atexit(testproject_env, tmp_path):
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT)
    with ServerProcess([sys.executable, str(script)], cwd=TESTPROJECT, env=testproject_env) as server:
        server.wait_ready()
        server.signal(signal.SIGTERM)
        assert server.wait(30) == 0
        output = server.output
    assert "call_command returned" in output and "atexit ran" in output
    assert "past the grace period" not in output


def test_call_command_failure_is_a_command_error(capsys):
    with pytest.raises(CommandError) as failed:
        call_command("grpcrunaioserver", "no-such-host.invalid:0")
    assert failed.value.returncode == 1
    assert "neither an IP address nor a host name" in capsys.readouterr().err
