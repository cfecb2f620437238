"""The notebook path: simulate an observation, run a workflow on it, compare with the truth.

No data center is involved: everything happens in this process, as it would in
a Jupyter notebook (each numbered step below is one notebook cell; the guide
"Getting started in a notebook" walks through them). Run it (well under a minute)::

    python examples/notebook_path.py --workdir /tmp/notebook-demo

It prints how far each calibration product is from the simulator's truth and
saves a figure of the Level 1 Stokes spectra beside the true ones
(``<workdir>/stokes.png``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed; a notebook shows the figure inline instead

import matplotlib.pyplot as plt
import numpy as np
from astropy.io import fits
from dkist_processing_visp import DEFAULT_PARAMETER_VALUES

from dkist_processing_core.calibration import tags as t
from dkist_processing_core.calibration.products import read_array_product
from dkist_processing_core.framework import LocalExecutor, Scratch
from dkist_processing_core.simulate import simulate_visp
from dkist_processing_core.simulate.oracle import expected_stokes
from dkist_processing_core.simulate.runs import run_spec_for

STOKES = "IQUV"
INNER = slice(8, -8)  # wavelength columns away from the edges the spectral-shift correction fills


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True, help="an empty or new folder")
    parser.add_argument("--seed", type=int, default=5, help="seed of the simulated observation")
    args = parser.parse_args()
    workdir = args.workdir.resolve()

    # 1. Simulate a small ViSP observation: raw frames with SPEC-0122 headers, and the truth.
    observation = simulate_visp(workdir / "summit", seed=args.seed, n_scan_steps=2)
    truth = observation.truth
    print(f"simulated {len(observation.frames)} raw frames of {observation.op_runs}")

    # 2. A run spec: the workflow, a scratch folder, the input dataset and the parameter values.
    spec = run_spec_for(
        observation, "visp:l1_calibration", workdir / "scratch", DEFAULT_PARAMETER_VALUES
    )

    # 3. Run every task of the workflow here, in order.
    report = LocalExecutor().run(spec)
    print(f"recipe run {spec.recipe_run_id}: {report.status} in {report.duration_s:.1f} s")
    for task in report.tasks:
        print(f"  {task.name:40s} {task.status:10s} {task.duration_s:6.2f} s")

    # 4. Compare the calibration products with the truth.
    with Scratch(spec.scratch_dir) as scratch:

        def product(*query: str) -> np.ndarray:
            return read_array_product(scratch, *query).astype(np.float64)

        for exposure in truth.dark_exposure_times_ms:
            dark = product(t.task(t.DARK), t.exposure_time(exposure))
            error = np.max(np.abs(dark / truth.dark(exposure) - 1))
            print(f"dark {exposure} ms: largest relative error {error:.2e}")
        gain_error = product(t.task(t.GAIN)) / truth.gain - 1
        print(f"gain: rms relative error {np.sqrt(np.mean(gain_error**2)):.2e}")
        shifts = product(t.task(t.GEOMETRIC))
        shift_error = np.max(np.abs(shifts - truth.spectral_shifts))
        print(f"spectral shifts: largest error {shift_error:.3f} px")

        # 5. The Level 1 frames: one per scan step and Stokes parameter, tile-compressed FITS.
        level1 = scratch.find(t.OUTPUT, t.L1)
        print(f"{len(level1)} Level 1 frames, e.g. {Path(level1[0]).name}")
        cube = np.array(
            [
                [
                    _data(scratch.find_one(t.OUTPUT, t.L1, t.spatial_step(step), t.stokes(s)))
                    for step in range(truth.n_scan_steps)
                ]
                for s in STOKES
            ]
        )
        with fits.open(level1[0]) as hdul:
            header = hdul[1].header
        print(f"L1 header: WKFLNAME={header['WKFLNAME']} WKFLVERS={header['WKFLVERS']}")
        print(f"           INFO_URL={header['INFO_URL']}")

    expected = expected_stokes(truth)
    intensity_error = (cube[0] / expected[0] - 1)[..., INNER]
    print(
        f"Stokes I: mean relative error {intensity_error.mean():+.1e}, "
        f"rms {intensity_error.std():.1e} (photon noise is ~2.5e-3)"
    )
    for i in (1, 2, 3):
        recovered = (cube[i] / cube[0])[..., INNER]
        true_ratio = (truth.stokes[i] / truth.stokes[0])[..., INNER]
        print(
            f"{STOKES[i]}/I: rms difference from the truth {np.std(recovered - true_ratio):.1e} "
            f"(signal rms {np.std(true_ratio):.1e})"
        )

    # 6. A figure: one slit row of scan step 0, calibrated and true.
    row = truth.size[0] // 2
    figure, axes = plt.subplots(4, 1, figsize=(7, 8), sharex=True)
    for i, ax in enumerate(axes):
        scale = 1.0 if i == 0 else cube[0, 0, row]
        true_scale = 1.0 if i == 0 else expected[0, 0, row]
        ax.plot(cube[i, 0, row] / scale, label="Level 1")
        ax.plot(expected[i, 0, row] / true_scale, "--", label="truth")
        ax.set_ylabel(STOKES[i] if i == 0 else f"{STOKES[i]}/I")
    axes[0].legend()
    axes[-1].set_xlabel("wavelength pixel")
    figure.suptitle(f"ViSP scan step 0, slit row {row}")
    figure.savefig(workdir / "stokes.png", dpi=80)
    print(f"figure: {workdir / 'stokes.png'}")


def _data(path) -> np.ndarray:
    with fits.open(path) as hdul:
        return hdul[1].data[0].astype(np.float64)


if __name__ == "__main__":
    main()
