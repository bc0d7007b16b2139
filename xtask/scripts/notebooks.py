"""Notebook housekeeping for `cargo xtask notebooks` (standard library only).

  check NOTEBOOK...                 fail if a code cell has outputs or an execution count (git keeps them stripped)
  strip NOTEBOOK...                 remove outputs, execution counts and execution metadata in place
  execute --out DIR --kernel NAME --timeout S --timings FILE NOTEBOOK...
                                    run each notebook with nbclient (needs nbclient), stop at the first cell error,
                                    write the executed copies to DIR and the timings (Markdown) to FILE

evcxr answers a compile error with an error reply, but a runtime error (`?` on an Err, a panic) only prints to stderr
with status "ok": `execute` therefore treats any stderr output or error output of a cell as that cell failing.
"""

import json
import os
import sys
import time


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def check(paths):
    bad = []
    for path in paths:
        for i, cell in enumerate(code_cells(load(path))):
            if cell.get("outputs") or cell.get("execution_count") is not None:
                bad.append(f"{path}: code cell {i} has outputs or an execution count")
    if bad:
        print("\n".join(bad) + "\nrun `cargo xtask notebooks --strip` before committing", file=sys.stderr)
        sys.exit(1)
    print(f"{len(paths)} notebooks, outputs stripped")


def strip(paths):
    for path in paths:
        nb = load(path)
        for cell in code_cells(nb):
            cell["outputs"] = []
            cell["execution_count"] = None
            cell.get("metadata", {}).pop("execution", None)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(nb, f, indent=1, ensure_ascii=False)
            f.write("\n")
    print(f"stripped {len(paths)} notebooks")


def cell_error(cell):
    """The text of a cell's error or stderr output, or None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return "\n".join(out.get("traceback") or [out.get("evalue", "")])
        if out.get("output_type") == "stream" and out.get("name") == "stderr" and "".join(out.get("text", "")).strip():
            return "".join(o.get("text", "") for o in cell["outputs"] if o.get("name") == "stderr")
    return None


class CellFailed(Exception):
    pass


def execute(out_dir, kernel, timeout, timings_file, paths):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    os.makedirs(out_dir, exist_ok=True)
    rows, failed = [], None
    start_all = time.monotonic()
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        start = time.monotonic()
        done = []  # seconds since start when each code cell finished

        def on_cell_executed(cell, cell_index, execute_reply):
            done.append(time.monotonic() - start)
            error = cell_error(cell)
            if error is not None:
                raise CellFailed(f"{path}: cell {cell_index} failed:\n{error}")

        client = NotebookClient(nb, kernel_name=kernel, timeout=timeout,
                                resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
                                on_cell_executed=on_cell_executed)
        print(f"notebooks: executing {path}", file=sys.stderr, flush=True)
        try:
            client.execute()
        except (CellFailed, CellExecutionError) as e:
            failed = str(e)
        finally:
            nbformat.write(nb, os.path.join(out_dir, os.path.basename(path)))
        total = time.monotonic() - start
        first = f"{done[0]:.1f}" if done else "-"
        rows.append(f"| {os.path.basename(path)} | {first} | {total:.1f} | {len(done)} |")
        print(f"notebooks: {path}: first cell after {first} s, all {len(done)} code cells in {total:.1f} s",
              file=sys.stderr, flush=True)
        if failed:
            break
    text = ("| notebook | first cell done (s, from kernel start) | all cells (s) | code cells run |\n"
            "|---|---|---|---|\n" + "\n".join(rows) + f"\n\nIn all: {time.monotonic() - start_all:.1f} s.\n")
    with open(timings_file, "w", encoding="utf-8") as f:
        f.write(text)
    print(text, end="")
    if failed:
        sys.exit(failed)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    command, rest = argv[1], argv[2:]
    if command == "check":
        check(rest)
    elif command == "strip":
        strip(rest)
    elif command == "execute" and len(rest) >= 8 and rest[0:8:2] == ["--out", "--kernel", "--timeout", "--timings"]:
        execute(rest[1], rest[3], int(rest[5]), rest[7], rest[8:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
