"""The operator's path: a data center in a folder, driven only by the ``dkist-processing`` CLI.

A simulated ViSP observation arrives at the data center. The operator registers
the instrument, its workflow, the parameter values and a recipe; the summit's
processing candidate, transfer manifests and frames are recorded; the periodic
readiness pass finds the candidate ready and creates a recipe run; the scheduler
runs it; the status view and the ticket list say what happened.

Run it (well under a minute)::

    python examples/operator_path.py --workdir /tmp/operator-demo

Everything it makes (the SQLite metadata store, the raw frames, the run's
scratch with its Level 1 frames) stays under ``--workdir``. Each CLI command is
printed with its output, as an operator would see it. The commands run in this
process through the CLI's own argument parsing (a new process per command costs
a second or two of imports each); ``--separate-processes`` runs each one as its
own ``dkist-processing`` process instead, exactly as typed in a shell.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from astropy.io import fits
from dkist_processing_visp import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.framework import Scratch
from dkist_processing_core.simulate import simulate_visp

RECIPE = "visp-l1"
VALID_FROM = "2024-01-01"


def cli_program() -> list[str]:
    """The ``dkist-processing`` command of the Python running this script."""
    beside = Path(sys.executable).parent / "dkist-processing"
    found = str(beside) if beside.exists() else shutil.which("dkist-processing")
    if found is None:
        sys.exit("dkist-processing is not installed: pip install -e . first")
    return [found]


def run_in_process(arguments: list[str]) -> int:
    """Run one CLI command in this process, as ``dkist-processing`` would; return its exit code."""
    import typer

    from dkist_processing_core.cli.main import app

    try:
        typer.main.get_command(app).main(args=arguments, prog_name="dkist-processing")
    except SystemExit as done:  # click ends every command with sys.exit
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="an empty or new folder")
    parser.add_argument("--seed", type=int, default=3, help="seed of the simulated observation")
    parser.add_argument(
        "--separate-processes", action="store_true", help="one dkist-processing process each"
    )
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # The embedded SQLite store in --workdir, whatever the shell has configured.
    os.environ.pop("DKIST_PROCESSING_DATABASE_URL", None)
    os.environ["COLUMNS"] = "160"  # wide enough that tables are not folded

    def cli(*words: str) -> None:
        command = [*words, "--workdir", str(workdir)]
        print(f"$ dkist-processing {' '.join(_quote(w) for w in command)}", flush=True)
        if args.separate_processes:
            code = subprocess.run(cli_program() + command).returncode
        else:
            code = run_in_process(command)
        sys.stdout.flush()
        if code != 0:
            sys.exit(f"command failed (exit {code}): dkist-processing {' '.join(command)}")

    # 1. The summit: a small simulated ViSP observation (4 OP runs: dark, gain, polcal, observe).
    observation = simulate_visp(workdir / "summit", seed=args.seed, n_scan_steps=2)
    arrivals = workdir / "arrivals.json"
    arrivals.write_text(json.dumps(observation.frame_arrivals(), indent=1))
    print(f"# simulated {len(observation.frames)} raw frames in {observation.root}")
    observe_op = next(op for op, kind in observation.op_runs.items() if kind == "observe")
    calibration_ops = [op for op, kind in observation.op_runs.items() if kind != "observe"]
    first_frame = min(r.date_obs for r in observation.frames)

    # 2. The metadata store and the recipe.
    cli("db", "upgrade")
    cli("recipes", "add-instrument", "visp")
    cli("recipes", "add-workflow", "visp", "l1_calibration", "1.0.0")
    for name, value in DEFAULT_PARAMETER_VALUES.items():
        value_type = "float" if isinstance(value, float) else "json"
        cli("recipes", "add-parameter", "visp", name, value_type)
        cli("recipes", "add-value", "visp", name, json.dumps(value), "--valid-from", VALID_FROM)
    cli("recipes", "set-pool", "default", "1")
    parameters = [w for name in DEFAULT_PARAMETER_VALUES for w in ("-p", name)]
    cli("recipes", "add", RECIPE, "visp", "l1_calibration", "1.0.0", *parameters)
    cli("recipes", "list")

    # 3. What the summit tells the data center: the candidate, the manifests, the frames.
    calibration = [w for op in calibration_ops for w in ("-c", op)]
    cli(
        "candidates", "add", observe_op, RECIPE, observation.proposal_id, "Dr. Sun",
        first_frame, *calibration,
    )  # fmt: skip
    for op, count in observation.transfer_manifest.items():
        cli("candidates", "manifest", op, str(count))
    cli("candidates", "frames", str(arrivals))

    # 4. The periodic jobs: readiness, then the scheduler runs the recipe run. One raw frame
    #    is unreadable at first (moved aside, as by a storage fault), so the run fails and
    #    becomes a ticket: manual by exception.
    cli("readiness", "run")
    damaged = observation.paths[0]
    aside = damaged.with_name(damaged.name + ".aside")
    damaged.rename(aside)
    print(f"# (storage fault: {damaged.name} is missing)")
    cli("runs", "schedule", "--scratch-root", str(workdir / "scratch"))
    cli("status")
    cli("tickets", "list")
    cli("tickets", "show", "1")  # the whole error, each task's status and duration, the logs

    # 5. The operator restores the frame and resolves the ticket by a simple retry. The next
    #    periodic pass (what cron runs: readiness, the scheduler, then publishing each
    #    success as a dataset version) runs the retry.
    aside.rename(damaged)
    print(f"# (frame {damaged.name} restored)")
    cli("tickets", "retry", "1", "--operator", "ops-on-duty", "--note", "frame restored")
    cli("cron")

    # 6. What an operator looks at.
    cli("runs", "list")
    cli("status")
    cli("tickets", "list", "--all")
    cli("datasets", "list")
    retry_scratch = workdir / "scratch" / "recipe_run_2"  # the retry is recipe run 2
    with Scratch(retry_scratch) as scratch:
        level1 = scratch.find(t.OUTPUT, t.L1)
    print(f"# {len(level1)} Level 1 frames in {retry_scratch}")
    for path in level1[:2]:
        with fits.open(path) as hdul:
            header = hdul[1].header
            print(f"#   {Path(path).name}: {header['WKFLNAME']} {header['WKFLVERS']}")
            print(f"#     recipe run {header['RRUNID']}, input dataset {header['IDSOBSID']}")
            print(f"#     documentation {header['INFO_URL']}")
            print(f"#     source code   {header['CAL_URL']}")


def _quote(word: str) -> str:
    return json.dumps(word) if (not word or any(c in word for c in ' "{}[]')) else word


if __name__ == "__main__":
    main()
