"""Measure in a fresh process, so that each peak resident memory is that measurement's own:
a benchmark re-runs itself with `--child ARGS…`, the child prints one JSON line."""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys


def parser(doc: str, child_args: int) -> argparse.ArgumentParser:
    """An argument parser with the benchmarks' common options: --device, and the hidden --child."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--child", nargs=child_args, help=argparse.SUPPRESS)
    p.add_argument("--device", default=None, help="where the sessions run (cuda, mps, …; default: NEUROBLOCKS_DEVICE, else cpu)")
    return p


def use_device(device: str | None) -> None:
    """Sessions that name no device, here and in the measuring processes, run on `device`."""
    if device:
        os.environ["NEUROBLOCKS_DEVICE"] = device


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(script: str, *args: object) -> dict:
    """`script --child args…` in a new interpreter; its last printed line, as JSON."""
    out = subprocess.run([sys.executable, script, "--child", *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
