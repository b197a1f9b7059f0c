"""Experiments as files (core/training/experiments.py) and scripts/sweep.py on a local Ray instance."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.paths import EXPERIMENTS_DIR
from core.runs.store import load_run
from core.training.cluster import check_address
from core.training.experiments import ExperimentError, load_experiment, parse_experiment, run_names

REPO = Path(__file__).resolve().parent.parent
SWEEP = REPO / "scripts" / "sweep.py"
TINY = """
name = "tiny"
seeds = [0, 1]
[training]
epochs = 1
n_train = 128
n_val = 64
n_test = 64
[[runs]]
model = "cae"
model_args = { latent_dim = [2, 3], hidden_dim = 16 }
"""


def test_the_shipped_experiment_files():
    counts = {load_experiment(p).name: len(load_experiment(p).runs) for p in EXPERIMENTS_DIR.glob("*.toml")}
    assert counts == {"seed000-sweep": 24, "zoo": 12, "seed004-beta": 15, "seed004-ablation": 9}
    sweep = load_experiment(EXPERIMENTS_DIR / "seed000_sweep.toml")
    assert sorted(run_names(sweep.runs))[:3] == ["cae-z16-s0", "cae-z16-s1", "cae-z16-s2"]
    assert all(run.training == {"epochs": 50} for run in sweep.runs)
    beta = run_names(load_experiment(EXPERIMENTS_DIR / "seed004_beta.toml").runs)
    assert len(set(beta)) == 15 and "conv-vae-z2-s1-beta0.5" in beta  # β named where it alone tells runs apart


@pytest.mark.parametrize("text, words", [
    ('name = "x"\nseeds = [0]\nepochs = 3\n[[runs]]\nmodel = "cae"', "epochs: unknown field; allowed: name (text)"),
    ('name = "x"\nseeds = [0]\n[[runs]]\nmodel = "vae"', "runs[1].model: unknown model 'vae'; registered: cae, cgan"),
    ('name = "x"\nseeds = ["a"]\n[[runs]]\nmodel = "cae"', "seeds: required: a list of whole numbers"),
    ('name = "x"\nseeds = [0]\n[training]\nepochs = 0\n[[runs]]\nmodel = "cae"', "training.epochs: must be a whole number of at least 1"),
    ('name = "x"\nseeds = [0]\n[training]\nlearning_rate = 1\n[[runs]]\nmodel = "cae"', "allowed: epochs, batch_size, lr"),
    ('name = "x"\nseeds = [0]\n[[runs]]\nmodel = "cae"\nmodel_args = { width = 3 }', "cae does not take these arguments"),
    ('name = "x"\nseeds = [0]\n[[runs]]\nmodel = "conv-vae"\nmodel_args = { dropout = 2.0 }', "dropout must be in [0, 1)"),
    ('seeds = [0]\n[[runs]]\nmodel = "cae"', "name: required"),
    ('name = "x"\nseeds = [0]', "runs: required"),
    ('name = "x"\nseeds = [0', "is not valid TOML"),
])
def test_a_bad_experiment_file_names_the_field_and_the_allowed_values(text, words):
    with pytest.raises(ExperimentError) as info:
        parse_experiment(text, "bad.toml")
    assert words in str(info.value) and str(info.value).startswith("bad.toml")


def test_an_unreachable_cluster_is_reported_within_seconds(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(SWEEP), str(tmp_path / "tiny.toml"), "--address", "127.0.0.1:1",
                             "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "no Ray cluster answers at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr and time.perf_counter() - start < 30
    with pytest.raises(ConnectionError, match="not a Ray address"):
        check_address("ray://:10001")


@pytest.mark.slow
def test_a_tiny_sweep_on_a_local_ray_instance_with_two_workers(tmp_path, mnist_root):
    (tmp_path / "tiny.toml").write_text(TINY)
    command = [sys.executable, str(SWEEP), str(tmp_path / "tiny.toml"), "--cpus", "2", "--device", "cpu",
               "--out", str(tmp_path / "runs"), "--data-dir", str(mnist_root)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    folder = tmp_path / "runs" / "tiny"
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    assert names == ["cae-z2-s0", "cae-z2-s1", "cae-z3-s0", "cae-z3-s1"]
    for name in names:
        run = load_run(folder / name)
        assert run.config["training"]["n_train"] == 128 and run.history["epoch"] == [1]
    reported = [json.loads(line) for p in (folder / ".tune").rglob("result.json") for line in p.read_text().splitlines()]
    assert len(reported) == 4 and all(r["epoch"] == 1 and r["train_loss"] > 0 and "val_loss" in r for r in reported)
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "4 finished already, 0 to train" in again.stdout


@pytest.mark.slow
def test_evaluate_as_ray_tasks_gives_the_rows_of_the_plain_evaluation(tmp_path, mnist_root):
    """evaluate.py --address local: one Ray task per run, the same figures as one process computes."""
    from core.evaluation.table import read_table
    from tests.test_evaluate import TINY, run_evaluate

    common = ["--runs", "cae-z8-s0", "cgan-z100-s0", "--metrics", "fid_judge", "generated_accuracy",
              "classification_accuracy", *TINY, "--device", "cpu", "--data-dir", mnist_root]
    plain = run_evaluate(*common, "--table", tmp_path / "plain.csv", tmp_path=tmp_path)
    assert plain.returncode == 0, plain.stderr[-2000:]
    on_ray = run_evaluate(*common, "--table", tmp_path / "ray.csv", "--address", "local", tmp_path=tmp_path,
                          timeout=600)
    assert on_ray.returncode == 0, on_ray.stdout[-2000:] + on_ray.stderr[-2000:]
    assert "2 runs as Ray tasks (one CPU each)" in on_ray.stdout
    key = ["run", "metric", "mode"]
    a = read_table(tmp_path / "plain.csv").sort_values(key).reset_index(drop=True)
    b = read_table(tmp_path / "ray.csv").sort_values(key).reset_index(drop=True)
    assert a[key + ["status", "n"]].equals(b[key + ["status", "n"]])
    assert (a["value"] - b["value"]).abs().max() < 1e-6
    unreachable = run_evaluate(*common, "--table", tmp_path / "x.csv", "--address", "127.0.0.1:1", tmp_path=tmp_path)
    assert unreachable.returncode == 2 and "no Ray cluster answers" in unreachable.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.slow
def test_bench_train_measures_both_ratios_for_each_model(tmp_path, mnist_root, monkeypatch):
    monkeypatch.setenv("DIGITLAB_DATA", str(mnist_root))
    from benchmarks import bench_train

    out = tmp_path / "train.json"
    assert bench_train.main(["--images", "256", "--epochs", "2", "--models", "cae", "cgan", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert [r["model"] for r in record["rows"]] == ["cae", "cgan"] and record["matmul_gflops"] > 0
    assert all(r["trainer_images_s"] > 0 and r["reference_images_s"] > 0 and r["ratio"] > 0 for r in record["rows"])
    cae, cgan = record["rows"]
    # seed 000's pathways are skipped in two of three input modes; the GAN runs D three times per step
    assert cae["counted_flops_per_image"] < 6 * cae["parameters"]
    assert cgan["counted_flops_per_image"] > 6 * cgan["parameters"]
    assert cae["matmul_share_counted"] < cae["matmul_share"]
    with pytest.raises(SystemExit):
        bench_train.main(["--epochs", "1"])


def test_bench_reference_uses_the_default_optimizer_implementation():
    from benchmarks.bench_train import default_implementation
    from core.models import build_model

    gan = build_model("cgan")
    fused = gan.configure_optimizer(2e-4)
    plain = default_implementation(fused)
    for name in ("generator", "discriminator"):
        mine, theirs = getattr(fused, name).param_groups[0], getattr(plain, name).param_groups[0]
        assert mine["fused"] and not theirs["fused"]
        assert theirs["betas"] == mine["betas"] == (0.5, 0.999) and theirs["params"] == mine["params"]
    assert fused.generator.param_groups[0]["fused"]  # the model's own optimisers are left as they were


# --- issue 21, point 3: experiment files refused in words, cheaply ----------------------------------

GRID = 'name = "grid"\nseeds = {seeds}\n[[runs]]\nmodel = "cae"\nmodel_args = {{ latent_dim = {latents}, hidden_dim = {hidden} }}\n'


@pytest.fixture
def built_models(monkeypatch):
    """Counts the seed 000 autoencoders built (whatever the device) while a test runs."""
    from core.models import REGISTRY

    built = []

    class Counted(REGISTRY["cae"]):
        def __init__(self, *args, **kwargs):
            built.append(kwargs)
            super().__init__(*args, **kwargs)

    Counted.__signature__ = inspect.signature(REGISTRY["cae"])  # the arguments it takes are cae's
    monkeypatch.setitem(REGISTRY, "cae", Counted)
    return built


@pytest.mark.parametrize("text, words", [
    ('name = "x"\nseeds = [0, 0]\n[[runs]]\nmodel = "cae"', "seeds: seed 0 is listed twice"),
    ('name = "x"\nseeds = [1]\n[[runs]]\nmodel = "cae"\nmodel_args = { latent_dim = 2 }\n'
     '[[runs]]\nmodel = "cae"\nmodel_args = { latent_dim = 2 }',
     "runs[2]: cae with latent_dim=2, seed 1 is listed twice (also in runs[1]); each run must be listed once"),
    ('name = "x"\nseeds = [0]\n[[runs]]\nmodel = ["cae", "cae"]', "runs[1]: cae with its default arguments, seed 0 is listed twice"),
    ('name = "x"\nseeds = [0]\n[[runs]]\nmodel = "cae"\nmodel_args = { latent_dim = [4, 4] }',
     "runs[1]: cae with latent_dim=4, seed 0 is listed twice"),
    ('name = "x"\nseeds = [0]\n[[runs]]\nmodel = "cae"\n[[runs]]\nmodel = "cae"\nmodel_args = { latent_dim = 32 }',
     "runs[2]: cae with latent_dim=32, seed 0 is listed twice (also in runs[1])"),  # 32 is cae's default
    ('name = "x"\nseeds = [0]\n[[runs]]\nmodel = "conv-vae"\nmodel_args = { beta = [2, "2"] }',
     "would both train into the folder conv-vae-z2-s0-beta2; change one"),
])
def test_a_run_listed_twice_is_refused_naming_it(text, words):
    with pytest.raises(ExperimentError) as info:
        parse_experiment(text, "twice.toml")
    assert str(info.value).startswith("twice.toml: ") and words in str(info.value)


@pytest.mark.parametrize("name", ["a\x00b", "C:\\\\evil\\\\x", "a/b", "../up", ".hidden", "", "two words", "x" * 129])
def test_an_experiment_name_that_is_no_plain_folder_name_is_refused(name):
    text = f'name = "{name}"\nseeds = [0]\n[[runs]]\nmodel = "cae"'.replace("\x00", "\\u0000")
    with pytest.raises(ExperimentError) as info:
        parse_experiment(text, "names.toml")
    message = str(info.value)
    assert message.startswith("names.toml: name: ") and "letters, digits, '-', '_' and '.'" in message
    assert "\x00" not in message


def test_a_run_name_that_is_no_plain_folder_name_is_refused():
    text = 'name = "x"\nseeds = [0]\n[[runs]]\nmodel = "conv-vae"\nmodel_args = { beta = [1.0, " 2"] }'
    with pytest.raises(ExperimentError, match=r'runs\[1\]: the run name "conv-vae-z2-s0-beta 2" \(from conv-vae with '
                                              r'beta= 2, seed 0\) is not a safe folder name'):
        parse_experiment(text, "x.toml")
    assert len(parse_experiment('name = "x.y_z-1"\nseeds = [0]\n[[runs]]\nmodel = "cae"').runs) == 1


def test_a_grid_over_the_cap_is_refused_before_any_model_is_built(built_models):
    text = GRID.format(seeds=list(range(10)), latents=list(range(1, 11)), hidden=[16, 32, 64, 128, 256, 512, 1024,
                                                                                  2048, 4096, 8192])
    start = time.perf_counter()
    with pytest.raises(ExperimentError) as info:
        parse_experiment(text, "big.toml")
    assert time.perf_counter() - start < 1 and built_models == []
    assert str(info.value) == ("big.toml: runs: the grid holds 1,000 runs, more than the 500 one experiment file may "
                               "hold; split it into several files")


def test_a_grid_at_the_cap_is_checked_in_seconds_building_each_value_once(built_models):
    hidden = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]
    text = GRID.format(seeds=[0], latents=list(range(1, 51)), hidden=hidden)
    start = time.perf_counter()
    experiment = parse_experiment(text, "cap.toml")
    names = run_names(experiment.runs)
    assert time.perf_counter() - start < 10
    assert len(experiment.runs) == 500 and len(set(names)) == 500
    assert len(built_models) == 1 + 49 + 9  # each distinct value once, not each of the 500 combinations
    assert {run.latent_dim for run in experiment.runs} == set(range(1, 51))
    assert "cae-z50-s0-hiddendim8192" in names
    with pytest.raises(ExperimentError, match=r"cap.toml: runs\[1\].model_args: cae: the model argument latent_dim "
                                              r"is 100000, not a size between 0 and 65,536"):
        parse_experiment(GRID.format(seeds=[0], latents=[2, 100_000], hidden=16), "cap.toml")


# --- issue 21, point 3: --out that cannot be written, refused before anything starts -----------------

@pytest.mark.parametrize("where, words", [
    (lambda tmp: tmp / "afile" / "runs", "afile is a file, not a folder"),
    (lambda tmp: Path("/proc/digitlab-runs"), "/proc cannot be written"),
])
def test_sweep_refuses_an_out_folder_it_cannot_write_before_anything_starts(tmp_path, capsys, monkeypatch, where, words):
    from scripts import sweep

    (tmp_path / "afile").write_text("kept")
    (tmp_path / "tiny.toml").write_text(TINY)
    monkeypatch.setattr(sweep, "check_address", lambda address: pytest.fail("went on to the cluster"))
    start = time.perf_counter()
    code = sweep.main([str(tmp_path / "tiny.toml"), "--out", str(where(tmp_path)), "--address", "127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2 and time.perf_counter() - start < 5
    assert err.startswith("error: the run folders cannot be written under ") and words in err
    assert err.rstrip().endswith("nothing was trained") and (tmp_path / "afile").read_text() == "kept"


# --- issue 21, point 3: an address that is no Ray cluster, refused in words within 5 s ---------------

@pytest.fixture
def listener():
    """Factory: a local TCP server that answers every connection as told (``silent``: accepts and
    says nothing; ``garbage``: sends bytes that are no HTTP/2; ``http``: answers like an HTTP/1.1
    server; ``close``: hangs up; ``http2``: sends an HTTP/2 SETTINGS frame, as a gRPC server
    does). Returns its ``127.0.0.1:port``."""
    import socket
    import threading

    servers, held = [], []

    def start(behaviour: str) -> str:
        server = socket.create_server(("127.0.0.1", 0))
        servers.append(server)

        def serve():
            while True:
                try:
                    conn, _ = server.accept()
                except OSError:  # closed at the end of the test
                    return
                held.append(conn)
                if behaviour == "garbage":
                    conn.sendall(b"\x17\x03\x03hello, this is no gRPC server\r\n")
                elif behaviour == "http":
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                elif behaviour == "close":
                    conn.close()
                elif behaviour == "http2":
                    conn.sendall(bytes([0, 0, 6, 4, 0, 0, 0, 0, 0]) + bytes([0, 3, 0, 0, 0, 100]))

        threading.Thread(target=serve, daemon=True).start()
        return f"127.0.0.1:{server.getsockname()[1]}"

    yield start
    for sock in servers + held:
        sock.close()


@pytest.mark.parametrize("behaviour, why", [
    ("silent", "it said nothing within 5 s"),
    ("garbage", "it does not speak gRPC"),
    ("http", "it does not speak gRPC"),
    ("close", "it closed the connection"),
])
@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_port_that_does_not_speak_ray_is_refused_within_5_s(listener, monkeypatch, behaviour, why, scheme):
    from core.training import cluster

    monkeypatch.setattr(cluster, "ray_client_installed", lambda: True)
    address = scheme + listener(behaviour)
    start = time.perf_counter()
    with pytest.raises(ConnectionError) as info:
        check_address(address)
    assert time.perf_counter() - start < 5.5
    assert str(info.value) == (f"{address} answers, but not as a Ray cluster ({why}); give ray://host:10001 (Ray "
                               "Client) or host:6379 (the head node's GCS)")


def test_a_grpc_server_passes_and_ray_client_addresses_need_the_client_extra(listener, monkeypatch):
    from core.training import cluster

    address = listener("http2")
    check_address(address)
    monkeypatch.setattr(cluster, "ray_client_installed", lambda: True)
    check_address(f"ray://{address}")
    monkeypatch.setattr(cluster, "ray_client_installed", lambda: False)
    with pytest.raises(ConnectionError, match=rf'ray://{address} is a Ray Client address, which needs Ray\'s client '
                                              r'extra: install it with pip install "ray\[client\]", or give the head '
                                              r"node's GCS address \(host:6379\)"):
        check_address(f"ray://{address}")
    for bad in ("http://head:6379", "head:port", "ray://:10001", "head:99999"):
        with pytest.raises(ConnectionError, match="is not a Ray address; give ray://host:10001"):
            check_address(bad)


def test_the_gcs_of_a_real_ray_instance_passes_the_check():
    import ray

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        check_address(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()


def test_sweep_and_evaluate_refuse_a_port_that_is_no_ray_cluster_in_words(tmp_path, listener, capsys, mnist_root):
    from scripts import evaluate

    address = listener("garbage")
    (tmp_path / "tiny.toml").write_text(TINY)
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(SWEEP), str(tmp_path / "tiny.toml"), "--address", address,
                             "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert f"error: {address} answers, but not as a Ray cluster (it does not speak gRPC)" in result.stderr
    assert time.perf_counter() - start < 30 and not (tmp_path / "runs").exists()
    http = listener("http")
    code = evaluate.main(["--runs", "cae-z8-s0", "--metrics", "fid_judge", "--address", http, "--table",
                          str(tmp_path / "x.csv"), "--data-dir", str(mnist_root)])
    assert code == 2 and f"{http} answers, but not as a Ray cluster (it does not speak gRPC)" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
