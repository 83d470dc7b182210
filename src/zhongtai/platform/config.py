"""Settings read from the environment (prefix ZT_), with embedded defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_data_dir() -> Path:
    return Path(os.environ.get("ZT_DATA_DIR", "var")).resolve()


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=_default_data_dir)
    database_url: str = ""
    secret_key: str = ""
    token_ttl_seconds: int = 3600
    login_max_failures: int = 5
    login_lockout_seconds: int = 900
    nats_url: str = ""
    nats_stream: str = "ZHONGTAI"
    clickhouse_url: str = ""  # empty: embedded chDB in data_dir/chdb
    clickhouse_database: str = "zhongtai"
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 2.0
    webhook_timeout_seconds: float = 5.0
    relay_interval_seconds: float = 0.5
    relay_lease_seconds: float = 30.0
    run_relay: bool = True
    # A collector tier (采集层): only sign-in, `/v1/events` and the probes; no relay and
    # no warehouse, so several worker processes may share embedded chDB's host.
    collector_only: bool = False
    plugins: tuple[str, ...] = ()

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'zhongtai.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


def _secret(data_dir: Path) -> str:
    """A signing key that survives restarts: from ZT_SECRET_KEY or a file made once."""
    if key := os.environ.get("ZT_SECRET_KEY"):
        return key
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(os.urandom(32).hex())
        path.chmod(0o600)
    return path.read_text().strip()


def load_settings() -> Settings:
    env = os.environ
    data_dir = _default_data_dir()
    return Settings(
        data_dir=data_dir,
        database_url=env.get("ZT_DATABASE_URL", ""),
        secret_key=_secret(data_dir),
        token_ttl_seconds=int(env.get("ZT_TOKEN_TTL_SECONDS", "3600")),
        login_max_failures=int(env.get("ZT_LOGIN_MAX_FAILURES", "5")),
        login_lockout_seconds=int(env.get("ZT_LOGIN_LOCKOUT_SECONDS", "900")),
        nats_url=env.get("ZT_NATS_URL", ""),
        nats_stream=env.get("ZT_NATS_STREAM", "ZHONGTAI"),
        clickhouse_url=env.get("ZT_CLICKHOUSE_URL", ""),
        clickhouse_database=env.get("ZT_CLICKHOUSE_DATABASE", "zhongtai"),
        webhook_max_attempts=int(env.get("ZT_WEBHOOK_MAX_ATTEMPTS", "8")),
        relay_lease_seconds=float(env.get("ZT_RELAY_LEASE_SECONDS", "30")),
        webhook_backoff_seconds=float(env.get("ZT_WEBHOOK_BACKOFF_SECONDS", "2")),
        run_relay=env.get("ZT_RUN_RELAY", "1") != "0",
        collector_only=env.get("ZT_COLLECTOR_ONLY", "0") == "1",
        plugins=tuple(p for p in env.get("ZT_PLUGINS", "").split(",") if p),
    )
