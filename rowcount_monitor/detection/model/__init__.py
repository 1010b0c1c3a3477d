"""The row-count model, in named stages (docs/detection.md, "The model").

A table's count in bucket t, on the count scale (transform.py), is

    y_t = level_t + profile(t) + calendar(t) + noise_t

- `profile.py`: the seasonal profile: hour of day plus day of week, the days beginning at the
  table's own midnight, with slots that are empty learned as such, and each slot of the week's
  own departure from them, used as far as the slots show one (an empirical-Bayes shrinkage),
  and whole where a miss recurred;
- `calendar_effects.py`: recurring days other than the week (the last and first day of the
  month), learned once seen twice;
- `level.py`: the level, a robust filter that follows slow drift, takes a sustained change as
  the new level only after it held (a CUSUM test), and goes back to the level before a change
  when the counts do (a day off that looked like a change is not one);
- `noise.py`: the spread of the model's own one-step-ahead errors, and the threshold that gives
  the false-alert rate the policy asks for;
- `filter.py`: one pass over the history that carries all of them from bucket to bucket and
  judges each bucket before learning from it.
"""

from .filter import Judged, run_filter

__all__ = ["Judged", "run_filter"]
