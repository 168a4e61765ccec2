"""This host's place in a Cloud TPU slice, known before JAX or TF start.

A pod slice runs one process per host (`gcloud compute tpus tpu-vm ssh NAME
--worker=all`) with no `KERAS_DISTRIBUTION_*` variables: JAX finds the slice
when `keras.distribution.initialize()` runs. A run directory's lock is taken
before that, and each host of the slice needs a lock of its own, so this reads
what JAX's discovery reads (`jax/_src/clusters/cloud_tpu_cluster.py`):
`TPU_WORKER_ID` and `TPU_WORKER_HOSTNAMES` on GKE, else the TPU VM's metadata
server (`agent-worker-number`, `worker-network-endpoints`), and
`MEGASCALE_SLICE_ID` across slices. The metadata server is asked only on a
machine with TPU chips on its PCI bus, so nothing else waits on the network.
"""

import functools
import os
import pathlib
import urllib.request

GOOGLE_PCI_VENDOR = "0x1ae0"
# The PCI device ids of TPU chips v3 to TPU7x, as JAX lists them
# (`jax/_src/hardware_utils.py`); Google's other PCI devices (gVNIC, NVMe) are
# not TPUs.
TPU_PCI_DEVICES = ("0x0027", "0x0056", "0x005e", "0x0062", "0x0063", "0x006f", "0x0076")
METADATA_TIMEOUT_S = 2.0


def tpu_chips_present(pci_devices="/sys/bus/pci/devices"):
    """Whether a TPU chip is attached to this machine's PCI bus."""
    for vendor in pathlib.Path(pci_devices).glob("*/vendor"):
        try:
            if vendor.read_text().strip() != GOOGLE_PCI_VENDOR:
                continue
            device = (vendor.parent / "device").read_text().strip()
        except OSError:
            continue
        if device in TPU_PCI_DEVICES:
            return True
    return False


def _metadata(key):
    """A TPU VM instance attribute from the metadata server, or None."""
    host = os.environ.get("GCE_METADATA_IP", "metadata.google.internal")
    return _metadata_at(host, key)


@functools.cache
def _metadata_at(host, key):
    # Asked once per process: a run names its lock and its job several times,
    # and an unanswered request waits METADATA_TIMEOUT_S.
    request = urllib.request.Request(
        f"http://{host}/computeMetadata/v1/instance/attributes/{key}",
        headers={"Metadata-Flavor": "Google"},
    )
    try:
        with urllib.request.urlopen(request, timeout=METADATA_TIMEOUT_S) as reply:
            return reply.read().decode("utf-8").strip()
    except (OSError, ValueError):
        return None


def _endpoint_hosts(endpoints):
    # `worker-network-endpoints` lists hostnames, or (older VMs) name:id:ip.
    return [entry.split(":")[-1] for entry in endpoints.split(",") if entry]


def cloud_tpu_worker():
    """This host's process in a Cloud TPU job, or None off Cloud TPU.

    Returns:
        `(index, processes, job)`: the process index JAX will give this host,
        how many hosts the job spans (1 on a single-host TPU VM), and a text
        the job's hosts share (the slice's hosts, or across slices the
        `MEGASCALE_COORDINATOR_ADDRESS`). `None` off Cloud TPU or when the
        metadata server does not answer.
    """
    worker = os.environ.get("TPU_WORKER_ID", "").strip()
    hostnames = os.environ.get("TPU_WORKER_HOSTNAMES", "").strip()
    if worker and hostnames:
        hosts = [name for name in hostnames.split(",") if name]
    else:
        if os.environ.get("TPU_SKIP_MDS_QUERY") is not None:
            return None
        if not tpu_chips_present():
            return None
        worker = _metadata("agent-worker-number")
        endpoints = _metadata("worker-network-endpoints")
        if worker is None or endpoints is None:
            return None
        hosts = _endpoint_hosts(endpoints)
    try:
        index = int(worker)
        slice_index = int(os.environ.get("MEGASCALE_SLICE_ID") or 0)
        slices = int(os.environ.get("MEGASCALE_NUM_SLICES") or 1)
    except ValueError:
        return None
    job = os.environ.get("MEGASCALE_COORDINATOR_ADDRESS") or ",".join(hosts)
    return index + slice_index * len(hosts), len(hosts) * slices, job
