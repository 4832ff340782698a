"""A real single-node SLURM cluster on this machine, for tests (Debian `slurm-wlm` + `munge`).

Everything lives under one temporary directory: a fresh munge key and daemon on a private
socket, a `slurm.conf` naming this host as controller and only node, state, spool and log
directories. `slurmctld` and `slurmd` listen on free ports, so the machine's own SLURM or munge
setup (if any) is neither used nor disturbed. Clients reach the cluster through `SLURM_CONF`
plus `bin/` wrappers on PATH that set it (see `SlurmCluster.env`): the Snakemake job step
strips `SLURM_*` variables before its nested `srun`, so inside a job only a wrapper (standing in
for a site's `/etc/slurm/slurm.conf`) still finds the cluster. Needs root: jobs run as root
and `SlurmUser=root`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sinfo", "scancel", "scontrol", "srun", "sacct")
MEMORY_MARGIN_MB = 2048


def unavailable_reason() -> str | None:
    """Why no cluster can be started here, or None when it can."""
    missing = [tool for tool in DAEMONS + CLIENTS if shutil.which(tool) is None]
    if missing:
        return (
            f"SLURM/munge not installed (missing {', '.join(missing)}); "
            "install with `apt-get install slurm-wlm munge`"
        )
    if os.geteuid() != 0:
        return "the local SLURM cluster needs root (SlurmUser=root, slurmd launches jobs)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def node_memory_mb() -> int:
    """This machine's memory in MB, less a margin for the daemons and the test itself."""
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024 - MEMORY_MARGIN_MB
    raise RuntimeError("MemTotal missing from /proc/meminfo")


@dataclass
class SlurmCluster:
    root: Path
    node: str
    cpus: int
    memory_mb: int
    partitions: tuple[str, ...]

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def env(self) -> dict[str, str]:
        """The environment of a client of this cluster (sbatch, squeue, Snakemake)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        return env

    def write_client_wrappers(self) -> None:
        """`bin/<client>`: the real client with SLURM_CONF pointing at this cluster."""
        self.bin.mkdir(parents=True, exist_ok=True)
        for client in CLIENTS:
            wrapper = self.bin / client
            wrapper.write_text(
                f"#!/bin/sh\nSLURM_CONF={shlex.quote(str(self.conf))} "
                f'exec {shlex.quote(shutil.which(client))} "$@"\n'
            )
            wrapper.chmod(0o755)

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        """A SLURM client command against this cluster."""
        return subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=60, check=check
        )

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller still knows (MinJobAge keeps finished ones)."""
        out = self.run("squeue", "--states=all", "--noheader", "--format=%i|%T|%k|%j").stdout
        keys = ("id", "state", "comment", "name")
        return [dict(zip(keys, line.split("|", 3), strict=True)) for line in out.splitlines()]

    def logs(self) -> str:
        return "\n".join(
            f"==> {path.name} <==\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted((self.root / "log").glob("*.log"))
        )

    def write_config(self) -> None:
        for sub in ("state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "plugstack.conf").write_text("")
        first, *others = self.partitions
        lines = [
            "ClusterName=fisbetest",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={self.root / 'state'}",
            f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
            f"PlugStackConfig={self.root / 'plugstack.conf'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "JobCompType=jobcomp/none",
            "MpiDefault=none",
            "ReturnToService=2",
            # Finished jobs stay visible to squeue (the status source) for an hour.
            "MinJobAge=3600",
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} "
            f"RealMemory={self.memory_mb} State=UNKNOWN",
            f"PartitionName={first} Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
            *(
                f"PartitionName={name} Nodes={self.node} MaxTime=INFINITE State=UP"
                for name in others
            ),
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    def start_munge(self) -> None:
        folder = self.munge_socket.parent
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        key = self.root / "munge.key"
        subprocess.run(["mungekey", "--create", "--keyfile", str(key)], check=True)
        subprocess.run(
            [
                "munged",
                "--force",
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={self.root / 'munged.pid'}",
                f"--log-file={self.root / 'log' / 'munged.log'}",
                f"--seed-file={self.root / 'munged.seed'}",
            ],
            check=True,
        )

    def start(self, timeout: float = 60) -> None:
        self.write_config()
        self.write_client_wrappers()
        self.start_munge()
        subprocess.run(["slurmctld", "-f", str(self.conf)], env=self.env, check=True)
        subprocess.run(["slurmd", "-f", str(self.conf), "-N", self.node], env=self.env, check=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.run("sinfo", "--noheader", "--Node", "--format=%T", check=False)
            if (
                state.returncode == 0
                and state.stdout.split()
                and set(state.stdout.split()) == {"idle"}
            ):
                return
            time.sleep(0.5)
        raise RuntimeError(f"the SLURM node did not become idle in {timeout} s\n{self.logs()}")

    def stop(self) -> None:
        """Cancel every job, then stop slurmd, slurmctld and munged (by their pid files)."""
        if self.conf.exists():
            self.run("scancel", "--full", "--user=root", check=False)
        for daemon in ("slurmd", "slurmctld", "munged"):
            terminate(self.root / f"{daemon}.pid")


def terminate(pid_file: Path, timeout: float = 20) -> None:
    """Stop the daemon whose pid the file holds: SIGTERM, then SIGKILL after ``timeout``."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def slurm_cluster(root: Path, partitions: Iterable[str] = ("debug",)) -> Iterator[SlurmCluster]:
    """A one-node cluster under ``root``, first partition the default; always torn down."""
    cluster = SlurmCluster(
        root=root,
        node=socket.gethostname().split(".")[0],
        cpus=len(os.sched_getaffinity(0)),
        memory_mb=node_memory_mb(),
        partitions=tuple(dict.fromkeys(partitions)),
    )
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
