"""DKIST's PA&C fitter (dkist-processing-pac) on the same simulated polcal data, for comparison.

This script runs in an environment of its own where ``dkist-processing-pac`` is installed (never
beside this package; it imports nothing of ``dkist_processing_core``)::

    python -m venv /tmp/pacvenv && /tmp/pacvenv/bin/pip install dkist-processing-pac
    PAC_PYTHON=/tmp/pacvenv/bin/python .venv/bin/python -m benchmarks.bench_polcal_fit --pac

``bench_polcal_fit`` writes the binned polcal data and the states to a folder (``problem.npz``,
``problem.json``) and runs ``$PAC_PYTHON benchmarks/pac_side_by_side.py <folder>``, which prints
one JSON document: PA&C's fitted unit parameters and its seconds for the global fit and per bin.

The same physics is given to PA&C: its telescope parameters (M12, M34, M56) are set to the
simulator's instead of its database's, its calibration unit starts at the same nominal values
(retardance 92 deg as a linear retarder: ``ret0h``; ``ret045 = ret0r = 0`` held; ideal
polarizer, ``py = 0``), with one retardance and one pair of transmissions for all sequences
(``use_M12_globalRet_globalTrans``). The GOS angles are the headers' (DKIST's header frame).
PA&C fits the unit on the field average first (one "global" fit), then each bin's modulation
matrix with the unit held (one lmfit fit per bin).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def _frames(data, records, step_range, wavelength):
    """PA&C's input for one calibration sequence: {step: [frame per modulator state]}."""
    out = {}
    for i, k in enumerate(step_range):
        r = records[k]
        frames = []
        for m in range(data.shape[1]):
            frames.append(
                SimpleNamespace(
                    data=np.asarray(data[k, m], dtype=np.float64),
                    modulator_state=m + 1,
                    number_of_modulator_states=data.shape[1],
                    instrument="VISP",
                    wavelength=wavelength,
                    ip_start_time="2024-05-01T18:00:00",
                    ip_end_time="2024-05-01T18:30:00",
                    time_obs=f"2024-05-01T18:{k // 60:02d}:{k % 60:02d}",
                    azimuth=r["azimuth_deg"],
                    elevation=r["elevation_deg"],
                    table_angle=r["table_angle_deg"],
                    gos_polarizer_angle=r["header_polarizer_angle_deg"] or 0.0,
                    gos_retarder_angle=r["header_retarder_angle_deg"] or 0.0,
                    gos_polarizer_status="clear"
                    if r["header_polarizer_angle_deg"] is None
                    else "Sapphire Polarizer",
                    gos_retarder_status="clear"
                    if r["header_retarder_angle_deg"] is None
                    else "SiO2 OC",
                    gos_level0_status="FieldStop (5arcmin)",
                )
            )
        out[i] = frames
    return out


def main(folder: Path) -> dict:
    from dkist_processing_pac.fitter import fitter_parameters
    from dkist_processing_pac.fitter.polcal_fitter import PolcalFitter
    from dkist_processing_pac.input_data.drawer import Drawer
    from dkist_processing_pac.input_data.dresser import Dresser
    from dkist_processing_pac.optics.calibration_unit import CalibrationUnit

    problem = json.loads((folder / "problem.json").read_text())
    data = np.load(folder / "problem.npz")["data"]  # (K, n_mod, ny, nx)
    records = problem["states"]
    mirrors = problem["mirrors"]
    nominal = problem["nominal"]
    wavelength = 630.25

    # The same telescope and starting unit as ours (module-level names PA&C looks up).
    fitter_parameters.load_TM_database = lambda **_: {
        k: (np.deg2rad(v) if k.startswith("t") else v)
        for k, v in mirrors.items()
        if k in fitter_parameters.TELESCOPE_PARAMS
    }
    cu_init = {
        "wave": np.array([wavelength]),
        "params": {
            "I_sys": np.array([[0.0, 1.0, 2.0]]),
            "Q_in": np.array([[0.0, 0.0, 0.0]]),
            "U_in": np.array([[0.0, 0.0, 0.0]]),
            "V_in": np.array([[0.0, 0.0, 0.0]]),
            "t_pol": np.array([[0.5, nominal["polarizer_transmission"], 1.5]]),
            "t_ret": np.array([[0.5, nominal["retarder_transmission"], 1.5]]),
            "ret0h": np.array([[0.0, np.deg2rad(nominal["retardance_deg"]), np.pi]]),
            "ret045": np.array([[0.0, 0.0, 0.0]]),
            "ret0r": np.array([[0.0, 0.0, 0.0]]),
        },
    }
    fitter_parameters.PolcalDresserParameters.calibration_unit_init_values = property(
        lambda self: cu_init
    )
    original_mode = fitter_parameters.PolcalDresserParameters.load_fit_mode

    def fit_mode(name):
        switches, vary = original_mode(name)
        vary.update(ret045=False, ret0r=False, Q_in=False, U_in=False, V_in=False)
        return switches, vary

    fitter_parameters.PolcalDresserParameters.load_fit_mode = staticmethod(fit_mode)
    CalibrationUnit.load_py_from_database = staticmethod(lambda wavelength: 0.0)

    # One drawer (calibration sequence) per telescope geometry.
    blocks: list[list[int]] = []
    for k, r in enumerate(records):
        g = (r["elevation_deg"], r["azimuth_deg"], r["table_angle_deg"])
        if not blocks or g != blocks[-1][0]:
            blocks.append([g, []])
        blocks[-1][1].append(k)
    mean = data.reshape(*data.shape[:2], -1).mean(axis=2)[:, :, None]
    local, global_ = Dresser(), Dresser()
    for _, steps in blocks:
        local.add_drawer(Drawer(_frames(data, records, steps, wavelength), remove_I_trend=False))
        global_.add_drawer(Drawer(_frames(mean, records, steps, wavelength), remove_I_trend=False))

    t0 = time.perf_counter()
    fitter = PolcalFitter(
        local_dresser=global_,
        global_dresser=global_,
        fit_mode="use_M12_globalRet_globalTrans",
        init_set="OCCal_VIS",
    )
    global_s = time.perf_counter() - t0
    unit = fitter.global_objects.fit_parameters.first_parameters
    t0 = time.perf_counter()
    PolcalFitter(
        local_dresser=local,
        global_dresser=global_,
        fit_mode="use_M12_globalRet_globalTrans",
        init_set="OCCal_VIS",
    )
    both_s = time.perf_counter() - t0
    n_bins = int(np.prod(data.shape[2:]))
    return {
        "bins": n_bins,
        "global_fit_s": global_s,
        "global_plus_local_s": both_s,
        "local_s_per_bin": (both_s - global_s) / n_bins,
        "unit": {
            "retardance_deg": float(np.rad2deg(unit["ret0h_CS00"].value)),
            "retardance_deg_sigma": float(np.rad2deg(unit["ret0h_CS00"].stderr or np.nan)),
            "polarizer_transmission": float(unit["t_pol_CS00"].value),
            "retarder_transmission": float(unit["t_ret_CS00"].value),
        },
    }


if __name__ == "__main__":
    import logging

    logging.disable(logging.INFO)
    print(json.dumps(main(Path(sys.argv[1]))))
