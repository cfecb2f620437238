"""``dkist-processing datasets``: dataset versions, listed, shown, found by provenance."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import (
    AsJson,
    CommandGroup,
    DatabaseUrl,
    Workdir,
    console,
    json_option,
    print_json,
    store,
    table,
)

app = CommandGroup(help="Dataset versions: list, show, find by provenance, verify the archive.")

VERSION_COLUMNS = [
    "dataset",
    "version",
    "#",
    "status",
    "workflow",
    "run",
    "supersedes",
    "manual",
    "why",
    "curation",
]


def parameter_criterion(text: str | None) -> dict:
    """``--parameter-value 12`` (an id) or ``--parameter-value name=JSON`` (a name and value)."""
    if text is None:
        return {}
    if text.strip().isdigit():
        return {"parameter_value_id": int(text)}
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise typer.BadParameter(
            f"--parameter-value {text!r}: expected an id (12) or NAME=JSON (threshold=2.5)"
        )
    return {"parameter": (name.strip(), json_option(value, "--parameter-value"))}


def print_versions(title: str, versions, as_json: bool) -> None:
    if as_json:
        print_json(versions)
        return
    table(
        title,
        VERSION_COLUMNS,
        [
            (
                v["dataset_id"],
                v["version_id"],
                v["sequence"],
                v["status"],
                f"{v['workflow_name']} {v['workflow_version']}",
                v["recipe_run_id"],
                v["supersedes_version_id"],
                v["manually_processed"],
                "; ".join(v.get("reasons", [])),
                ""
                if not v["curation"]
                else f"{v['curation']['decision']} by {v['curation']['by']}",
            )
            for v in versions
        ],
    )


@app.command("list")
def datasets_list(
    include_discarded: bool = typer.Option(False, "--include-discarded"),
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Every dataset version (distributed ones; discarded ones when asked)."""
    from ..datacenter.products.discovery import find_versions

    with store(database_url, workdir, read_only=True).session() as s:
        versions = find_versions(s, include_discarded=include_discarded)
    print_versions("dataset versions", versions, as_json)


@app.command("show")
def datasets_show(
    name: str = typer.Argument(..., help="A dataset id, or a version id (or its prefix)."),
    as_json: bool = typer.Option(True, "--json", help="Plain data (always; kept for symmetry)."),
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """A dataset with all its versions, or one version in full (provenance, inventories,
    lineage, media): the data of the dataset or version page."""
    from ..datacenter.operations.views import dataset_or_version_detail

    with store(database_url, workdir, read_only=True).session() as s:
        data = dataset_or_version_detail(s, name)
    print_json(data)


@app.command("find")
def datasets_find(
    input_frame: str = typer.Option(None, "--input-frame", help="An input frame id."),
    parameter_value: str = typer.Option(
        None, "--parameter-value", help="A parameter value id, or NAME=JSON."
    ),
    workflow: str = typer.Option(None, "--workflow", help="NAME or NAME==VERSION."),
    older_than_workflow: str = typer.Option(
        None, "--older-than-workflow", help="NAME==VERSION (PEP 440 order)."
    ),
    code_version: str = typer.Option(None, "--code-version", help="PACKAGE or PACKAGE==VERSION."),
    recipe_run: int = typer.Option(None, "--recipe-run"),
    manual: bool = typer.Option(False, "--manual", help="Only manually influenced versions."),
    manual_by: str = typer.Option(None, "--manual-by", help="Manual execution by this operator."),
    frames: bool = typer.Option(False, "--frames", help="List the L1 frames instead."),
    include_discarded: bool = typer.Option(False, "--include-discarded"),
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Dataset versions (or their frames) matching every criterion given, with why."""
    from ..datacenter.products.discovery import find_frames, find_versions

    criteria = dict(
        input_frame_id=input_frame,
        workflow=workflow,
        older_than_workflow=older_than_workflow,
        code_version=code_version,
        recipe_run_id=recipe_run,
        manual=manual_by or (True if manual else None),
        **parameter_criterion(parameter_value),
    )
    with store(database_url, workdir, read_only=True).session() as s:
        find = find_frames if frames else find_versions
        found = find(s, include_discarded=include_discarded, **criteria)
    if not frames:
        print_versions("dataset versions found", found, as_json)
    elif as_json:
        print_json(found)
    else:
        table(
            "frames",
            ["dataset", "version", "frame", "date-beg", "stokes", "workflow", "run"],
            [
                (
                    f["dataset_id"],
                    f["version_id"],
                    f["frame_file_name"],
                    f["date_beg"],
                    f["stokes"],
                    f"{f['workflow_name']} {f['workflow_version']}",
                    f["recipe_run_id"],
                )
                for f in found
            ],
        )


@app.command("verify")
def datasets_verify(
    version_ids: list[str] = typer.Argument(
        None, help="Version ids (or prefixes). Default: every distributed version."
    ),
    as_json: bool = AsJson,
    database_url: str = DatabaseUrl,
    workdir: Path = Workdir,
) -> None:
    """Check the archive: each version's package, SHA256SUMS, FITS checksums, object inventory.

    Packages are read from WORKDIR/archive. Exit code 1 when any package fails.
    """
    from ..datacenter.operations.periodic import work_folder
    from ..datacenter.products.verification import as_data, unknown_versions, verify_archive

    folder = work_folder(workdir)
    with store(database_url, folder, read_only=True).session() as s:
        unknown = unknown_versions(s, version_ids or [])
        if unknown:
            raise typer.BadParameter(
                f"no dataset version {', '.join(map(repr, unknown))} (or the prefix is "
                "ambiguous); see: dkist-processing datasets list",
                param_hint="VERSION_IDS",
            )
        results = verify_archive(s, folder / "archive", version_ids or [])
    failed = [r for r in results if not r.ok]
    if as_json:
        print_json(as_data(results))
    else:
        table(
            "archive verification",
            ["version", "dataset", "files", "status", "problem"],
            [
                (
                    r.version_id,
                    r.dataset_id,
                    r.files,
                    "ok" if r.ok else "FAILED",
                    "\n".join(r.problems),
                )
                for r in results
            ],
        )
        console.print(
            f"{len(results)} version(s) verified in {folder / 'archive'}: "
            f"{len(results) - len(failed)} ok, {len(failed)} failed"
        )
    if failed:
        raise typer.Exit(1)
