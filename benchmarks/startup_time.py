"""Start-up cost of ``import mireg`` and ``mireg --help``: wall and CPU seconds of fresh interpreters.

Each round runs every command once, in turn (interleaved, so machine load affects all alike), each in a
fresh ``python`` process; the CPU time is the child's user + system time (``resource.RUSAGE_CHILDREN``),
robust to other processes on a shared machine, the wall time is what a user waits. ``python -c pass``
is the interpreter's own start-up, for reference. The script also records whether each command
imported torch (``sys.modules`` at exit). Results go to ``benchmarks/results/startup_time_cpu.json``.

Run it from the repository root so that the source tree is imported (``PYTHONPATH=.``)::

    PYTHONPATH=$PWD python benchmarks/startup_time.py --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "import mireg": ["-c", "import mireg"],
    "import mireg; mireg.InfoAT": ["-c", "import mireg; mireg.InfoAT"],
    "mireg --help": ["-m", "mireg", "--help"],
}
TORCH_PROBE = "import atexit, sys; atexit.register(lambda: print('torch' in sys.modules, file=sys.stderr))"


def run_once(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh interpreter running ``args``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imports_torch(args: list[str]) -> bool:
    """Whether the command leaves torch in ``sys.modules``."""
    code = args[1] if args[0] == "-c" else f"import runpy, sys; sys.argv = {['mireg', *args[2:]]!r}; " \
                                            "runpy.run_module('mireg', run_name='__main__')"
    done = subprocess.run([sys.executable, "-c", f"{TORCH_PROBE}\n{code}"], capture_output=True, text=True)
    return done.stderr.strip().splitlines()[-1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "startup_time_cpu.json"))
    args = parser.parse_args()
    times: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in COMMANDS}
    for _ in range(args.rounds):
        for name, argv in COMMANDS.items():
            wall, cpu = run_once(argv)
            times[name]["wall"].append(wall)
            times[name]["cpu"].append(cpu)
    summary = {name: {"median_wall_s": statistics.median(t["wall"]), "median_cpu_s": statistics.median(t["cpu"]),
                      "imports_torch": imports_torch(COMMANDS[name]), **t} for name, t in times.items()}
    for name, s in summary.items():
        print(f"{name:30s} wall {s['median_wall_s']:.3f} s  CPU {s['median_cpu_s']:.3f} s  "
              f"torch imported: {s['imports_torch']}")
    record = {"python": platform.python_version(), "machine": platform.machine(), "rounds": args.rounds,
              "load_average": os.getloadavg(), "pythonpath": os.environ.get("PYTHONPATH", ""), "results": summary}
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
