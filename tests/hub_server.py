"""A tiny in-memory Hugging Face Hub-compatible HTTP server for tests.

Standard library only (``http.server.ThreadingHTTPServer``). It is real enough that the
*unmodified* ``huggingface_hub`` client (tested with 1.33) can create repos, commit files,
list them and download them, without any mocking.

Usage
-----
``huggingface_hub`` reads ``HF_ENDPOINT`` once, at import time (into
``huggingface_hub.constants.ENDPOINT``), so the port must be known before the import::

    from hub_server import HubServer, reserve_port  # or tests.hub_server, per your sys.path
    port = reserve_port()
    os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{port}"
    os.environ["HF_HUB_OFFLINE"] = "0"
    os.environ["HF_HUB_DISABLE_XET"] = "1"      # optional, see below
    os.environ["HF_HOME"] = "<tmp dir>"          # keep the real cache untouched
    os.environ["HF_TOKEN"] = "any-token"        # any token is accepted
    import huggingface_hub                       # only now
    with HubServer(port=port) as server:         # or server = HubServer(port=port).start()
        ...                                      # or HubServer.shared(port): reuse the one
                                                 # already running on that port in this process
        server.requests                          # [(method, path), ...] log
        server.commit_files("tester/m", {"config.json": b"{}"})  # seed without the client

Routes (``{type}`` is ``model``/``dataset``/``space``; ``{repo}`` is ``ns/name`` or ``name``;
``{rev}`` is a branch name or a 40-hex commit sha, URL-quoted)
---------------------------------------------------------------------------------------
* ``GET  /api/whoami-v2``                          -> user ``tester``
* ``GET  /api/agent-harnesses``                   -> empty registry (client telemetry)
* ``POST /api/validate-yaml``                     -> always valid (README.md metadata check)
* ``POST /api/repos/create``                       -> 200, or 409 if it exists
* ``DELETE /api/repos/delete``
* ``GET  /api/{type}s/{repo}[/revision/{rev}]``     -> repo_info (sha, siblings, private...)
* ``GET  /api/{type}s/{repo}/tree/{rev}[/{path}]``  -> list_repo_tree (``?recursive=true``)
* ``GET  /api/{type}s/{repo}/refs``                 -> list_repo_refs (branches only)
* ``GET  /api/{type}s/{repo}/commits/{rev}``        -> list_repo_commits
* ``POST /api/{type}s/{repo}/preupload/{rev}``      -> every file gets ``uploadMode: "regular"``
* ``POST /api/{type}s/{repo}/commit/{rev}``         -> ndjson commit (``file`` base64 entries,
  ``deletedFile``, ``deletedFolder``; ``lfsFile`` is rejected), creates a new 40-hex sha
* ``HEAD|GET /[datasets/|spaces/]{repo}/resolve/{rev}/{path}`` -> file bytes with
  ``X-Repo-Commit``, ``ETag`` (git blob sha1), ``Content-Length``; ``Range`` supported.

Errors carry ``X-Error-Code`` so that the client raises the right exception:
``RepoNotFound`` -> ``RepositoryNotFoundError``, ``RevisionNotFound`` -> ``RevisionNotFoundError``,
``EntryNotFound`` -> ``RemoteEntryNotFoundError`` (an ``EntryNotFoundError``).

Every commit keeps the full file map of the repo, so any old sha stays downloadable.
A repo created without namespace (``create_repo("name")``) lands in ``tester/name``, as on
the real Hub. Any token (or none) is accepted. Responses close the connection (no
keep-alive), so the client's pooled connections never outlive ``stop()``.

Client quirks handled here: ``HF_HUB_OFFLINE`` and ``HF_HOME`` are also read at import time;
``create_repo(exist_ok=True)`` reads ``url`` from the 409 body; ``upload_folder``/``upload_file``
validate README.md through ``/api/validate-yaml``. Xet: the server never sends Xet headers
and preupload answers "regular", so nothing goes through LFS/Xet even with ``hf_xet``
installed (``upload_folder`` then uses its Xet "pipeline" code path, which works too);
``HF_HUB_DISABLE_XET=1`` is optional and selects the plain single-commit path instead.
Not implemented: PRs, tags, branch creation, LFS uploads, permissions/auth checks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

USER = "tester"
REPO_TYPES = ("model", "dataset", "space")
API_ACTIONS = ("revision", "tree", "refs", "commits", "preupload", "commit")


def reserve_port(host: str = "127.0.0.1") -> int:
    """Return a currently free TCP port (tiny race window, fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def git_blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


@dataclass
class Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    date: float
    files: dict[str, bytes]  # full snapshot: path -> content


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created: float = field(default_factory=time.time)
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> Commit | None:
        sha = self.branches.get(rev, rev)
        return self.commits.get(sha)


class HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def _not_found(code: str, what: str) -> HubError:
    return HubError(404, code, what)


class HubServer:
    """In-memory Hub. Thread-safe enough for tests (one lock around all state changes)."""

    running: dict[int, "HubServer"] = {}  # port -> started server, process-wide
    _running_lock = threading.Lock()

    @classmethod
    def shared(cls, port: int, host: str = "127.0.0.1") -> "HubServer":
        """The server already started on `port` in this process, or a newly started one.

        Lets several fixtures (e.g. conftest.py and a test module) share one server."""
        with cls._running_lock:
            server = cls.running.get(port)
            return server if server is not None else cls(host, port).start()

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.host, self.port = host, port
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "HubServer":
        handler = type("BoundHandler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        HubServer.running[self.port] = self
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            HubServer.running.pop(self.port, None)
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "HubServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- storage helpers ---------------------------------------------------
    def create_repo(self, repo_id: str, repo_type: str = "model", private: bool = False) -> Repo:
        with self.lock:
            repo = Repo(repo_type, repo_id, private)
            self._add_commit(repo, "main", "initial commit", "", {})
            self.repos[(repo_type, repo_id)] = repo
            return repo

    def commit_files(self, repo_id: str, files: dict[str, bytes], message: str = "seed",
                     repo_type: str = "model", branch: str = "main") -> str:
        """Server-side commit (no client needed); creates the repo if missing. Returns the sha."""
        with self.lock:
            repo = self.repos.get((repo_type, repo_id)) or self.create_repo(repo_id, repo_type)
            base = repo.resolve(branch)
            return self._add_commit(repo, branch, message, "", {**(base.files if base else {}), **files}).sha

    def _add_commit(self, repo: Repo, branch: str, title: str, message: str, files: dict) -> Commit:
        parent = repo.branches.get(branch)
        seed = f"{repo.repo_id}\0{parent}\0{title}\0{time.time_ns()}\0{len(repo.commits)}"
        sha = hashlib.sha1(seed.encode()).hexdigest()
        commit = Commit(sha, parent, title, message, time.time(), files)
        repo.commits[sha] = commit
        repo.branches[branch] = sha
        return commit

    def get_repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise _not_found("RepoNotFound", f"Repository Not Found: {repo_id}")
        return repo

    def get_commit(self, repo: Repo, rev: str) -> Commit:
        commit = repo.resolve(rev)
        if commit is None:
            raise _not_found("RevisionNotFound", f"Invalid rev id: {rev}")
        return commit

    def split_repo(self, repo_type: str, segs: list[str]) -> tuple[str, list[str]]:
        """Split URL segments into (repo_id, rest); repo ids may have 1 or 2 segments."""
        if len(segs) >= 2 and (repo_type, f"{segs[0]}/{segs[1]}") in self.repos:
            return f"{segs[0]}/{segs[1]}", segs[2:]
        if segs and (repo_type, segs[0]) in self.repos:
            return segs[0], segs[1:]
        if len(segs) >= 2 and segs[1] not in API_ACTIONS + ("resolve",):
            return f"{segs[0]}/{segs[1]}", segs[2:]
        return (segs[0] if segs else ""), segs[1:]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: HubServer  # set on the bound subclass

    def log_message(self, format, *args):  # keep pytest output quiet
        pass

    # -- plumbing ----------------------------------------------------------
    def _dispatch(self) -> None:
        method, parts = self.command, urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        self.hub.requests.append((method, parts.path))
        body = self._read_body()
        try:
            self._route(method, parts.path, body)
        except HubError as e:
            self._send_json({"error": e.message, **e.extra}, e.status, {"X-Error-Code": e.code, "X-Error-Message": e.message})
        except Exception as e:  # a bug in this server: show it, and answer 500
            traceback.print_exc()
            self._send_json({"error": f"{type(e).__name__}: {e}"}, 500)

    do_GET = do_HEAD = do_POST = do_DELETE = _dispatch

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, headers: dict | None = None, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        # No keep-alive: a pooled client connection must never outlive stop() and reach a dead hub.
        self.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            if v is not None:
                self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, obj, status: int = 200, headers: dict | None = None):
        self._send(status, json.dumps(obj).encode(), headers)

    # -- routing -----------------------------------------------------------
    def _route(self, method: str, path: str, body: bytes) -> None:
        segs = [unquote(s) for s in path.strip("/").split("/")]
        hub = self.hub
        if path == "/api/whoami-v2":
            return self._send_json({"type": "user", "name": USER, "fullname": "Test User", "orgs": [],
                                    "auth": {"type": "access_token",
                                             "accessToken": {"displayName": "test", "role": "write"}}})
        if path == "/api/agent-harnesses":  # client telemetry registry: "no agents known"
            return self._send_json({"standardEnvVars": [], "harnesses": {}})
        if path == "/api/validate-yaml":  # upload_folder calls it when README.md is uploaded
            return self._send_json({"errors": [], "warnings": []})
        if path in ("/api/repos/create", "/api/repos/delete"):
            return self._repo_create_delete(method, path, json.loads(body or b"{}"))
        if len(segs) >= 3 and segs[0] == "api" and segs[1].rstrip("s") in REPO_TYPES:
            repo_type = segs[1][:-1]
            with hub.lock:
                repo_id, rest = hub.split_repo(repo_type, segs[2:])
                repo = hub.get_repo(repo_type, repo_id)
            return self._api(method, repo, rest, body)
        # /[datasets/|spaces/]{repo}/resolve/{rev}/{path}
        repo_type = "model"
        if segs and segs[0] in ("datasets", "spaces"):
            repo_type, segs = segs[0][:-1], segs[1:]
        with hub.lock:
            repo_id, rest = hub.split_repo(repo_type, segs)
        if method in ("GET", "HEAD") and len(rest) >= 3 and rest[0] == "resolve":
            # the filename is quoted with "/" kept safe: re-split the raw path to keep it intact
            filename = unquote(path.split("/resolve/", 1)[1].split("/", 1)[1])
            return self._resolve(hub.get_repo(repo_type, repo_id), rest[1], filename)
        raise HubError(404, None, f"No route for {method} {path}")

    def _repo_create_delete(self, method: str, path: str, payload: dict) -> None:
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
        key = (repo_type, repo_id)
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{self.hub.url}/{prefix}{repo_id}"
        with self.hub.lock:
            if path.endswith("/delete"):
                self.hub.get_repo(repo_type, repo_id)
                del self.hub.repos[key]
                return self._send_json({})
            if key in self.hub.repos:
                raise HubError(409, None, f"You already created this {repo_type} repo", url=url)
            private = bool(payload.get("private")) or payload.get("visibility") in ("private", "protected")
            self.hub.create_repo(repo_id, repo_type, private)
        self._send_json({"url": url, "name": repo_id, "id": repo_id})

    def _api(self, method: str, repo: Repo, rest: list[str], body: bytes) -> None:
        hub = self.hub
        action = rest[0] if rest else ""
        rev = rest[1] if len(rest) > 1 else "main"
        if method == "GET" and action in ("", "revision"):
            with hub.lock:
                return self._send_json(self._info(repo, hub.get_commit(repo, rev)))
        if method == "GET" and action == "tree":
            with hub.lock:
                commit = hub.get_commit(repo, rev)
            return self._send_json(self._tree(commit, "/".join(rest[2:]), self.query.get("recursive") in ("true", "1", "True")))
        if method == "GET" and action == "refs":
            branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s} for b, s in repo.branches.items()]
            return self._send_json({"branches": branches, "converts": [], "tags": [], "pullRequests": []})
        if method == "GET" and action == "commits":
            with hub.lock:
                commit, out = hub.get_commit(repo, rev), []
                while commit is not None:
                    out.append({"id": commit.sha, "title": commit.title, "message": commit.message,
                                "date": iso(commit.date), "authors": [{"user": USER}]})
                    commit = repo.commits.get(commit.parent) if commit.parent else None
            return self._send_json(out)
        if method == "POST" and action == "preupload":
            with hub.lock:
                files = hub.get_commit(repo, rev).files
            payload = json.loads(body)
            return self._send_json({"files": [
                {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                 "oid": git_blob_sha(files[f["path"]]) if f["path"] in files else None}
                for f in payload["files"]]})
        if method == "POST" and action == "commit":
            return self._commit(repo, rev, body)
        raise HubError(404, None, f"No route for {method} {self.path}")

    # -- handlers ----------------------------------------------------------
    def _info(self, repo: Repo, commit: Commit) -> dict:
        return {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id,
            "modelId": repo.repo_id, "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
            "sha": commit.sha, "lastModified": iso(commit.date), "createdAt": iso(repo.created),
            "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0,
            "tags": [], "usedStorage": sum(len(b) for b in commit.files.values()),
            "siblings": [{"rfilename": p, "size": len(b), "blobId": git_blob_sha(b)}
                         for p, b in sorted(commit.files.items())],
        }

    def _tree(self, commit: Commit, path: str, recursive: bool) -> list[dict]:
        path = path.strip("/")
        prefix = f"{path}/" if path else ""
        under = {p: b for p, b in commit.files.items() if p.startswith(prefix)}
        if path and not under:
            raise _not_found("EntryNotFound", f"{path} does not exist on {commit.sha}")
        dirs: set[str] = set()
        files = []
        for p, data in sorted(under.items()):
            parts = p[len(prefix):].split("/")
            for i in range(1, len(parts) if recursive else min(2, len(parts))):
                dirs.add(prefix + "/".join(parts[:i]))
            if recursive or len(parts) == 1:
                files.append({"type": "file", "path": p, "size": len(data), "oid": git_blob_sha(data)})
        folders = [{"type": "directory", "path": d, "size": 0,
                    "oid": hashlib.sha1(f"tree\0{commit.sha}\0{d}".encode()).hexdigest()} for d in sorted(dirs)]
        return folders + files

    def _commit(self, repo: Repo, rev: str, body: bytes) -> None:
        if self.query.get("create_pr"):
            raise HubError(400, None, "Pull requests are not supported by the test hub")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next((item["value"] for item in lines if item["key"] == "header"), {})
        with self.hub.lock:
            base = self.hub.get_commit(repo, rev)
            if rev not in repo.branches:
                raise HubError(400, None, f"Can only commit to a branch, not {rev!r}")
            parent = header.get("parentCommit")
            if parent and parent != base.sha:
                raise HubError(412, None, f"Parent commit {parent} is not the head of {rev} ({base.sha})")
            files = dict(base.files)
            for item in lines:
                key, value = item["key"], item["value"]
                if key == "file":
                    content = value["content"]
                    files[value["path"]] = (base64.b64decode(content) if value.get("encoding") == "base64"
                                            else content.encode())
                elif key == "deletedFile":
                    if files.pop(value["path"], None) is None:
                        raise _not_found("EntryNotFound", f"A file with this name doesn't exist: {value['path']}")
                elif key == "deletedFolder":
                    folder = value["path"].rstrip("/") + "/"
                    for p in [p for p in files if p.startswith(folder)]:
                        del files[p]
                elif key == "lfsFile":
                    raise HubError(400, None, "LFS files are not supported by the test hub")
            commit = self.hub._add_commit(repo, rev, header.get("summary", ""), header.get("description", ""), files)
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        self._send_json({"success": True, "commitOid": commit.sha, "pullRequestUrl": None, "hookOutput": "",
                         "commitUrl": f"{self.hub.url}/{prefix}{repo.repo_id}/commit/{commit.sha}"})

    def _resolve(self, repo: Repo, rev: str, filename: str) -> None:
        with self.hub.lock:
            commit = self.hub.get_commit(repo, rev)
        data = commit.files.get(filename)
        if data is None:
            raise _not_found("EntryNotFound", f"{filename} does not exist on {commit.sha}")
        headers = {"X-Repo-Commit": commit.sha, "ETag": f'"{git_blob_sha(data)}"', "Accept-Ranges": "bytes",
                   "Content-Disposition": f'inline; filename="{filename.rsplit("/", 1)[-1]}"'}
        status, m = 200, re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if m and data:
            start = int(m[1]) if m[1] else max(len(data) - int(m[2] or 0), 0)
            end = min(int(m[2]), len(data) - 1) if m[1] and m[2] else len(data) - 1
            if start >= len(data):
                return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            status, data = 206, data[start:end + 1]
        self._send(status, data, headers, content_type="application/octet-stream")
