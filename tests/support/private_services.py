"""A private PostgreSQL and a private Redis for one test.

Each runs on a free port with its data in its own temporary directory, so a test can stop,
start and restart it in the middle of a conversation without touching the machine's own
services. Use them as context managers: the server is stopped and its directory removed when
the `with` block ends, also when the test fails (and at interpreter exit as a last resort).

PostgreSQL: `initdb` + `pg_ctl` from /usr/lib/postgresql/<version>/bin, trust authentication,
listening on 127.0.0.1 and on a Unix socket inside its own directory. PostgreSQL refuses to run
as root, so when the tests run as root the binaries run as the `postgres` OS user
(`runuser -u postgres --`) and the directory is handed to that user.

Redis: `redis-server` as a child process, without persistence (no RDB, no AOF): a restart
starts empty, as a cache-only Redis does."""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.devservers import free_port

__all__ = ["PrivatePostgres", "PrivateRedis", "ServiceUnavailable", "postgres_bindir"]

PG_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"


class ServiceUnavailable(RuntimeError):
    """A private service cannot be started here (binaries or OS user missing)."""


def postgres_bindir() -> Path:
    """The bin directory of the newest PostgreSQL installed under /usr/lib/postgresql."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)

    candidates = [p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists()
                  and (p / "pg_ctl").exists()]
    if not candidates:
        raise ServiceUnavailable(f"no initdb/pg_ctl under {PG_ROOT}/*/bin")
    return max(candidates, key=version)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _Managed:
    """A private server as a context manager: started on entry; stopped and removed on exit,
    also when the test fails or the interpreter exits first (atexit)."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):  # noqa: ANN204 - returns the subclass
        atexit.register(self.close)
        try:
            self.start()
        except BaseException:
            self.close()
            atexit.unregister(self.close)
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.close()
        finally:
            atexit.unregister(self.close)


class PrivatePostgres(_Managed):
    """A PostgreSQL cluster of its own: `start()`, `stop()`, `restart()`, `create_database()`.

    The port stays the same across restarts, so the URLs handed out stay valid."""

    def __init__(self, port: int | None = None) -> None:
        self.bindir = postgres_bindir()
        self.port = port or free_port()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise ServiceUnavailable("running as root, but `runuser` is not installed")
            try:
                self._owner = pwd.getpwnam(PG_USER)
            except KeyError as exc:
                raise ServiceUnavailable(f"running as root, but no OS user {PG_USER!r}") from exc
            self._as_postgres = [runuser, "-u", PG_USER, "--"]
        self.root = Path(tempfile.mkdtemp(prefix="lbc-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "postgres.log"
        self.sockets.mkdir()
        if self._as_postgres:
            for path in (self.root, self.sockets):
                os.chown(path, self._owner.pw_uid, self._owner.pw_gid)
        self._initialised = False
        self._closed = False

    # --- URLs -------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    # --- lifecycle --------------------------------------------------------------------
    def _run(self, *argv: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        command = [*self._as_postgres, str(self.bindir / argv[0]), *argv[1:]]
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True,
                                timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr.strip()}"
                               f"\n--- {self.log} ---\n{_tail(self.log)}")
        return result

    def init(self) -> None:
        """initdb: one superuser `postgres`, trust authentication, no fsync (a test)."""
        self._run("initdb", "-D", str(self.data), "-U", PG_USER, "--auth=trust",
                  "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
        self._initialised = True

    def start(self) -> None:
        if not self._initialised:
            self.init()
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server ('fast': roll back and disconnect every client; 'immediate': as a
        crash would)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    @property
    def running(self) -> bool:
        if not self._initialised:
            return False
        command = [*self._as_postgres, str(self.bindir / "pg_ctl"), "-D", str(self.data),
                   "status"]
        return subprocess.run(command, cwd=self.root, capture_output=True,
                              check=False).returncode == 0

    def create_database(self, name: str) -> str:
        """Create database `name`; its URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"not a plain database name: {name!r}")
        admin = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return make_url(self.url(name)).render_as_string(hide_password=False)

    def _kill_postmaster(self) -> None:
        """pg_ctl could not stop it: kill the postmaster we started, by its pid."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def close(self) -> None:
        """Stop the server (immediately) and remove its directory. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.running:
            try:
                self.stop("immediate")
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill_postmaster()
        shutil.rmtree(self.root, ignore_errors=True)



class PrivateRedis(_Managed):
    """A redis-server child process without persistence: `start()`, `stop()`, `restart()`."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceUnavailable("redis-server is not installed")
        self.binary = binary
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="lbc-redis-"))
        self.log = self.root / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._closed = False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 20) -> None:
        if self.running:
            return
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--dir", str(self.root)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, cwd=self.root, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        import redis

        assert self.process is not None
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with {self.process.returncode}:"
                                       f"\n{_tail(self.log)}")
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server on port {self.port} did not answer:"
                                       f"\n{_tail(self.log)}")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server (SIGTERM, SIGKILL after 10 s); everything in it is gone."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its directory. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

