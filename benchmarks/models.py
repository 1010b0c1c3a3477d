"""The detection models side by side on every labelled benchmark there is, and the "state"
model with each of its stages switched off in turn (an ablation).

    python benchmarks/models.py                      # the default model on every benchmark
    python benchmarks/models.py --models state --ablate
    python benchmarks/models.py --quick              # synthload 1-40, NAB dev and corpus seed 0 only
    python benchmarks/models.py --quick --as-checks  # each verdict from the window a check reads
    python benchmarks/models.py --models state --budgets 0.2,1   # at other false-alert budgets

The data: the project's own corpus (benchmarks/corpus.py, seeds 0-3), and, where the shared
benchmark folder is beside the project (`--shared`, default ../shared/bench), its independent
generator (synthload.py: seeds 1-40, and 200 tables from seed 1000) and the labelled
development series (score.py's NAB series). Their generators and scorers are imported from
there, not copied. Each cell: F1 at false alerts per 1,000 judged buckets. Asserts nothing.

By default each series is scored in one walk-forward pass (`score_series`: every bucket judged
from all the buckets before it). A check reads only the last `history_reach` buckets of its
table (8 weeks of an hourly one): with `--as-checks`, each bucket beyond that is judged from
that window alone, as the check judges it (one verdict per bucket: slower).
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack, contextmanager
from functools import partial
from multiprocessing import Pool
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import corpus  # noqa: E402

from rowcount_monitor.detection import (  # noqa: E402
    DetectionPolicy,
    engine,  # noqa: E402
    evaluate_latest,
    score_series,
)
from rowcount_monitor.detection.model import filter as state_filter  # noqa: E402
from rowcount_monitor.detection.model import profile as profile_module  # noqa: E402
from rowcount_monitor.detection.model.calendar_effects import CalendarEffects  # noqa: E402
from rowcount_monitor.detection.model.level import Level  # noqa: E402
from rowcount_monitor.detection.model.noise import Noise, gaussian_k  # noqa: E402
from rowcount_monitor.detection.model.profile import Profile  # noqa: E402
from rowcount_monitor.detection.models import history_reach  # noqa: E402
from rowcount_monitor.detection.seasonality import resolve_periods  # noqa: E402


@contextmanager
def _no_clock():
    original = state_filter.run_filter

    def run(*args, **kwargs):
        return original(*args, **{**kwargs, "clock": ()})

    with mock.patch("rowcount_monitor.detection.statespace.run_filter", run):
        yield


# each stage of the state model, and how it is switched off (what the model assumes without it)
ABLATIONS = {
    "empty slots": lambda: mock.patch.object(Profile, "empty", lambda self, phase, seen=2: False),
    "own midnight": lambda: mock.patch.object(profile_module, "DAY_START_GAIN", float("inf")),
    "slots of their own": lambda: mock.patch.object(Profile, "missed", lambda self, *a: None),
    "slots of the week": lambda: mock.patch.object(Profile, "shrink", lambda self, spread: None),
    "calendar effects": lambda: mock.patch.object(CalendarEffects, "value", lambda self, kind, day: 0.0),
    "level changes (CUSUM)": lambda: mock.patch.object(Level, "watch", lambda self, *a: None),
    "reversion": lambda: mock.patch.object(Level, "earlier", lambda self, t: None),
    "tail fit": lambda: mock.patch.object(Noise, "threshold", lambda self, rate: gaussian_k(rate)),
    "routine bursts": lambda: mock.patch.object(Noise, "burst", lambda self, side, k: 0.0),
    "clock": _no_clock,
    "run test": lambda: mock.patch.object(state_filter, "LEAN", float("inf")),
    "sparse totals": lambda: mock.patch.object(
        engine, "_sparse_at", lambda grid, positions, periods: np.zeros(len(positions), bool)
    ),
}


def _f1(tot) -> str:
    w, d, alerts, true_alerts, n = tot
    recall = d / w if w else 0.0
    precision = true_alerts / alerts if alerts else 0.0
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    return f"{f1:.3f} at {1000 * (alerts - true_alerts) / n:4.2f}"


def _policy(model: str, **extra) -> DetectionPolicy:
    return DetectionPolicy(model=model, **extra)


def flags_of(s: pd.Series, policy: DetectionPolicy, as_checks: bool, since=None) -> pd.Series:
    """Each bucket's is_anomaly: from one walk-forward pass, or `as_checks`, from the window of
    `history_reach` (+ the M-of-N window) buckets ending at it where the history is longer."""
    flags = score_series(s, policy, since=since)["is_anomaly"].astype(bool)
    if not as_checks or len(s) < 2:
        return flags
    reach = history_reach(resolve_periods(policy.seasonality, s.index[1] - s.index[0])) + policy.window
    for i in range(reach, len(s)):
        if since is None or s.index[i] >= since:
            flags.iloc[i] = evaluate_latest(s.iloc[i - reach + 1 : i + 1], policy).is_anomaly
    return flags


def _synthload_one(i: int, model: str, extra: dict, as_checks: bool) -> np.ndarray:
    bench = sys.modules["synthload"]  # imported from the shared folder by main (a module does not pickle)
    s, wins, ignore, _, _ = bench.make_table(i)
    return np.asarray(bench.score(s, flags_of(s, _policy(model, **extra), as_checks), wins, ignore))


def synthload_cell(model: str, extra: dict, seed: int, tables: int, as_checks: bool, processes: int) -> str:
    with Pool(processes) as pool:
        one = partial(_synthload_one, model=model, extra=extra, as_checks=as_checks)
        scored = pool.map(one, range(seed, seed + tables))
    return _f1(np.sum(scored, axis=0))


def nab_cell(bench, model: str, extra: dict, as_checks: bool) -> str:
    total = np.zeros(5, int)
    for _, s, wins in bench.series():
        total += np.array(bench.score(flags_of(s, _policy(model, **extra), as_checks), wins))
    return _f1(total)


def _corpus_one(spec, model: str, extra: dict, as_checks: bool):
    t = corpus.make_table(*spec)
    policy = DetectionPolicy(holidays=t.holidays, model=model, **extra)
    return corpus.score_table(t, flags_of(t.series, policy, as_checks, since=t.judge_from).to_numpy())


def corpus_cell(model: str, extra: dict, seed: int, processes: int, as_checks: bool) -> str:
    with Pool(processes) as pool:
        one = partial(_corpus_one, model=model, extra=extra, as_checks=as_checks)
        scored = pool.map(one, corpus.corpus(seed), chunksize=4)
    s = corpus.summarize(scored)
    return f"{s['f1']:.3f} at {s['false_1k']:4.2f}"


def rows(args, nab):
    """(benchmark name, function of the model giving its cell)."""
    out = []
    if nab is not None:
        pool = {"as_checks": args.as_checks, "processes": args.processes}
        out.append(("synthload seeds 1-40", partial(synthload_cell, seed=1, tables=40, **pool)))
        if not args.quick:
            out.append(("synthload 200 from seed 1000", partial(synthload_cell, seed=1000, tables=200, **pool)))
        out.append(("NAB dev (score.py)", partial(nab_cell, nab, as_checks=args.as_checks)))
    for seed in (0,) if args.quick else (0, 1, 2, 3):
        out.append(
            (f"corpus seed {seed}", partial(corpus_cell, seed=seed, processes=args.processes, as_checks=args.as_checks))
        )
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="state", help="comma-separated models: state, stl, sarimax (default state)")
    parser.add_argument("--ablate", action="store_true", help="also the state model with each stage off")
    parser.add_argument("--quick", action="store_true", help="synthload 1-40, NAB dev and corpus seed 0 only")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "bench"), help="the shared bench folder")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--as-checks", action="store_true", help="judge each bucket from the window a check reads (slower)"
    )
    parser.add_argument("--budgets", default="", help="comma-separated false-alert budgets: each model once per budget")
    args = parser.parse_args(argv)
    nab = None
    if (Path(args.shared) / "synthload.py").is_file():
        sys.path.insert(0, args.shared)
        import score as nab  # the shared folder's scorer and series
        import synthload  # noqa: F401  (the workers find it in sys.modules)
    else:
        print(f"({args.shared} not found: the project's corpus only)", file=sys.stderr)
    settings: list[tuple[str, dict]] = [
        (f" at budget {float(b):g}", {"false_alerts_per_1000": float(b)}) for b in args.budgets.split(",") if b
    ] or [("", {})]
    columns = [(m + suffix, m, extra, ExitStack) for m in args.models.split(",") for suffix, extra in settings]
    if args.ablate:
        columns += [(f"state - {name}", "state", {}, switch) for name, switch in ABLATIONS.items()]
    benchmarks = rows(args, nab)
    print("F1 at false alerts per 1,000 judged buckets")
    print(f"{'model':34s}" + "".join(f"{name:>30s}" for name, _ in benchmarks))
    for label, model, extra, switch in columns:
        cells = []
        with switch():
            for name, cell in benchmarks:
                t0 = time.perf_counter()
                cells.append(cell(model, extra))
                print(f"  {label}: {name} {cells[-1]} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        print(f"{label:34s}" + "".join(f"{c:>30s}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
