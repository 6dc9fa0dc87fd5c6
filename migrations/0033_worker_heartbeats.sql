-- Worker liveness (backend/heartbeat.py). Each running worker process beats its row every
-- few seconds, whether or not Redis answers; /health/ready and /metrics read the rows. A
-- row whose beat is old belongs to a dead or stuck worker. Rows go on a clean stop, when a
-- later worker on the same host finds their process gone, and a day after their last beat.
create table worker_heartbeats (
    worker_id       uuid primary key,
    host            text not null,
    -- host is the hostname, boot id and PID namespace: a pid means something only within it.
    pid             integer not null,
    started_at      timestamptz not null default now(),
    beat_at         timestamptz not null default now(),
    redis_connected boolean not null default false,
    last_sweep_at   timestamptz,
    last_relay_at   timestamptz
);
