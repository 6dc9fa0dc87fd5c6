"""The ingest benchmark's report judges only ratios it may print: a round in which wrk used
more than a quarter of the machine makes the ratio `refused` in the table and in the
targets alike (pure: built from measurements, no servers)."""

from __future__ import annotations

from bench.ingest import Measurement, Round, parse_args, render


def round_of(side: str, requests: int, share: float) -> Round:
    return Round(
        side=side,
        requests=requests,
        seconds=1.0,
        non2xx=0,
        socket_errors=0,
        p50_ms=10.0,
        p99_ms=20.0,
        api_cpu_ms=0.3,
        pg_cpu_ms=0.2,
        generator_share=share,
    )


def measurement(workers: int, base: int, full: int, share: float) -> Measurement:
    m = Measurement(scale=0, statistics="fresh", workers=workers)
    for _ in range(3):
        m.rounds += [round_of("baseline", base, share), round_of("full-path", full, share)]
    return m


def test_targets_pass_miss_and_refuse_as_the_table_does() -> None:
    args = parse_args(["--scales", "0"])
    info = {"postgres": "15", "jit": False, "autovacuum": "off", "data": "d", "limit": 20}
    report = render(
        [measurement(1, 1000, 850, 0.05), measurement(2, 1000, 600, 0.05), measurement(3, 1000, 990, 0.40)],
        None,
        info,
        args,
    )
    assert "PASS  full >= 0.8 x baseline at 0, 1 proc: 0.85" in report
    assert "MISS  full >= 0.8 x baseline at 0, 2 proc: 0.60" in report
    assert "----  full >= 0.8 x baseline at 0, 3 proc: refused (wrk used 40% of the machine)" in report
    assert "0.99" not in report  # the refused ratio is printed nowhere
