"""An HTTP request still running when the grace period ends is closed as cut (503 if nothing was
sent yet), logged as such: no Django 500, no CancelledError traceback."""
import logging
import threading

import httpx
import pytest

from hybrid_server.testing import LiveServer
from tests.waiting import wait_until


def _wait_for_tasks(server, count: int) -> None:
    tasks = server.server.http.server.server_state.tasks
    wait_until(lambda: len(tasks) >= count, "the request reaching the server")


@pytest.mark.parametrize("path, started", [("/slow/?seconds=30", False), ("/hold/?seconds=30", True)])
def test_request_cut_by_the_grace_period(pb, caplog, path, started):
    server = LiveServer(http_address="127.0.0.1:0", grace=0.5, handlers_hook="testproject.handlers.grpc_handlers").start()
    outcome = {}

    def call():
        try:
            with httpx.Client(base_url=server.http_url, timeout=30) as http:
                response = http.get(path)
                outcome["status"], outcome["body"] = response.status_code, response.text
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    client = threading.Thread(target=call)
    with caplog.at_level(logging.INFO):
        client.start()
        _wait_for_tasks(server, 1)
        assert server.stop(timeout=20) == 0
        client.join(20)
    assert not client.is_alive()
    if started:  # the stream had begun: it ends unfinished, as a cut response must
        assert isinstance(outcome.get("error"), httpx.RemoteProtocolError)
    else:
        assert outcome["status"] == 503 and "stopped before this request finished" in outcome["body"]
    messages = [record.getMessage() for record in caplog.records]
    assert any("cut: still running when the grace period ended" in message for message in messages)
    assert not any("Exception in ASGI application" in message for message in messages)
    assert not any(record.exc_info for record in caplog.records if record.name.startswith(("uvicorn", "django")))
