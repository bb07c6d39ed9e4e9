"""A small Hugging Face Hub stand-in, for tests and offline rehearsals.

A standard-library HTTP server on 127.0.0.1 that answers the endpoints the
real ``huggingface_hub`` client calls to create a repo, upload a folder and
download a snapshot. Repos live in memory: branches, commits, files. Files are
kept inline ("regular" upload mode); LFS/Xet uploads are not served.

Use it from Python (a background thread)::

    from forcefields.testing_hub import serve

    with serve() as hub:                       # a random free port
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"}
        ...  # run the client in a process started with this environment

or from a shell: ``python -m forcefields.testing_hub --port 8765`` and then
``export HF_ENDPOINT=http://127.0.0.1:8765``. ``huggingface_hub`` reads
``HF_ENDPOINT`` when it is imported, so set it before that import.

Endpoints: ``POST /api/repos/create``, ``POST /api/validate-yaml``,
``POST /api/models/{repo}/preupload/{rev}``, ``POST /api/models/{repo}/commit/{rev}``,
``POST /api/models/{repo}/branch/{branch}``, ``GET /api/models/{repo}[/revision/{rev}]``,
``GET /api/models/{repo}/tree/{rev}[/{path}]``, ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``,
``GET /api/agent-harnesses`` (answered empty); the same under ``/api/datasets/`` and
``/datasets/{repo}/resolve/`` for dataset repos (corpora).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["HubServer", "serve", "main"]

_SHA = re.compile(r"^[0-9a-f]{40}$")
_GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
_API_ACTIONS = ("revision", "tree", "preupload", "commit", "branch")


def _key(repo_id: str, dataset: bool) -> str:
    """Where a repo is kept: dataset repos under ``datasets/``, beside the model repos."""
    return f"datasets/{repo_id}" if dataset else repo_id


def _blob_oid(data: bytes) -> str:
    """Git's blob id: sha1 of a header and the content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class _Repo:
    repo_id: str
    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def commit(self, branch: str, files: dict[str, bytes], message: str) -> str:
        parent = self.branches.get(branch, "")
        digest = hashlib.sha1(f"{self.repo_id}\n{parent}\n{message}\n{len(self.commits)}".encode())
        for path in sorted(files):
            digest.update(f"{path}\0{_blob_oid(files[path])}\n".encode())
        sha = digest.hexdigest()
        self.commits[sha] = dict(files)
        self.branches[branch] = sha
        return sha

    def resolve(self, rev: str) -> str | None:
        if rev in self.branches:
            return self.branches[rev]
        return rev if rev in self.commits else None


class _State:
    def __init__(self) -> None:
        self.repos: dict[str, _Repo] = {}
        self.lock = threading.Lock()


class _HttpError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _validate_card(content: str) -> list[str]:
    """Problems with a README's YAML header, as the Hub would list them."""
    import yaml

    m = re.match(r"^---\n(.*?)\n---\n", content, flags=re.S)
    if not m:
        return []
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as err:
        return [f"YAML header does not parse: {err}"]
    errors = []
    if not isinstance(meta, dict):
        return ["YAML header must be a mapping"]
    for key in ("tags", "datasets"):
        if key in meta and not (isinstance(meta[key], list) and all(isinstance(t, str) for t in meta[key])):
            errors.append(f"'{key}' must be a list of strings")
    if "license" in meta and not isinstance(meta["license"], str):
        errors.append("'license' must be a string")
    for model in meta.get("model-index", []) or []:
        for result in model.get("results", []):
            if not isinstance(result.get("task", {}).get("type"), str):
                errors.append("model-index results need task.type")
            ds = result.get("dataset", {})
            if not (isinstance(ds.get("name"), str) and isinstance(ds.get("type"), str)):
                errors.append("model-index results need dataset.name and dataset.type")
            for metric in result.get("metrics", []):
                if not isinstance(metric.get("type"), str) or "value" not in metric:
                    errors.append("model-index metrics need a type and a value")
    return errors


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "forcefields-testing-hub/1"
    state: _State
    verbose = False

    # ------------------------------------------------------------ plumbing
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.verbose:
            super().log_message(format, *args)

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _json(self, status: int, data, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, err: _HttpError, head: bool = False) -> None:
        headers = {"X-Error-Message": err.message}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._send(err.status, b"" if head else json.dumps({"error": err.message}).encode(), headers, head=head)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        query = parse_qs(url.query)
        head = method == "HEAD"
        try:
            with self.state.lock:
                self._route(method, parts, query)
        except _HttpError as err:
            self._error(err, head=head)
        except (ValueError, KeyError, json.JSONDecodeError) as err:
            self._error(_HttpError(400, f"bad request: {err}"), head=head)

    def do_GET(self):  # noqa: N802 - http.server's naming
        self._dispatch("GET")

    def do_HEAD(self):  # noqa: N802
        self._dispatch("HEAD")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    # ------------------------------------------------------------- routing
    def _repo(self, repo_id: str) -> _Repo:
        repo = self.state.repos.get(repo_id)
        if repo is None:
            raise _HttpError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return repo

    def _sha(self, repo: _Repo, rev: str) -> str:
        sha = repo.resolve(rev)
        if sha is None:
            raise _HttpError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return sha

    @staticmethod
    def _split_repo(rest: list[str], actions: tuple[str, ...]) -> tuple[str, str | None, list[str]]:
        """``org/name/<action>/...`` or ``name/<action>/...`` -> (repo_id, action, tail)."""
        if len(rest) >= 2 and rest[1] in actions and not (len(rest) >= 3 and rest[2] in actions):
            return rest[0], rest[1], rest[2:]
        if len(rest) >= 2:
            action = rest[2] if len(rest) > 2 else None
            return f"{rest[0]}/{rest[1]}", action, rest[3:]
        return rest[0], None, []

    def _route(self, method: str, parts: list[str], query: dict) -> None:
        if method == "POST" and parts[:3] == ["api", "repos", "create"]:
            return self._create_repo()
        if method == "POST" and parts[:2] == ["api", "validate-yaml"]:
            return self._validate_yaml()
        if method == "GET" and parts[:2] == ["api", "agent-harnesses"]:
            return self._json(200, {"standardEnvVars": [], "harnesses": {}})  # the client's agent registry
        if parts[:2] in (["api", "models"], ["api", "datasets"]) and len(parts) > 2:
            repo_id, action, tail = self._split_repo(parts[2:], _API_ACTIONS)
            repo_id = _key(repo_id, parts[1] == "datasets")
            if method == "GET" and action in (None, "revision"):
                return self._info(repo_id, "/".join(tail) if tail else "main")
            if method == "GET" and action == "tree":
                return self._tree(repo_id, tail[0] if tail else "main", "/".join(tail[1:]), query)
            if method == "POST" and action == "preupload":
                return self._preupload(repo_id, "/".join(tail))
            if method == "POST" and action == "commit":
                return self._commit(repo_id, "/".join(tail))
            if method == "POST" and action == "branch":
                return self._branch(repo_id, "/".join(tail))
        if method in ("GET", "HEAD") and len(parts) >= 4:
            dataset = parts[0] == "datasets"
            repo_id, action, tail = self._split_repo(parts[1:] if dataset else parts, ("resolve",))
            repo_id = _key(repo_id, dataset)
            if action == "resolve" and len(tail) >= 2:
                return self._resolve(repo_id, tail[0], "/".join(tail[1:]), head=method == "HEAD")
        raise _HttpError(404, f"no such endpoint: {method} {self.path}")

    # ------------------------------------------------------------ handlers
    def _create_repo(self) -> None:
        body = json.loads(self._body() or b"{}")
        name, org = body["name"], body.get("organization")
        repo_id = f"{org}/{name}" if org else name
        dataset = body.get("type") == "dataset"
        url = f"{self.base_url}/{'datasets/' if dataset else ''}{repo_id}"
        repo_id = _key(repo_id, dataset)
        if repo_id in self.state.repos:
            return self._json(409, {"error": "You already created this model repo", "url": url})
        repo = _Repo(repo_id, private=body.get("visibility") == "private" or bool(body.get("private")))
        repo.commit("main", {".gitattributes": _GITATTRIBUTES}, "initial commit")
        self.state.repos[repo_id] = repo
        self._json(200, {"url": url, "name": repo_id})

    def _validate_yaml(self) -> None:
        body = json.loads(self._body() or b"{}")
        errors = _validate_card(body.get("content", ""))
        if errors:
            return self._json(400, {"errors": [{"message": e} for e in errors], "warnings": []})
        self._json(200, {"errors": [], "warnings": []})

    def _info(self, repo_id: str, rev: str) -> None:
        repo = self._repo(repo_id)
        sha = self._sha(repo, rev)
        files = repo.commits[sha]
        public = repo_id.removeprefix("datasets/")
        self._json(200, {
            "id": public,
            "modelId": public,
            "sha": sha,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "tags": [],
            "downloads": 0,
            "likes": 0,
            "siblings": [{"rfilename": p, "size": len(files[p])} for p in sorted(files)],
        })

    def _tree(self, repo_id: str, rev: str, prefix: str, query: dict) -> None:
        repo = self._repo(repo_id)
        files = repo.commits[self._sha(repo, rev)]
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        base = prefix.strip("/") + "/" if prefix.strip("/") else ""
        out, folders = [], set()
        for path in sorted(files):
            if not path.startswith(base):
                continue
            rel = path[len(base):]
            if "/" in rel:
                # every folder on the way, once; files below them only when recursive
                pieces = rel.split("/")[:-1]
                for k in range(1, len(pieces) + 1 if recursive else 2):
                    folders.add(base + "/".join(pieces[:k]))
                if not recursive:
                    continue
            out.append({"type": "file", "oid": _blob_oid(files[path]), "size": len(files[path]), "path": path})
        out += [{"type": "directory", "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0, "path": f} for f in sorted(folders)]
        if base and not out:
            raise _HttpError(404, f"{prefix} does not exist", "EntryNotFound")
        self._json(200, out)

    def _preupload(self, repo_id: str, rev: str) -> None:
        repo = self._repo(repo_id)
        sha = repo.resolve(rev)
        existing = repo.commits[sha] if sha else {}
        body = json.loads(self._body() or b"{}")
        self._json(200, {"files": [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": _blob_oid(existing[f["path"]]) if f["path"] in existing else None,
            }
            for f in body.get("files", [])
        ]})

    def _commit(self, repo_id: str, rev: str) -> None:
        repo = self._repo(repo_id)
        parent = self._sha(repo, rev)
        if rev not in repo.branches:
            raise _HttpError(400, f"can only commit to a branch, not {rev}")
        files = dict(repo.commits[parent])
        message = ""
        for line in self._body().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                message = value.get("summary", "")
                if value.get("parentCommit") not in (None, parent):
                    raise _HttpError(412, "parentCommit is not the head of the branch")
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            elif key == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {p: c for p, c in files.items() if not p.startswith(folder)}
            else:
                raise _HttpError(400, f"the testing hub keeps files inline and cannot take {key!r} operations")
        sha = repo.commit(rev, files, message)
        self._json(200, {
            "success": True,
            "commitOid": sha,
            "commitUrl": f"{self.base_url}/{repo_id}/commit/{sha}",
            "pullRequestUrl": None,
        })

    def _branch(self, repo_id: str, branch: str) -> None:
        repo = self._repo(repo_id)
        body = json.loads(self._body() or b"{}")
        if branch in repo.branches:
            raise _HttpError(409, f"Reference refs/heads/{branch} already exists")
        start = body.get("startingPoint") or "main"
        repo.branches[branch] = self._sha(repo, start)
        self._json(200, {})

    def _resolve(self, repo_id: str, rev: str, path: str, head: bool) -> None:
        repo = self._repo(repo_id)
        sha = self._sha(repo, rev)
        files = repo.commits[sha]
        if path not in files:
            raise _HttpError(404, f"Entry {path} not found at {rev}", "EntryNotFound")
        data = files[path]
        headers = {"X-Repo-Commit": sha, "ETag": f'"{_blob_oid(data)}"', "Accept-Ranges": "bytes"}
        status = 200
        m = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
        if m and not head:
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        if head:
            # a HEAD answer states the length of the body a GET would send
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return
        self._send(status, data, headers, content_type="application/octet-stream")


class HubServer:
    """The testing hub running in a background thread.

    Parameters
    ----------
    port : int, 0 for a free port
    host : str, the loopback address by default
    verbose : bool, log every request to stderr

    Attributes
    ----------
    url : "http://127.0.0.1:<port>", the value for HF_ENDPOINT
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", verbose: bool = False):
        state = _State()
        handler = type("Handler", (_Handler,), {"state": state, "verbose": verbose})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self._state = state
        self._thread: threading.Thread | None = None
        h, p = self._httpd.server_address[:2]
        self.url = f"http://{h}:{p}"

    def start(self) -> "HubServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="testing-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        """The files of a repo (``repo_type`` "model" or "dataset") at a revision (for assertions in tests)."""
        with self._state.lock:
            repo = self._state.repos[_key(repo_id, repo_type == "dataset")]
            return dict(repo.commits[repo.resolve(revision)])

    def repos(self) -> list[str]:
        with self._state.lock:
            return sorted(self._state.repos)

    def __enter__(self) -> "HubServer":
        return self.start() if self._thread is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(port: int = 0, verbose: bool = False) -> HubServer:
    """Start a testing hub on 127.0.0.1 in a background thread (use as a context manager)."""
    return HubServer(port=port, verbose=verbose).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m forcefields.testing_hub", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--quiet", action="store_true", help="do not log requests")
    args = parser.parse_args(argv)
    server = HubServer(port=args.port, verbose=not args.quiet)
    print(f"testing hub at {server.url}; export HF_ENDPOINT={server.url}  (Ctrl-C stops it)", flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
