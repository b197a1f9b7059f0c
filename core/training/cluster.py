"""Training on Ray: the trainable every trial of ``scripts/sweep.py`` runs, and the cluster address check.

Locally by default (Ray starts on this machine), on a cluster when given its address. The trial
trains with the shared trainer (:func:`core.training.trainer.train`), writes the same run folder as
``scripts/train.py`` and resumes an interrupted run from its last epoch.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlparse

#: what a client sends first on an HTTP/2 connection (gRPC, hence Ray's GCS and Ray Client servers, speak
#: HTTP/2): the connection preface, then an empty SETTINGS frame (length 0, type 4, no flags, stream 0)
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
#: the HTTP/2 frame type a server's first frame must have (SETTINGS)
HTTP2_SETTINGS = 4
#: the ports of a Ray head node: Ray Client (ray://host:10001) and GCS (host:6379)
CLIENT_PORT, GCS_PORT = 10001, 6379
ADDRESS_FORMS = f"ray://host:{CLIENT_PORT} (Ray Client) or host:{GCS_PORT} (the head node's GCS)"


def ray_client_installed() -> bool:
    """True when Ray's client extra (``ray[client]``: the grpc package) is installed, which a
    ``ray://`` address needs."""
    return importlib.util.find_spec("grpc") is not None


def _first_frame(sock: socket.socket, deadline: float) -> bytes | None:
    """Send the HTTP/2 client preface on ``sock`` and return the first 9 bytes (a frame header) the
    other side sends back, fewer when it closes the connection first, or None when it sends nothing
    before ``deadline`` (``time.monotonic()``)."""
    header = b""
    try:
        sock.sendall(HTTP2_PREFACE)
        while len(header) < 9:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            chunk = sock.recv(9 - len(header))
            if not chunk:
                break
            header += chunk
    except socket.timeout:
        return header or None
    except OSError:  # reset by the other side
        pass
    return header


def check_address(address: str, timeout: float = 5.0) -> None:
    """Fail fast, within ``timeout`` seconds, when ``address`` is not a Ray cluster Ray could join
    (Ray itself retries for tens of seconds, then raises).

    ``auto`` and ``local`` are left to Ray. For ``ray://host:port`` (Ray Client, port 10001 by
    default) Ray's client extra must be installed; for it and for ``host:port`` (the head node's GCS,
    port 6379 by default), something must listen there and speak gRPC: it must answer the HTTP/2
    client preface with a SETTINGS frame. With ``RAY_USE_TLS`` set (a cluster with TLS) only the
    connection is checked.

    Raises:
        ConnectionError: not a Ray address, ``ray://`` without ``ray[client]``, nothing listening,
            or something listening that does not speak gRPC; the message says which, in words.
    """
    if address in ("auto", "local"):
        return
    client = address.startswith("ray://")
    if "://" in address and not client:
        raise ConnectionError(f"{address} is not a Ray address; give {ADDRESS_FORMS}")
    try:
        parsed = urlparse(address if client else f"//{address}")
        host, port = parsed.hostname, parsed.port or (CLIENT_PORT if client else GCS_PORT)
    except ValueError:  # a port that is not a number from 0 to 65535
        host = None
    if not host:
        raise ConnectionError(f"{address} is not a Ray address; give {ADDRESS_FORMS}")
    if client and not ray_client_installed():
        raise ConnectionError(f"{address} is a Ray Client address, which needs Ray's client extra: install it with "
                              f"pip install \"ray[client]\", or give the head node's GCS address (host:{GCS_PORT})")
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        reason = "timed out" if isinstance(exc, socket.timeout) else exc.strerror or type(exc).__name__
        raise ConnectionError(f"no Ray cluster answers at {address} ({host}:{port}: {reason}); "
                              "is the head node running?") from None
    with sock:
        if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
            return  # the cluster speaks TLS before gRPC: the connection is all that is checked
        header = _first_frame(sock, deadline)
    if header is None:
        why = f"it said nothing within {timeout:g} s"
    elif len(header) < 9:
        why = "it closed the connection" if not header else "it does not speak gRPC"
    elif header[3] != HTTP2_SETTINGS or int.from_bytes(header[5:9], "big") & 0x7FFFFFFF:
        why = "it does not speak gRPC"
    else:
        return
    raise ConnectionError(f"{address} answers, but not as a Ray cluster ({why}); give {ADDRESS_FORMS}")


def train_trial(config: dict) -> None:
    """One Tune trial: train one run with :func:`train_spec` (resuming it if it was interrupted),
    reporting every epoch to Tune."""
    from ray import tune

    def report(epoch: int, losses: dict) -> None:
        tune.report({"epoch": epoch, **{key.replace("/", "_"): value for key, value in losses.items()}})

    from core.training.runner import train_spec

    train_spec(config["run"], config["settings"], on_epoch=report)


class RayTask:
    """A worker as a task on a Ray cluster (``$DIGITLAB_RAY_ADDRESS``), running the same worker function."""

    def __init__(self, folder: Path, address: str):
        import ray

        from core.training.worker import run_job

        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False)
        self.ref = ray.remote(run_job).options(num_cpus=1).remote(str(folder))

    def alive(self) -> bool:
        import ray

        ready, _ = ray.wait([self.ref], timeout=0)
        return not ready

    def kill(self) -> None:
        import ray

        ray.cancel(self.ref, force=True)
