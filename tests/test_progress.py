import io

from rowcount_monitor.progress import Progress, advance, share
from rowcount_monitor.supervise import in_processes


def _work(n: int) -> int:
    for _ in range(n):
        advance(1)
    return n


def test_workers_in_processes_of_their_own_advance_one_counter():
    with Progress("backfill", 30, "buckets", io.StringIO()) as progress:
        advance(5)  # the parent's own work counts too
        assert in_processes(_work, [(10,), (15,)], initializer=share, initargs=(progress.counter,)) == [10, 15]
    assert progress.counter.value == 30
    advance(1)  # no progress open: counts nowhere
    assert progress.counter.value == 30


def test_the_line_says_done_total_rate_and_time_left():
    progress = Progress("backfill", 24_176, "buckets", io.StringIO())
    assert progress.line(0, 0.0) == "backfill: 0 / 24,176 buckets (0%)"
    assert (
        progress.line(12_088, 100.0) == "backfill: 12,088 / 24,176 buckets (50%), 121 buckets/s, about 1 min 40 s left"
    )
    assert progress.line(24_176, 200.0) == "backfill: 24,176 / 24,176 buckets (100%), 121 buckets/s"
