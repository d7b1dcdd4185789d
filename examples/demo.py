"""The end-to-end demo: snapshot the example notebook and show what the bundle holds.

    make demo            # or: .venv/bin/python examples/demo.py [--output DIR]

Steps are small functions so later steps (publishing to a sandbox server) can be added.
A token is planted in the environment and in a copy of the notebook's outputs to show that
it appears nowhere in the bundle.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "temperature_anomaly.ipynb"
PLANTED_TOKEN = "demo_tok_5b0c9f1e2d3a4b5c6d7e8f90a1b2c3d4"


def prepare_workspace(output_dir: Path) -> Path:
    """Copy the example into ``output_dir/work`` and plant a token in one cell's output."""
    import nbformat

    work = output_dir / "work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copy(NOTEBOOK, work)
    shutil.copytree(HERE / "data", work / "data")
    shutil.copytree(HERE / "outputs", work / "outputs")
    notebook = work / NOTEBOOK.name
    nb = nbformat.read(notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[0].outputs.append(
        nbformat.v4.new_output("stream", text=f"(debug) hub token: {PLANTED_TOKEN}\n")
    )
    nbformat.write(nb, notebook)
    os.environ["JUPYTERHUB_API_TOKEN"] = PLANTED_TOKEN
    return notebook


def make_snapshot(notebook: Path, output_dir: Path):  # -> ecasrepro.Bundle
    import ecasrepro

    return ecasrepro.snapshot(
        notebook,
        attach=[notebook.parent / "outputs"],
        metadata=HERE / "metadata.json",
        creators=["ECAS demo user"],
        keywords=["climate", "temperature anomaly"],
        description="Annual temperature anomaly against 1961-1990 and its linear trend.",
        output=output_dir / "temperature_anomaly.repro",
        zip=True,
        force=True,
    )


def show_bundle(bundle) -> None:
    summary = bundle.summary()
    print(f"bundle: {summary['bundle']}")
    print(f"title:  {summary['title']}")
    for entry in summary["files"]:
        print(f"  {entry['size']:>9}  {entry['sha256'][:12]}  data/{entry['relpath']}")
    print("inputs (IsDerivedFrom):")
    for pid in summary["inputs"]:
        print(f"  {pid['related_identifier_type']:<6} {pid['resolver_url']}")
    for warning in summary["warnings"]:
        print(f"warning: {warning}")


def check_bundle(bundle) -> None:
    """bagit validates the bag; metadata.json is valid against root schema v1 (draft rules)."""
    import bagit

    from ecasrepro.metadata import load_root_schema, validate_metadata

    bagit.Bag(str(bundle.path)).validate()
    print("bagit: the bag is valid (all sha256 recomputed)")
    validate_metadata(bundle.metadata, load_root_schema(1), "draft")
    print("metadata.json: valid against B2SHARE root schema v1 (draft)")
    crate = json.loads((bundle.path / "data" / "ro-crate-metadata.json").read_text())
    entities = {e["@id"] for e in crate["@graph"]}
    missing = [f.relpath for f in bundle.payload_files()
               if f.relpath != "ro-crate-metadata.json" and f.relpath not in entities]
    assert not missing, f"RO-Crate misses {missing}"
    print(f"ro-crate: {len(crate['@graph'])} entities, every payload file listed")


def check_no_token(bundle) -> None:
    token = PLANTED_TOKEN.encode()
    archive = bundle.path.with_name(bundle.path.name + ".zip")
    files = [p for p in [*bundle.path.rglob("*"), archive] if p.is_file()]
    leaks = [p for p in files if token in p.read_bytes()]
    assert not leaks, f"planted token found in {leaks}"
    print("secrets: the planted token appears in no file of the bundle (nor in the zip)")


def publish_to_sandbox(bundle, output_dir: Path) -> None:
    """Start a local B2SHARE sandbox, publish the bundle as a draft, re-run (resume), stop."""
    import ecasrepro
    from ecasrepro.sandbox import SandboxServer

    with SandboxServer(output_dir / "sandbox-data") as sandbox:
        print(f"sandbox: B2SHARE v2 API at {sandbox.url}/api/")
        draft = ecasrepro.publish(bundle, server=sandbox.url, token=sandbox.token,
                                  progress=False, echo=lambda line: print(f"  {line}"))
        print(f"draft:   {draft.id} ({draft.state}, {len(draft.files)} files, md5 verified)")
        print(f"  API:   {draft.url}")
        print(f"  web:   {draft.html_url}  (sandbox: sign in with the sandbox token)")
        again = ecasrepro.publish(bundle, server=sandbox.url, token=sandbox.token,
                                  progress=False)
        assert again.id == draft.id and not again.uploaded
        print(f"re-run:  same draft {again.id}, {len(again.skipped)} files already there, "
              "nothing uploaded (receipt.json)")
    print("sandbox: stopped")


def publish_to_v3_sandbox(bundle, output_dir: Path) -> None:
    """The same bundle to a B2SHARE v3 (InvenioRDM) sandbox: same call, dialect detected."""
    import ecasrepro
    from ecasrepro.sandbox import SandboxServer

    with SandboxServer(output_dir / "sandbox-v3-data", api="v3") as sandbox:
        print(f"sandbox: B2SHARE v3 API at {sandbox.url}/api/")
        draft = ecasrepro.publish(bundle, server=sandbox.url, token=sandbox.token,
                                  new_draft=True, progress=False,
                                  echo=lambda line: print(f"  {line}"))
        print(f"draft:   {draft.id} ({draft.state}, {len(draft.files)} files, md5 verified, "
              f"review request to community {draft.community} attached)")
        print(f"  API:   {draft.url}")
        print(f"  web:   {draft.html_url}")
        done = ecasrepro.publish(bundle, server=sandbox.url, token=sandbox.token, submit=True,
                                 progress=False, echo=lambda line: print(f"  {line}"))
        print(f"submit:  {done.id} is {done.state}; " + ", ".join(
            f"{k} {v}" for k, v in done.pids.items()))
    print("sandbox: stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("demo-output"),
                        help="directory for the demo's files (default: ./demo-output)")
    args = parser.parse_args(argv)
    output_dir = args.output.resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    notebook = prepare_workspace(output_dir)
    bundle = make_snapshot(notebook, output_dir)
    show_bundle(bundle)
    check_bundle(bundle)
    check_no_token(bundle)
    publish_to_sandbox(bundle, output_dir)
    publish_to_v3_sandbox(bundle, output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
