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
