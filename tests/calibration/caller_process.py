"""A notebook's process that runs a workflow: what it set must be as it set it afterwards.

Run as a script (``python caller_process.py <instrument> <workdir>``) in a fresh process
started with ``MPLBACKEND=pdf``: it configures matplotlib, logging, warnings, numpy and
its working directory as a user might, opens a pyplot figure, runs the instrument's
default workflow in-process on a small simulated observation with the local executor,
and prints a JSON document ``{"differences": {...}, "status": ...}``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import warnings
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib import pyplot as plt


def logger_state(logger: logging.Logger) -> list:
    return [logger.level, [repr(h) for h in logger.handlers], logger.propagate, logger.disabled]


def snapshot() -> dict:
    loggers = {
        name: logger_state(logger)
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    return {
        "backend": matplotlib.get_backend(),
        "rcParams": {k: repr(v) for k, v in matplotlib.rcParams.items()},
        "pyplot figures": plt.get_fignums(),
        "root logger": logger_state(logging.getLogger()),
        "loggers": loggers,
        "logging.disable": logging.root.manager.disable,
        "warnings filters": [repr(f) for f in warnings.filters],
        "numpy errors": np.geterr(),
        "cwd": os.getcwd(),
    }


def differences(before: dict, after: dict) -> dict:
    out = {}
    for key, value in before.items():
        if key == "loggers":
            # Loggers that existed before must be as they were (new ones come with imports).
            changed = {
                n: [v, after[key].get(n)] for n, v in value.items() if after[key].get(n) != v
            }
            ours = {
                n: v for n, v in after[key].items()
                if n.startswith("dkist_processing_core.") and v[1]  # no handlers installed
            }  # fmt: skip
            if changed or ours:
                out[key] = {"changed": changed, "library loggers with handlers": ours}
        elif key == "rcParams":
            changed = {
                k: [v, after[key].get(k)] for k, v in value.items() if after[key].get(k) != v
            }
            if changed:
                out[key] = changed
        elif after[key] != value:
            out[key] = [value, after[key]]
    return out


def main(instrument: str, workdir: Path) -> None:
    from dkist_processing_core.framework import LocalExecutor, instruments
    from dkist_processing_core.simulate import simulate_vbi, simulate_visp, single_filter
    from dkist_processing_core.simulate.runs import run_spec_for

    if instrument == "visp":
        observation = simulate_visp(workdir / "sim", seed=3, n_scan_steps=4, n_dark_frames=5)
    else:
        observation = simulate_vbi(
            workdir / "sim", seed=4, size=(32, 32), n_frames_per_tile=1, n_dark_frames=2,
            n_gain_frames=2, **single_filter(1),
        )  # fmt: skip
    parameters = instruments()[instrument].default_parameter_values
    spec = run_spec_for(
        observation, f"{instrument}:l1_calibration", workdir / "scratch", parameters
    )

    # What a notebook user has set up.
    plt.style.use("ggplot")
    matplotlib.rcParams["lines.linewidth"] = 3.3
    matplotlib.rcParams["font.family"] = "monospace"
    figure = plt.figure()  # an open pyplot figure of the user's
    figure.add_subplot().plot([1, 2, 3])
    logging.basicConfig(level=logging.WARNING, stream=io.StringIO(), format="user: %(message)s")
    mine = logging.getLogger("dkist_processing_core")
    mine.addHandler(logging.StreamHandler(io.StringIO()))
    mine.setLevel(logging.INFO)
    mine.propagate = False
    logging.getLogger("matplotlib").setLevel(logging.DEBUG)
    warnings.filterwarnings("ignore", message="the user's own filter")
    warnings.simplefilter("always", UserWarning)
    np.seterr(divide="ignore", invalid="ignore", over="ignore")
    os.chdir(workdir)

    before = snapshot()
    report = LocalExecutor().run(spec)
    after = snapshot()
    print(json.dumps({"status": report.status, "differences": differences(before, after)}))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]).resolve())
