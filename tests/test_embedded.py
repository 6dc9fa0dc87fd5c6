"""With no DATABASE_URL / REDIS_URL, the embedded servers from the wheels are used."""

from pathlib import Path

import asyncpg
import redis

from backend import migrations
from backend.embedded import servers_for
from backend.settings import Settings


def test_embedded_postgres_and_redis_start_migrate_and_stop(server_dir: Path) -> None:
    import asyncio

    settings = Settings(data_dir=str(server_dir))
    with servers_for(settings) as resolved:
        assert resolved.database_url and resolved.redis_url

        async def check() -> tuple[int, str]:
            conn = await asyncpg.connect(resolved.database_url)
            try:
                applied = await migrations.migrate(conn)
                return len(applied), await conn.fetchval("select fold_vi('Đặc khu Phú Quốc')")
            finally:
                await conn.close()

        count, folded = asyncio.run(check())
        assert count == len(migrations.load_migrations())
        assert folded == "dac khu phu quoc"
        client = redis.Redis.from_url(resolved.redis_url)
        assert client.ping()
        client.close()
    assert (server_dir / "pg" / "PG_VERSION").exists()
    assert (server_dir / "redis").is_dir()


def test_a_redis_left_by_a_dead_run_is_stopped_and_one_of_a_live_run_is_shared(server_dir: Path) -> None:
    import json
    import signal
    import subprocess
    import sys

    import psutil

    from backend.embedded import SharedRedis, start_redis, stop_redis

    folder = server_dir / "redis"
    # Another process starts the embedded Redis and keeps running.
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from backend.embedded import start_redis; "
            "start_redis(Path(sys.argv[1])); print('up', flush=True); time.sleep(600)",
            str(folder),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert owner.stdout is not None and owner.stdout.readline() == b"up\n"
        first = json.loads((folder / "server.json").read_text())
        shared, url = start_redis(folder)
        assert isinstance(shared, SharedRedis) and url == f"redis://127.0.0.1:{first['port']}/0"
        client = redis.Redis.from_url(url)
        assert client.set("cp-embedded-probe", "1") and client.get("cp-embedded-probe") == b"1"
        client.close()
        stop_redis(shared)  # not ours: left running
        assert psutil.pid_exists(first["pid"])
        # The owner dies without cleanup (SIGTERM's default): its Redis is an orphan now.
        owner.send_signal(signal.SIGTERM)
        owner.wait(30)
        assert psutil.Process(first["pid"]).is_running()
        server, url = start_redis(folder)
        try:
            assert not isinstance(server, SharedRedis)
            assert not psutil.pid_exists(first["pid"]) or psutil.Process(first["pid"]).status() == "zombie"
            client = redis.Redis.from_url(url)
            assert client.get("cp-embedded-probe") == b"1"  # the orphan saved its data on the way out
            client.close()
        finally:
            stop_redis(server)
        assert not (folder / "server.json").exists()
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(30)
        assert owner.stdout is not None
        owner.stdout.close()
        for process in psutil.process_iter(["cwd"]):  # a Redis a failed run left, in its folder
            if (process.info["cwd"] or "").startswith(str(folder)):
                process.kill()
