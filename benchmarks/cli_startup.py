"""Start-up time of the command line: ``monge --help``, ``monge bench --help``, ``import monge`` and ``import torch``.

Every command runs in a fresh subprocess (one unmeasured warm-up, then ``--runs`` timed runs); the table gives the
median and the fastest wall-clock time in seconds and the median's ratio to ``python -c pass`` (the interpreter's
own start-up on this machine). The target of the "fast, clean CLI" work is that ``monge --help`` and
``monge bench --help`` both start in under ``--target`` seconds (1.5 s by default); the script says whether it
holds and exits with status 1 when it does not.

    python benchmarks/cli_startup.py
    python benchmarks/cli_startup.py --runs 11 --target 1.0

``monge`` is the console script next to the running interpreter (``python -m monge`` when there is none), so run
the script with the interpreter of the environment to measure. Start-up time is disk- and load-sensitive: run it on
a quiet machine; the load average is printed beside the CPU information.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def monge_command() -> list[str]:
    """The ``monge`` console script of this interpreter's environment, else ``python -m monge``."""
    script = Path(sys.executable).with_name("monge")
    if script.exists():
        return [str(script)]
    found = shutil.which("monge")
    return [found] if found else [sys.executable, "-m", "monge"]


def commands() -> dict[str, list[str]]:
    """The measured command lines, by label (the baseline ``python -c pass`` first)."""
    monge = monge_command()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import monge'": [sys.executable, "-c", "import monge"],
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
        "monge --help": [*monge, "--help"],
        "monge bench --help": [*monge, "bench", "--help"],
    }


def run_once(argv: list[str]) -> float:
    """Wall-clock seconds of one run of ``argv`` in a subprocess; exits with its stderr if the run fails."""
    env = {**os.environ, "COLUMNS": "100"}
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return elapsed


def time_command(argv: list[str], runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` runs of ``argv``, after one unmeasured warm-up (file-system caches)."""
    run_once(argv)
    return [run_once(argv) for _ in range(runs)]


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def torch_threads() -> str:
    """``torch.get_num_threads()`` in a fresh interpreter (torch is never imported by this process)."""
    done = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else "unavailable"


def machine_lines() -> list[str]:
    """Interpreter, CPU, thread-count and load information printed above the table."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads_env = ", ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
                            if k in os.environ) or "not set"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"
    return [
        f"python {platform.python_version()} ({sys.executable}) on {platform.platform()}",
        f"cpu: {cpu_model()}; {os.cpu_count()} logical cores, {usable} usable by this process",
        f"threads: torch.get_num_threads() = {torch_threads()}; OMP/MKL thread variables: {threads_env}",
        f"load average (1, 5, 15 min): {load}",
        f"monge command: {' '.join(monge_command())}",
    ]


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table and the verdict; exit status 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (default 7)")
    parser.add_argument("--target", type=float, default=1.5,
                        help="seconds that monge --help and monge bench --help must stay under (default 1.5)")
    args = parser.parse_args(argv)
    if args.runs <= 0:
        parser.error("--runs must be a positive integer")

    for line in machine_lines():
        print(line)
    print(f"{args.runs} timed runs per command after one warm-up; seconds of wall-clock time\n")

    medians: dict[str, float] = {}
    print(f"{'command':<28} {'median s':>9} {'min s':>7} {'× pass':>7}")
    for label, command in commands().items():
        times = time_command(command, args.runs)
        medians[label] = statistics.median(times)
        ratio = medians[label] / medians["python -c pass"]
        print(f"{label:<28} {medians[label]:>9.3f} {min(times):>7.3f} {ratio:>7.1f}")

    checked = ("monge --help", "monge bench --help")
    slow = [label for label in checked if medians[label] >= args.target]
    verdict = "holds" if not slow else f"MISSED by {', '.join(slow)}"
    print(f"\ntarget: {' and '.join(checked)} under {args.target:g} s (median) — {verdict}")
    return 0 if not slow else 1


if __name__ == "__main__":
    raise SystemExit(main())
