"""A force's deployment in miniature: nginx (the documented configuration, verbatim) in front of
gateway nodes (`scenelink serve` processes), sharing one PostgreSQL record, one Redis and one
blob directory, inside the private test network.

Used by the multi-node tests and the failover benchmark.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as aioredis

from gateway.tls import ensure_self_signed

from .. import databases

ROOT = Path(__file__).resolve().parents[2]
SITE_CONFIG = ROOT / "docs" / "deploy" / "nginx" / "scenelink.conf"
HOST = "10.99.0.1"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _answers(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False


@dataclass
class Node:
    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "gateway", "serve"], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not _answers(self.url + "/readyz"):
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {self.name} was not ready in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """As a machine dies: no goodbye, no drain."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self, timeout: float = 60) -> None:
        """As systemd stops it: SIGTERM, which drains."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class Cluster:
    folder: Path
    redis_url: str
    database: str
    nodes: list[Node] = field(default_factory=list)
    nginx: subprocess.Popen | None = None
    port: int = 0
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"https://{HOST}:{self.port}"

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    async def holder(self, incident_id: str) -> str | None:
        """The node the session directory names for the incident's caller."""
        import json

        client = aioredis.from_url(self.redis_url)
        try:
            raw = await client.get(f"scenelink:live:{incident_id}")
        finally:
            await client.aclose()
        return json.loads(raw)["node"] if raw else None


def _write_nginx(folder: Path, port: int, nodes: list[Node]) -> Path:
    prefix = folder / "nginx"
    (prefix / "scenelink").mkdir(parents=True, exist_ok=True)
    (prefix / "sites").mkdir(exist_ok=True)
    (prefix / "tmp").mkdir(exist_ok=True)
    cert, key = ensure_self_signed(prefix / "tls", [HOST])
    # The documented site configuration, as it is: only the three files it includes are ours.
    shutil.copy(SITE_CONFIG, prefix / "sites" / "scenelink.conf")
    servers = "\n".join(f"    server 127.0.0.1:{n.port} max_fails=1 fail_timeout=5s;" for n in nodes)
    (prefix / "scenelink" / "upstreams.conf").write_text(
        f"upstream scenelink_nodes {{\n{servers}\n    keepalive 16;\n}}\n"
    )
    (prefix / "scenelink" / "listen.conf").write_text(
        f"listen {HOST}:{port} ssl;\nserver_name _;\nssl_certificate {cert};\nssl_certificate_key {key};\n"
    )
    (prefix / "scenelink" / "operators.conf").write_text("allow all;\n")
    main = prefix / "nginx.conf"
    main.write_text(f"""user root;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include sites/scenelink.conf;
}}
""")
    return main


def start_cluster(folder: Path, redis_url: str, names: tuple[str, ...] = ("a", "b")) -> Cluster:
    """Migrate a new PostgreSQL database, add operators, start the nodes and nginx."""
    database = databases.create_database()
    cluster = Cluster(folder, redis_url, database, port=free_port(HOST))
    cluster.passwords = {"admin": secrets.token_urlsafe(18), "handler1": secrets.token_urlsafe(18)}
    secret = secrets.token_urlsafe(24)
    shared = folder / "shared"
    base_env = dict(os.environ)
    base_env.update({
        "SCENELINK_DATA_DIR": str(shared),
        "SCENELINK_DATABASE_URL": databases.postgres_url(database),
        "SCENELINK_REDIS_URL": redis_url,
        "SCENELINK_TLS": "off",
        "SCENELINK_HOST": "127.0.0.1",
        "SCENELINK_PUBLIC_URL": cluster.base_url,
        "SCENELINK_TRUSTED_PROXIES": "127.0.0.1/32",
        "SCENELINK_NODE_SECRET": secret,
        "SCENELINK_ADMIN_PASSWORD": cluster.passwords["admin"],
        "PYTHONUNBUFFERED": "1",
    })
    done = subprocess.run(
        [PYTHON, "-m", "gateway", "users", "add", "handler1", "--role", "handler"],
        input=cluster.passwords["handler1"] + "\n", env=base_env, cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for name in names:
        port = free_port()
        env = {**base_env, "SCENELINK_PORT": str(port), "SCENELINK_NODE_NAME": name,
               "SCENELINK_NODE_URL": f"http://127.0.0.1:{port}"}
        cluster.nodes.append(Node(name, port, env, folder / f"node-{name}.log"))
    for node in cluster.nodes:
        node.start()
    for node in cluster.nodes:
        node.wait_ready()
    main = _write_nginx(folder, cluster.port, cluster.nodes)
    cluster.nginx = subprocess.Popen(
        [NGINX, "-p", str(main.parent), "-c", str(main), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=open(folder / "nginx.stderr", "wb"),
    )
    deadline = time.monotonic() + 20
    while not _nginx_answers(cluster):
        if cluster.nginx.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("nginx did not start: " + (folder / "nginx.stderr").read_text(errors="replace"))
        time.sleep(0.1)
    return cluster


def _nginx_answers(cluster: Cluster) -> bool:
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(cluster.base_url + "/healthz", context=context, timeout=1) as resp:
            return resp.status == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False


def stop_cluster(cluster: Cluster) -> None:
    if cluster.nginx is not None and cluster.nginx.poll() is None:
        cluster.nginx.terminate()
        cluster.nginx.wait(10)
    for node in cluster.nodes:
        node.kill()
    databases.drop_database(cluster.database)


async def until(check, timeout: float = 30.0, interval: float = 0.1):
    """Poll ``check()`` (async) until it returns something true; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        await asyncio.sleep(interval)
