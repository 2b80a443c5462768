"""Fan agentless collection out over an inventory with bounded concurrency (``--forks``).

Each host runs in a worker thread with its own transport and a deadline (``--timeout``, or the
host's ``timeout`` var) that bounds every operation on it. Outcomes are handed back, and stored,
on the calling thread as they complete, so database writes never contend with each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from rra.auditor.agentless.collect import HostOutcome, collect_one
from rra.auditor.agentless.inventory import InventoryHost

MAX_FORKS = 256


@dataclass(frozen=True)
class CollectOptions:
    state_root: Path
    known_hosts: Path
    forks: int = 10
    timeout: float = 300.0
    probe: bool = False


def run_collection(
    hosts: Sequence[InventoryHost],
    options: CollectOptions,
    on_done: Callable[[HostOutcome], None] | None = None,
) -> list[HostOutcome]:
    """Every host's outcome, in inventory order; never raises for a host's failure."""
    if not 1 <= options.forks <= MAX_FORKS:
        raise ValueError(f"forks must be between 1 and {MAX_FORKS}")
    outcomes: dict[str, HostOutcome] = {}
    queue = list(hosts)
    running: dict[Future[HostOutcome], InventoryHost] = {}
    with ThreadPoolExecutor(max_workers=options.forks, thread_name_prefix="rra-collect") as pool:
        while queue or running:
            # Submit only as many as there are forks, so "started" means started.
            while queue and len(running) < options.forks:
                host = queue.pop(0)
                future = pool.submit(
                    collect_one,
                    host,
                    state_root=options.state_root,
                    known_hosts=options.known_hosts,
                    timeout=options.timeout,
                    probe=options.probe,
                )
                running[future] = host
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                running.pop(future)
                outcome = future.result()  # collect_one never raises for a host's failure
                outcomes[outcome.name] = outcome
                if on_done is not None:
                    on_done(outcome)
    return [outcomes[host.name] for host in hosts]
