"""A real SCIM 2.0 server for the provisioning tests: the python-scim
project's `scim2-server` (Apache-2.0), in memory, with a bearer token, run as
a separate process on a spare port; and a small proxy to put in front of it
that answers 500 to the requests it is told to fail."""

import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.faults import spare_port, stop_process

TOKEN = "scim-test-token"


def _new_server_at_an_address() -> None:
    """The portal keeps what it discovered of a SCIM server per address
    (`hmis_portal.core.scim.DISCOVERY_SECONDS`): a server or proxy started
    here may take the address of one of another configuration that a past
    test used, so each start makes the portal discover afresh, as a new HMIS
    at an old address would after a while or at its first "Test connection"."""
    from hmis_portal.core.scim import forget_discoveries

    forget_discoveries()


class ScimServer:
    """`scim2-server --port N --bearer-token T`, started and stopped by the
    test. With `bulk=False` it advertises no SCIM Bulk in its
    ServiceProviderConfig (and refuses /Bulk), as an HMIS without it would;
    `max_operations` lowers the Bulk request size it advertises."""

    def __init__(self, token: str = TOKEN, *, bulk: bool = True, max_operations: int | None = None):
        self.token = token
        self.bulk = bulk
        self.max_operations = max_operations
        self.port = spare_port()
        self.process = None
        self._config = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    def _config_options(self) -> list[str]:
        """The server's default ServiceProviderConfig, changed as asked, in a
        file of its own (`--service-provider-config`)."""
        if self.bulk and self.max_operations is None:
            return []
        from scim2_server.utils import load_json_resource

        config = load_json_resource("default-service-provider-config.json")
        if not self.bulk:
            config["bulk"] = {"supported": False, "maxOperations": 0, "maxPayloadSize": 0}
        elif self.max_operations is not None:
            config["bulk"]["maxOperations"] = self.max_operations
        self._config = tempfile.NamedTemporaryFile("w", suffix=".json", prefix="scim-config-", delete=False)
        with self._config:
            json.dump(config, self._config)
        return ["--service-provider-config", self._config.name]

    def start(self) -> "ScimServer":
        _new_server_at_an_address()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from scim2_server.testserver.cli import main; main()",
             "--hostname", "127.0.0.1", "--port", str(self.port), "--bearer-token", self.token,
             *self._config_options()],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                self.get("/ServiceProviderConfig")
                return self
            if self.process.poll() is not None:
                raise RuntimeError("scim2-server exited at start")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("scim2-server did not answer within 15 s")

    def stop(self) -> None:
        stop_process(self.process)
        if self._config is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._config.name)

    def empty(self) -> "ScimServer":
        """Delete every Group and User through the server's own SCIM API, and
        check that it counts none: a server kept for several tests gives each
        one what a server just started would (its configuration is fixed at
        start, its resources are all it keeps)."""
        for endpoint in ("/Groups", "/Users"):
            while resources := self.get(f"{endpoint}?count=1000").get("Resources", []):
                for resource in resources:
                    self.request("DELETE", f"{endpoint}/{resource['id']}")
            left = self.get(endpoint)["totalResults"]
            if left:
                raise RuntimeError(f"scim2-server still holds {left} of {endpoint} after deleting them all")
        return self

    # Reading back and setting up, in plain JSON over HTTP: independent of the
    # portal's own client.
    def request(self, method: str, path: str, body: dict | None = None, *, timeout: float = 5) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/scim+json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
        return json.loads(text) if text else {}

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def users(self) -> list[dict]:
        return self.get("/Users?count=1000").get("Resources", [])

    def user(self, user_name: str) -> dict | None:
        return next((u for u in self.users() if u["userName"] == user_name), None)

    def groups(self) -> dict[str, set[str]]:
        """Each group's display name and its members' user ids."""
        return {g["displayName"]: {m["value"] for m in g.get("members", [])}
                for g in self.get("/Groups?count=1000").get("Resources", [])}

    def group_id(self, name: str) -> str:
        return next(g["id"] for g in self.get("/Groups?count=1000").get("Resources", []) if g["displayName"] == name)

    def create_group(self, name: str) -> dict:
        return self.request("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                                "displayName": name})

    def create_user(self, user_name: str, *, active: bool = True, external_id: str | None = None) -> dict:
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": user_name, "active": active}
        if external_id:
            body["externalId"] = external_id
        return self.request("POST", "/Users", body)

    def set_active(self, user_id: str, active: bool) -> None:
        self.request("PATCH", f"/Users/{user_id}", {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "active", "value": active}]})


class ScimServers:
    """The scim2-server processes of one test process, one per configuration,
    each started when a test first asks for it and emptied (`empty`) before
    every test that asks for it again: starting the server is most of what a
    short provisioning test costs, and an emptied one answers as a new one.
    A server a test stopped (an HMIS gone down) is started afresh."""

    def __init__(self):
        self._servers: dict[tuple, ScimServer] = {}

    def get(self, *, bulk: bool = True, max_operations: int | None = None) -> ScimServer:
        key = (bulk, max_operations)
        server = self._servers.get(key)
        if server is not None and server.process.poll() is None:
            return server.empty()
        if server is not None:
            server.stop()
        server = self._servers[key] = ScimServer(bulk=bulk, max_operations=max_operations).start()
        return server

    def stop(self) -> None:
        for server in self._servers.values():
            server.stop()
        self._servers.clear()


class FaultProxy:
    """An HTTP proxy in front of a server that answers `status` (500 unless
    told otherwise) to the next `fail` requests whose method is in `methods`, holds every request whose
    method is in `stall` without ever passing it on (an HMIS that hangs
    mid-request; `stalled` is set when one arrives), and passes everything
    else. `fail_operations` maps bulkIds to an HTTP status: those operations
    of a Bulk request are taken out before it is passed on, and answered in
    its response with that status (the HMIS failed that one operation and did
    the rest). `seen` lists the (method, path, status) of every request it
    passed, failed (500) or held (0)."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.fail = 0
        self.status = 500
        self.detail = "injected failure"
        self.methods = {"POST", "PATCH"}
        self.stall: set[str] = set()
        self.stalled = threading.Event()
        self._closing = threading.Event()
        self.seen: list[tuple[str, str, int]] = []
        self.fail_operations: dict[str, int] = {}
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command in proxy.stall:
                    proxy.seen.append((self.command, self.path, 0))
                    proxy.stalled.set()
                    proxy._closing.wait(300)  # until the proxy closes: the request never reaches the server
                    self.close_connection = True
                    return
                if proxy.fail and self.command in proxy.methods:
                    proxy.fail -= 1
                    proxy.seen.append((self.command, self.path, proxy.status))
                    payload = json.dumps({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                          "status": str(proxy.status), "detail": proxy.detail}).encode()
                    self.send_response(proxy.status)
                    self.send_header("Content-Type", "application/scim+json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                failed = []
                if proxy.fail_operations and self.command == "POST" and self.path.endswith("/Bulk") and body:
                    request = json.loads(body)
                    failed = [op for op in request["Operations"] if op.get("bulkId") in proxy.fail_operations]
                    request["Operations"] = [op for op in request["Operations"] if op not in failed]
                    body = json.dumps(request).encode()
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=30)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length")}
                headers["Content-Length"] = str(len(body or b""))
                upstream.request(self.command, self.path, body=body, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                if failed:
                    answer = json.loads(data)
                    answer["Operations"] = answer.get("Operations", []) + [{
                        "method": op["method"], "bulkId": op["bulkId"],
                        "status": str(proxy.fail_operations[op["bulkId"]]),
                        "response": {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                                     "status": str(proxy.fail_operations[op["bulkId"]]),
                                     "detail": "injected failure"}} for op in failed]
                    data = json.dumps(answer).encode()
                proxy.seen.append((self.command, self.path, response.status))
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length", "date", "server"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _forward

            def log_message(self, *args):
                pass

        _new_server_at_an_address()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2"

    def __enter__(self) -> "FaultProxy":
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()
