"""Real third-party clients against the HTTP port: @connectrpc/connect-node with
its Connect (JSON and binary) and gRPC-Web transports over HTTP/1.1, one node process running
every case (node/cases.mjs); and `buf curl --protocol connect|grpcweb`, all at once."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.http_rpc import clients, services
from tests.http_rpc.conftest import PROBE

CASES = [
    "unaryAsync", "unaryDef", "serverStreamAsync", "serverStreamDef", "streamErrorAfterMessages", "errorNotFound",
    "errorDefPermission", "errorHidesInternals", "deadline", "metadataBothWays", "gzipRequest", "clientStreamUnimplemented",
]
TRANSPORTS = ["connect-json", "connect-proto", "grpcweb"]
# The real clients run against the aio backend's server only (one node process, one round of
# buf); test_connect.py and test_grpcweb.py cover both backends with the same wire format.
pytestmark = pytest.mark.parametrize("backend", ["aio"], indirect=True)


@pytest.fixture(scope="package")
def schema(tmp_path_factory: pytest.TempPathFactory, pb: Any) -> Path:
    return clients.write_schema(tmp_path_factory.mktemp("schema") / "schema.binpb", {"test.Web": services.WebService})


@pytest.fixture(scope="module")
def node_results(live: Any, schema: Path) -> dict[str, str]:
    node = clients.node()
    result = subprocess.run([node, "cases.mjs", live.http_url, str(schema)], cwd=clients.NODE_DIR,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_connect_node(node_results: dict[str, str], transport: str, case: str) -> None:
    assert node_results[f"{transport}:{case}"] == "ok"


def buf_curls(live: Any, schema: Path, calls: dict[str, tuple[str, str, str]]) -> dict[str, tuple[int, str, str]]:
    """Run `buf curl` for every (protocol, path, data) at once (each start of buf takes a while)."""
    running = {
        name: subprocess.Popen(
            [clients.buf(), "curl", "--schema", str(schema), "--protocol", protocol, "--data", data,
             "--header", "x-ask: curl", f"{live.http_url}{path}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, (protocol, path, data) in calls.items()
    }
    results = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=60)
        results[name] = (process.returncode, out, err)
    return results


def test_buf_curl(live: Any, schema: Path) -> None:
    calls = {}
    for protocol in ("connect", "grpcweb"):
        calls[f"{protocol} unary"] = (protocol, f"{PROBE}/SyncEcho", '{"message": "buf", "count": 2}')
        calls[f"{protocol} stream"] = (protocol, f"{PROBE}/StreamAsync", '{"message": "s", "count": 3}')
        calls[f"{protocol} error"] = (protocol, f"{PROBE}/Fail", '{"message": "not_found"}')
        calls[f"{protocol} metadata"] = (protocol, "/test.Web/Meta", "{}")
    results = buf_curls(live, schema, calls)
    for protocol in ("connect", "grpcweb"):
        code, out, err = results[f"{protocol} unary"]
        assert code == 0, err
        assert json.loads(out) == {"message": "buf", "count": 2, "thread": "before:SyncEcho"}

        code, out, err = results[f"{protocol} stream"]
        assert code == 0, err
        decoder, text, items = json.JSONDecoder(), out.strip(), []
        while text:
            item, end = decoder.raw_decode(text)
            items.append(item["message"])
            text = text[end:].strip()
        assert items == ["s0", "s1", "s2"], protocol

        code, out, err = results[f"{protocol} error"]
        assert code != 0
        assert "not_found" in err.lower() or "NotFound" in err, err

        code, out, err = results[f"{protocol} metadata"]
        assert code == 0, err
        assert json.loads(out)["message"] == "curl"
