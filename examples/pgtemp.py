"""A throwaway PostgreSQL server for tests and demos.

`TempPostgres(base_dir).start()` runs initdb in a fresh directory, listens on a free
loopback port with scram-sha-256 password auth and a self-signed certificate, and creates
two databases owned by the role `mosaic`: `mosaic` (SSL optional) and `mosaic_ssl` (hostssl
only, so a non-SSL connection gets libpq's "no pg_hba.conf entry ... no encryption").
Without SSL only known databases are reachable (so `sslmode=disable` to a missing database
also reads "no pg_hba.conf entry"); with SSL (`require`, or libpq's default `prefer`) a
missing database reads `database "..." does not exist`.
`ram_dir()` is where a short-lived server's files are best kept, if anywhere: the RAM file system `/dev/shm` when it
has room (initdb and each CREATE DATABASE write some hundreds of small files, several times faster there than on a
disk); None when it has not (a container's default 64 MB).
When running as root, every server command runs as the `postgres` user.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

SUPERUSER = "postgres"
USER = "mosaic"
SSL_DB = "mosaic_ssl"
DENIED_DB = "mosaic_private"  # pg_hba.conf rejects every login to it, with or without SSL
UNKNOWN_ROLE = "mosaic_ghost"  # a role that is never created: connecting as it fails with "does not exist"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SOCKET_PATH_MAX = 90  # sun_path is 108 bytes; leave room for ".s.PGSQL.NNNNN"


def find_bindir() -> Path:
    """The PostgreSQL server binaries: `pg_config --bindir`, /usr/lib/postgresql/*/bin, or PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.CalledProcessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: _version_key(p), reverse=True)
    candidates += [Path(p) for p in versions]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql "
                            "or put its bin directory on PATH")


def _version_key(path: str) -> tuple[int, ...]:
    parts = Path(path).parent.name.split(".")
    return tuple(int(p) for p in parts if p.isdigit())


RAM_DIR = Path("/dev/shm")
RAM_DIR_MIN_FREE = 2 << 30  # bytes (a container's default 64 MB /dev/shm holds no server)


def ram_dir() -> Path | None:
    """`RAM_DIR` when it is a tmpfs with `RAM_DIR_MIN_FREE` bytes free and writable by this user, else None."""
    try:
        mounts = Path("/proc/self/mounts").read_text()
        stat = os.statvfs(RAM_DIR)
    except OSError:
        return None
    tmpfs = any(line.split()[1:3] == [str(RAM_DIR), "tmpfs"] for line in mounts.splitlines())
    if tmpfs and stat.f_bavail * stat.f_frsize >= RAM_DIR_MIN_FREE and os.access(RAM_DIR, os.W_OK | os.X_OK):
        return RAM_DIR
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class TempPostgres:
    """A PostgreSQL server in a temporary directory under `base_dir`; see the module doc."""

    host = "127.0.0.1"
    user = USER

    def __init__(self, base_dir: Path, *, max_connections: int = 60, bindir: Path | None = None) -> None:
        self.base_dir = Path(base_dir)
        self.max_connections = max_connections
        self.bindir = bindir
        self.password = "pw-" + secrets.token_hex(12)
        self.superuser_password = "su-" + secrets.token_hex(12)
        self.port = 0
        self.dir: Path | None = None
        self._as_postgres = os.geteuid() == 0
        self._started = False
        self._version = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> TempPostgres:
        """initdb, configure, start the server and create the role and the two databases."""
        if self._started:
            return self
        self.bindir = self.bindir or find_bindir()
        self.dir = self._make_dir()
        atexit.register(self.stop)
        try:
            self._initdb()
            self._make_certificate()
            self._write_config()
            self._start_server()
            self._started = True
            self._bootstrap()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (immediate mode) and remove its directory; safe to call twice."""
        directory, self.dir = self.dir, None
        if directory is None:
            return
        data = directory / "data"
        if (data / "postmaster.pid").exists():
            self._run([str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "20",
                       "stop"], check=False)
        self._started = False
        shutil.rmtree(directory, ignore_errors=True)

    # -- connection strings --------------------------------------------------------------------

    @property
    def ca_file(self) -> Path:
        """The self-signed server certificate (usable as `sslrootcert`)."""
        assert self.dir is not None, "server not started"
        return self.dir / "server.crt"

    @property
    def log_file(self) -> Path:
        assert self.dir is not None, "server not started"
        return self.dir / "postgres.log"

    def dsn(self, dbname: str = "mosaic", *, sslmode: str | None = "disable", password: str | None = None,
            host: str | None = None, port: int | None = None, user: str | None = None) -> str:
        """A URL DSN for `user` (default `mosaic`) to `dbname`."""
        pw = self.password if password is None else password
        auth = quote(user or self.user, safe="") + (":" + quote(pw, safe="") if pw else "")
        url = f"postgresql://{auth}@{host or self.host}:{port or self.port}/{quote(dbname, safe='')}"
        return url + (f"?sslmode={sslmode}" if sslmode else "")

    def superuser_dsn(self, dbname: str = "postgres") -> str:
        """A URL DSN for the superuser `postgres` (password auth over TCP)."""
        return self.dsn(dbname, user=SUPERUSER, password=self.superuser_password)

    def create_database(self, name: str) -> str:
        """Create an empty database owned by `mosaic`, allow it in pg_hba.conf, return its dsn."""
        if not _IDENT.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self._sql(f'CREATE DATABASE "{name}" OWNER "{USER}"')
        self._allow_databases([name])
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        """Drop a database made by `create_database`, closing the sessions still connected to it."""
        if not _IDENT.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        if self._server_version() >= 130000:
            self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:  # (no FORCE before PostgreSQL 13)
            self._sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
                      f'DROP DATABASE IF EXISTS "{name}"')

    # -- internals -----------------------------------------------------------------------------

    def _make_dir(self) -> Path:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        directory = Path(tempfile.mkdtemp(prefix="pg-", dir=self.base_dir))
        if len(str(directory)) > _SOCKET_PATH_MAX or (self._as_postgres and not self._postgres_can_enter(directory)):
            directory.rmdir()
            directory = Path(tempfile.mkdtemp(prefix="mosaic-pg-"))
        if self._as_postgres:
            shutil.chown(directory, SUPERUSER, SUPERUSER)
        return directory

    @staticmethod
    def _postgres_can_enter(directory: Path) -> bool:
        """Whether the `postgres` user can traverse every parent of `directory`."""
        result = subprocess.run(["runuser", "-u", SUPERUSER, "--", "test", "-x", str(directory.parent)],
                                capture_output=True)
        return result.returncode == 0

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        if self._as_postgres:
            argv = ["runuser", "-u", SUPERUSER, "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, cwd=self.dir or None,
                                env={**os.environ, "LC_ALL": "C", "LANG": "C"})
        if check and result.returncode != 0:
            log = ""
            with contextlib.suppress(OSError, AssertionError):
                log = self.log_file.read_text()[-2000:]
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}):\n"
                               f"{result.stdout}\n{result.stderr}\n{log}")
        return result

    def _write(self, path: Path, text: str, mode: int = 0o600) -> None:
        path.write_text(text)
        path.chmod(mode)
        if self._as_postgres:
            shutil.chown(path, SUPERUSER, SUPERUSER)

    def _initdb(self) -> None:
        assert self.dir is not None
        pwfile = self.dir / "superuser.pw"
        self._write(pwfile, self.superuser_password + "\n")
        self._run([str(self.bindir / "initdb"), "-D", str(self.dir / "data"), "-U", SUPERUSER,
                   f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C",
                   "--no-sync", "--no-instructions"])
        pwfile.unlink()

    def _make_certificate(self) -> None:
        assert self.dir is not None
        key, crt = self.dir / "server.key", self.dir / "server.crt"
        result = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"openssl failed: {result.stderr}")
        for path, mode in ((key, 0o600), (crt, 0o644)):
            path.chmod(mode)
            if self._as_postgres:
                shutil.chown(path, SUPERUSER, SUPERUSER)

    def _write_config(self) -> None:
        assert self.dir is not None
        data = self.dir / "data"
        self._write(data / "allowed_dbs", "postgres\ntemplate1\nmosaic\n")
        # Non-SSL connections only reach the databases listed in allowed_dbs (not mosaic_ssl);
        # SSL reaches every database but DENIED_DB (rejected whatever the encryption).
        # UNKNOWN_ROLE (never created) gets "role ... does not exist".
        self._write(data / "pg_hba.conf", (
            "# TYPE    DATABASE       USER          ADDRESS        METHOD\n"
            "local     all            all                          scram-sha-256\n"
            f"host      all            {UNKNOWN_ROLE}  127.0.0.1/32   trust\n"
            f"host      {DENIED_DB} all           127.0.0.1/32   reject\n"
            "hostssl   all            all           127.0.0.1/32   scram-sha-256\n"
            "host      @allowed_dbs   all           127.0.0.1/32   scram-sha-256\n"))
        self.port = free_port()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# mosaic-diag TempPostgres\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.dir}'\n"
                f"max_connections = {self.max_connections}\n"
                f"superuser_reserved_connections = {3 if self.max_connections >= 10 else 0}\n"
                "shared_buffers = 16MB\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "ssl = on\n"
                f"ssl_cert_file = '{self.dir / 'server.crt'}'\n"
                f"ssl_key_file = '{self.dir / 'server.key'}'\n"
                "password_encryption = 'scram-sha-256'\n"
                "log_min_messages = warning\n")

    def _start_server(self) -> None:
        assert self.dir is not None
        for attempt in range(3):
            result = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.log_file),
                                "-w", "-t", "30", "start"], check=False)
            if result.returncode == 0:
                return
            if attempt < 2 and "could not bind" in self.log_file.read_text():
                conf = self.dir / "data" / "postgresql.conf"
                new_port = free_port()
                conf.write_text(conf.read_text().replace(f"port = {self.port}\n", f"port = {new_port}\n"))
                self.port = new_port
                continue
            raise RuntimeError(f"pg_ctl start failed:\n{result.stdout}\n{result.stderr}\n"
                               f"{self.log_file.read_text()[-2000:]}")

    def _sql(self, *statements: str, dbname: str = "postgres") -> None:
        import psycopg2

        conn = psycopg2.connect(self.superuser_dsn(dbname), connect_timeout=10)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
        finally:
            conn.close()

    def _server_version(self) -> int:
        """`server_version_num` (150004 for 15.4)."""
        if not self._version:
            import psycopg2

            conn = psycopg2.connect(self.superuser_dsn(), connect_timeout=10)
            try:
                self._version = conn.server_version
            finally:
                conn.close()
        return self._version

    def _bootstrap(self) -> None:
        import psycopg2.extensions

        self._sql(f"CREATE ROLE \"{USER}\" LOGIN CREATEDB PASSWORD "
                  f"{psycopg2.extensions.QuotedString(self.password).getquoted().decode()}",
                  f'CREATE DATABASE mosaic OWNER "{USER}"',
                  f'CREATE DATABASE {SSL_DB} OWNER "{USER}"')

    def _allow_databases(self, names: list[str]) -> None:
        """Add databases to the pg_hba `host` line's list, reload, and wait until they accept logins."""
        import psycopg2

        assert self.dir is not None
        allowed = self.dir / "data" / "allowed_dbs"
        with allowed.open("a") as f:
            f.writelines(name + "\n" for name in names)
        self._sql("SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        for name in names:
            while True:
                try:
                    psycopg2.connect(self.dsn(name), connect_timeout=5).close()
                    break
                except psycopg2.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
