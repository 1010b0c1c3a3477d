"""The processes the demo and the backfill start, and how they end.

`run_supervised`: `dg dev` for the demo (and the history it records beside it), so that Ctrl-C
and SIGTERM stop every process it started;
`until_ctrl_c`: the demo as a whole, so that Ctrl-C ends it in one line (under `make` too).

`dagster dev` starts a webserver, a daemon and code servers. Started in the background, it
inherits an ignored SIGINT, and it answers SIGTERM slowly or not at all; its children then live
on holding the port. So the demo runs it in a process group of its own and, on SIGINT or
SIGTERM, signals the whole group, waits a few seconds for a clean shutdown and kills what is
left.

`in_processes`: the backfill's workers, let go when done rather than signalled.
"""

from __future__ import annotations

import multiprocessing
import os
import pty
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def run_supervised(argv: list[str], grace: float = 5.0, beside: Sequence[list[str]] = ()) -> int:
    """Run `argv` until it exits, or until this process gets SIGINT or SIGTERM: then send SIGINT
    to its whole process group, SIGTERM after half of `grace` seconds (one signal at a time: two
    at once interrupt Dagster's shutdown mid-way, a traceback per process) and SIGKILL to
    whatever still runs after `grace`. Returns the child's exit code (128 + the signal's number
    when stopped). What the processes print is passed on until the stop: then their shutdown
    (a code server stopped while it loaded prints a traceback per process) is left unsaid.
    `beside`: commands run alongside for as long as they take (the demo's history), stopped
    with it; on a terminal they get one of their own, so that a progress line redraws in place."""
    stop = threading.Event()
    started = [_start(argv, stop, tty=False), *(_start(command, stop, tty=sys.stdout.isatty()) for command in beside)]
    child = started[0][0]
    received: list[int] = []

    def on_signal(signum, _frame):
        received.append(signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS}
    try:
        while child.poll() is None and not stop.wait(0.2):
            pass
        if child.poll() is None:
            print("\nstopping the Dagster UI and every process it started ...", flush=True)
        stop.set()
        for process, relay in started:
            for s in STOP_SIGNALS:
                if process.poll() is not None:
                    break
                _signal_group(process.pid, s)
                try:
                    process.wait(grace / len(STOP_SIGNALS))
                    break
                except subprocess.TimeoutExpired:
                    pass
            _signal_group(process.pid, signal.SIGKILL)  # the children too, even where the leader has exited
            process.wait()
            relay.join(grace)
        return 128 + received[0] if received else child.returncode
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _start(argv: list[str], stop: threading.Event, tty: bool) -> tuple[subprocess.Popen, threading.Thread]:
    """`argv` in a session of its own, its output relayed to ours (through a pseudo-terminal
    where `tty`) until `stop` is set."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each line as it is written, not a buffer later
    if tty:
        main, side = pty.openpty()
        child = subprocess.Popen(
            argv, start_new_session=True, stdin=subprocess.DEVNULL, stdout=side, stderr=side, env=env
        )
        os.close(side)
        source = main
    else:
        child = subprocess.Popen(
            argv, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        )
        source = child.stdout.fileno()  # type: ignore[union-attr]
    relay = threading.Thread(target=_relay, args=(source, stop, tty), daemon=True)
    relay.start()
    return child, relay


def _relay(source: int, stop: threading.Event, own: bool) -> None:
    """Copy what a supervised process writes to our output, as it comes, until `stop` is set;
    close `source` at its end where it is `own` (a pseudo-terminal's side)."""
    while True:
        try:
            chunk = os.read(source, 4096)
        except OSError:  # a pseudo-terminal whose process side closed
            break
        if not chunk:
            break
        if not stop.is_set():
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
    if own:
        os.close(source)


def until_ctrl_c(work: Callable[[], int]) -> int:
    """Run `work` (an interactive command such as the demo, which runs until Ctrl-C) with the
    terminal's Ctrl-C its own: a stop by Ctrl-C is how it is meant to end, so it ends quietly
    (one line, exit status 0); other exit codes pass through."""
    give_back = own_terminal()
    try:
        code = work()
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
        return 0
    finally:
        give_back()
    return 0 if code == 128 + signal.SIGINT else code


def own_terminal() -> Callable[[], None]:
    """Make this process's group the terminal's foreground one, so that Ctrl-C reaches this
    process and what it started, and not the `make` that ran it (which would print
    "make: *** [demo] Interrupt" however quietly the demo stops); returns what gives the
    terminal back. Nothing to do off a terminal or where this process leads its group already."""
    try:
        if not sys.stdin.isatty() or os.getpgrp() == os.getpid() or os.tcgetpgrp(0) != os.getpgrp():
            return lambda: None
        before = os.getpgrp()
        os.setpgid(0, 0)
        _foreground(os.getpgrp())
    except OSError:
        return lambda: None
    return lambda: _foreground(before)


def _foreground(pgid: int) -> None:
    before = signal.signal(signal.SIGTTOU, signal.SIG_IGN)  # a background group may not take it otherwise
    try:
        os.tcsetpgrp(0, pgid)
    except OSError:  # the group that had it is gone: the shell takes it back
        pass
    finally:
        signal.signal(signal.SIGTTOU, before)


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:  # the group is gone already
        pass


def in_processes(fn, calls: list[tuple], initializer=None, initargs: tuple = ()) -> list:
    """fn(*args) for each args of `calls`, each in a fresh process of its own, in order.

    The workers are let go by closing the pool, never by terminating it (what `with Pool()`
    does on exit): a process that ran a Dagster job answers SIGTERM with the SIGINT handler
    Dagster mapped it to, and with Dagster's threads alive in it the signal can land on a thread
    that never wakes the blocked main one: the backfill then waited forever for a worker
    that had finished its work."""
    pool = multiprocessing.get_context("spawn").Pool(len(calls), initializer, initargs)
    try:
        results = pool.starmap(fn, calls)
    except BaseException:
        pool.terminate()
        raise
    pool.close()
    pool.join()
    return results
