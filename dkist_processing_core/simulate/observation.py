"""What a simulation produced: the frames (with their OP runs) and the truth behind them.

On disk, beside the raw frames::

    <root>/raw/<op run id>/<frame>.fits   the raw frames, SPEC-0122 headers
    <root>/manifest.json                  frame records + transfer manifest (frame count per OP run)
    <root>/truth/truth.json               scalar truth and the list of truth arrays
    <root>/truth/<name>.npy               truth arrays (numpy .npy, loaded with allow_pickle=False)

Everything is JSON or .npy, never pickle.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from dkist_processing_core.framework.atomic import atomic_write
from dkist_processing_core.framework.spec import InputDataset, InputFrame
from dkist_processing_core.simulate.fitsbytes import RawFrameTemplate

MANIFEST_NAME = "manifest.json"
TRUTH_DIR = "truth"


@dataclass
class FrameRecord:
    """One raw frame: where it is, which OP / IP run it belongs to and what it shows."""

    path: str  # relative to the observation root
    op_run_id: str
    ip_run_id: str
    task_type: str  # DARK, LAMP_GAIN, SOLAR_GAIN, POLCAL, OBSERVE
    exposure_time_ms: float
    date_obs: str
    wavelength_nm: float
    r0_m: float
    ao_lock: bool
    modulator_state: int | None = None  # 1-based, ViSP
    spatial_step: int | None = None  # ViSP scan step (0-based) or VBI mosaic tile (1-based)
    cal_unit_state: int | None = None  # index into the polcal sequence
    polarizer_angle_deg: float | None = None
    retarder_angle_deg: float | None = None
    repeat: int = 0


@dataclass
class SimulatedFrame:
    """A frame produced lazily: its record, its per-frame header keys and its data.

    ``data`` is (rows, columns) uint16; the file holds it as (1, rows, columns). ``to_bytes`` is the
    fast path (no astropy Header objects); ``header`` builds an astropy Header on demand.
    """

    record: FrameRecord
    template: RawFrameTemplate
    keys: dict[str, Any]
    data: np.ndarray

    @property
    def header(self) -> fits.Header:
        return self.template.header_with(self.keys)

    def hdu(self) -> fits.PrimaryHDU:
        return fits.PrimaryHDU(data=self.data[None, ...], header=self.header)

    def to_bytes(self) -> bytes:
        return self.template.to_bytes(self.keys, self.data)


class SimulationTruth:
    """The known truth: named arrays plus JSON-able values, both readable as attributes."""

    def __init__(self, arrays: dict[str, np.ndarray] | None = None, values: dict | None = None):
        self.arrays: dict[str, np.ndarray] = dict(arrays or {})
        self.values: dict[str, Any] = dict(values or {})

    def __getattr__(self, name: str) -> Any:
        arrays = self.__dict__.get("arrays", {})
        values = self.__dict__.get("values", {})
        if name in arrays:
            return arrays[name]
        if name in values:
            return values[name]
        raise AttributeError(f"the simulation truth has no {name!r}")

    def dark(self, exposure_time_ms: float) -> np.ndarray:
        """Expected dark frame for an exposure time the simulation used."""
        times = list(self.values["dark_exposure_times_ms"])
        for i, t in enumerate(times):
            if abs(t - exposure_time_ms) < 1e-9:
                return self.arrays["darks"][i]
        raise KeyError(f"no dark truth for exposure time {exposure_time_ms} ms; have {times}")

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name, array in self.arrays.items():
            with atomic_write(directory / f"{name}.npy") as f:
                np.save(f, np.asarray(array), allow_pickle=False)
        document = {"values": self.values, "arrays": sorted(self.arrays)}
        with atomic_write(directory / "truth.json") as f:
            f.write(json.dumps(document, indent=1, sort_keys=True).encode())

    @classmethod
    def load(cls, directory: Path, *, mmap: bool = True) -> SimulationTruth:
        directory = Path(directory)
        document = json.loads((directory / "truth.json").read_text())
        arrays = {
            name: np.load(
                directory / f"{name}.npy", allow_pickle=False, mmap_mode="r" if mmap else None
            )
            for name in document["arrays"]
        }
        return cls(arrays, document["values"])


@dataclass
class SimulatedObservation:
    """A simulated observation on disk: frames, OP runs, transfer manifest and truth."""

    instrument: str
    root: Path
    frames: list[FrameRecord]
    op_runs: dict[str, str]  # OP run id -> what it is ('dark', 'gain', 'polcal', 'observe')
    truth: SimulationTruth
    proposal_id: str = ""
    experiment_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def transfer_manifest(self) -> dict[str, int]:
        """Expected frame count per OP run id."""
        counts = Counter(r.op_run_id for r in self.frames)
        return {op: counts[op] for op in self.op_runs}

    @property
    def paths(self) -> list[Path]:
        return [self.root / r.path for r in self.frames]

    def select(self, task_type: str | None = None, **filters: Any) -> list[FrameRecord]:
        """Frame records of one task type (e.g. 'DARK') matching record fields given as filters."""
        selected = []
        for r in self.frames:
            if task_type is not None and r.task_type != task_type:
                continue
            if all(getattr(r, k) == v for k, v in filters.items()):
                selected.append(r)
        return selected

    def path_of(self, record: FrameRecord) -> Path:
        return self.root / record.path

    def frame_id(self, record: FrameRecord) -> str:
        """A frame's id as the data center counts it: unique within the summit's archive."""
        return f"{record.op_run_id}/{Path(record.path).stem}"

    def input_dataset(self, input_dataset_id: int = 0) -> InputDataset:
        """The input dataset of all the observation's frames (no parameter values)."""
        return InputDataset(
            input_dataset_id=input_dataset_id,
            frames=[
                InputFrame(
                    frame_id=self.frame_id(r),
                    op_run_id=r.op_run_id,
                    frame_kind=self.op_runs[r.op_run_id],
                    path=str(self.path_of(r)),
                )
                for r in self.frames
            ],
        )

    def input_dataset_document(self, input_dataset_id: int = 0) -> dict[str, Any]:
        """:meth:`input_dataset` as a JSON document: its id and its frames."""
        document = self.input_dataset(input_dataset_id).model_dump(mode="json")
        del document["parameter_values"]
        return document

    def frame_arrivals(self) -> list[dict[str, Any]]:
        """The frames as the summit reports their arrival (the records ``dkist-processing
        candidates frames`` reads): frame id, OP run, frame kind and path of each."""
        return [
            {key: frame[key] for key in ("frame_id", "op_run_id", "frame_kind", "path")}
            for frame in self.input_dataset_document()["frames"]
        ]

    def manifest_document(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "proposal_id": self.proposal_id,
            "experiment_id": self.experiment_id,
            "op_runs": self.op_runs,
            "transfer_manifest": self.transfer_manifest,
            "frames": [dataclasses.asdict(r) for r in self.frames],
            "extra": self.extra,
        }

    def save_manifest(self) -> None:
        with atomic_write(self.root / MANIFEST_NAME) as f:
            f.write(json.dumps(self.manifest_document(), indent=1).encode())

    @classmethod
    def load(cls, root: Path | str) -> SimulatedObservation:
        """Load an observation written by ``simulate_visp`` / ``simulate_vbi``."""
        root = Path(root)
        document = json.loads((root / MANIFEST_NAME).read_text())
        return cls(
            instrument=document["instrument"],
            root=root,
            frames=[FrameRecord(**r) for r in document["frames"]],
            op_runs=document["op_runs"],
            truth=SimulationTruth.load(root / TRUTH_DIR),
            proposal_id=document["proposal_id"],
            experiment_id=document["experiment_id"],
            extra=document.get("extra", {}),
        )


def write_frames(root: Path, frames: Iterable[SimulatedFrame]) -> Iterator[FrameRecord]:
    """Write each frame atomically under ``root``; yields the records as they are written."""
    root = Path(root)
    for frame in frames:
        with atomic_write(root / frame.record.path) as f:
            f.write(frame.to_bytes())
        yield frame.record
