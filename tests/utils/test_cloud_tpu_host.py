"""A Cloud TPU host's worker number, read as JAX's slice discovery reads it."""

import http.server
import threading

import pytest

from keras_bert_impl.utils import cloud_tpu_host
from keras_bert_impl.utils.cloud_tpu_host import cloud_tpu_worker
from keras_bert_impl.utils.cloud_tpu_host import tpu_chips_present

TPU_VARIABLES = (
    "TPU_WORKER_ID",
    "TPU_WORKER_HOSTNAMES",
    "TPU_SKIP_MDS_QUERY",
    "MEGASCALE_SLICE_ID",
    "MEGASCALE_NUM_SLICES",
    "MEGASCALE_COORDINATOR_ADDRESS",
    "GCE_METADATA_IP",
)


@pytest.fixture(autouse=True)
def no_tpu_environment(monkeypatch):
    for name in TPU_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _pci_device(root, slot, vendor, device):
    folder = root / slot
    folder.mkdir()
    (folder / "vendor").write_text(vendor + "\n")
    (folder / "device").write_text(device + "\n")


def test_only_a_tpu_chip_on_the_pci_bus_counts(tmp_path):
    # A GCE VM carries Google's gVNIC (0x0042) and NVMe (0x001f) devices too.
    _pci_device(tmp_path, "0000:00:04.0", "0x1ae0", "0x0042")
    _pci_device(tmp_path, "0000:00:05.0", "0x1ae0", "0x001f")
    _pci_device(tmp_path, "0000:00:06.0", "0x8086", "0x005e")
    assert not tpu_chips_present(tmp_path)
    _pci_device(tmp_path, "0000:00:07.0", "0x1ae0", "0x005e")  # a TPU v4 chip
    assert tpu_chips_present(tmp_path)


def test_a_gke_tpu_host_is_read_from_its_environment(monkeypatch):
    monkeypatch.setenv("TPU_WORKER_ID", "1")
    monkeypatch.setenv("TPU_WORKER_HOSTNAMES", "host-0,host-1")
    assert cloud_tpu_worker() == (1, 2, "host-0,host-1")
    # Across slices JAX numbers hosts slice by slice.
    monkeypatch.setenv("MEGASCALE_SLICE_ID", "1")
    monkeypatch.setenv("MEGASCALE_NUM_SLICES", "2")
    monkeypatch.setenv("MEGASCALE_COORDINATOR_ADDRESS", "10.0.0.2:8080")
    assert cloud_tpu_worker() == (3, 4, "10.0.0.2:8080")


class _MetadataServer(http.server.BaseHTTPRequestHandler):
    attributes = {
        "agent-worker-number": "2",
        # The older format: name:id:ip per host.
        "worker-network-endpoints": "w0:0:10.0.0.2,w1:1:10.0.0.3,w2:2:10.0.0.4,"
        "w3:3:10.0.0.5",
    }
    requests = []

    def do_GET(self):
        type(self).requests.append(self.path)
        key = self.path.rsplit("/", 1)[-1]
        if self.headers.get("Metadata-Flavor") != "Google" or key not in (
            self.attributes
        ):
            self.send_error(404)
            return
        body = self.attributes[key].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def metadata_server(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _MetadataServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _MetadataServer.requests.clear()
    monkeypatch.setenv("GCE_METADATA_IP", f"127.0.0.1:{server.server_address[1]}")
    yield _MetadataServer
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def test_a_tpu_vm_host_is_read_from_its_metadata_server(metadata_server, monkeypatch):
    monkeypatch.setattr(cloud_tpu_host, "tpu_chips_present", lambda: True)
    assert cloud_tpu_worker() == (2, 4, "10.0.0.2,10.0.0.3,10.0.0.4,10.0.0.5")


def test_off_tpu_the_metadata_server_is_never_asked(metadata_server, monkeypatch):
    monkeypatch.setattr(cloud_tpu_host, "tpu_chips_present", lambda: False)
    assert cloud_tpu_worker() is None
    monkeypatch.setattr(cloud_tpu_host, "tpu_chips_present", lambda: True)
    monkeypatch.setenv("TPU_SKIP_MDS_QUERY", "1")
    assert cloud_tpu_worker() is None
    assert metadata_server.requests == []


def test_a_metadata_server_without_the_slice_gives_none(metadata_server, monkeypatch):
    monkeypatch.setattr(cloud_tpu_host, "tpu_chips_present", lambda: True)
    monkeypatch.setattr(metadata_server, "attributes", {})
    assert cloud_tpu_worker() is None
