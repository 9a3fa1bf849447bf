#!/usr/bin/python3
"""scikit-learn reference for package cluster (benchmark only, never a dependency).

    /usr/bin/python3 bench/cluster/sklearn_ref.py export DIR
        writes DIR/{iris,wine,breast_cancer,blobs,blobs_overlap}.csv: features
        standardised per column (mean 0, s.d. 1, float32), header f0..f{d-1},label
    /usr/bin/python3 bench/cluster/sklearn_ref.py fit DIR [SEEDS]
        fits KMeans(n_clusters=C, n_init=10) and GaussianMixture(n_components=C,
        covariance_type="diag" and "full") (scikit-learn's defaults otherwise) with random_state
        0..SEEDS-1 (default 5) on each CSV, C = the number of classes, and writes
        DIR/sklearn.json: per data set, method and seed, the labels, the inertia or
        mean log-likelihood per row, the iterations and the fit time
    /usr/bin/python3 bench/cluster/sklearn_ref.py time MNIST_DIR [N]
        times KMeans and GaussianMixture (K = 10) on the first N (10000) MNIST
        training images / 255 (the IDX files of MNIST_DIR): a whole default fit, and
        the time per Lloyd / EM iteration from fits of 1 and 11 iterations

Run the cmp program of package cluster on the same DIR for our numbers:
    go run ./cluster/internal/cmp -dir DIR
"""
import gzip
import json
import os
import sys
import time

import numpy as np
from sklearn import datasets
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture


def standardise(x):
    x = np.asarray(x, dtype=np.float64)
    sd = x.std(axis=0)
    sd[sd == 0] = 1
    return ((x - x.mean(axis=0)) / sd).astype(np.float32)


def export(out):
    os.makedirs(out, exist_ok=True)
    sets = {
        "iris": datasets.load_iris(return_X_y=True),
        "wine": datasets.load_wine(return_X_y=True),
        "breast_cancer": datasets.load_breast_cancer(return_X_y=True),
        "blobs": datasets.make_blobs(n_samples=2000, n_features=10, centers=5,
                                     cluster_std=1.0, random_state=0),
        "blobs_overlap": datasets.make_blobs(n_samples=2000, n_features=10, centers=8,
                                             cluster_std=3.0, random_state=1),
    }
    for name, (x, y) in sets.items():
        x = standardise(x)
        d = x.shape[1]
        with open(os.path.join(out, name + ".csv"), "w") as f:
            f.write(",".join([f"f{j}" for j in range(d)] + ["label"]) + "\n")
            for row, lab in zip(x, y):
                # repr of a float32 reads back to the same float32
                f.write(",".join(repr(float(v)) for v in row) + f",{int(lab)}\n")
        print(f"{name}: n={x.shape[0]} d={d} classes={len(set(y))}")


def load_csv(path):
    a = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64)
    return a[:, :-1].astype(np.float32), a[:, -1].astype(int)


def fit(out, seeds):
    res = {}
    for fn in sorted(os.listdir(out)):
        if not fn.endswith(".csv"):
            continue
        name = fn[:-4]
        x, y = load_csv(os.path.join(out, fn))
        x = x.astype(np.float64)  # what a user passes; float32 input changes little
        k = len(set(y))
        res[name] = {"kmeans": [], "gmm": [], "gmm-full": []}
        for s in range(seeds):
            t = time.perf_counter()
            km = KMeans(n_clusters=k, n_init=10, random_state=s).fit(x)
            res[name]["kmeans"].append({"labels": km.labels_.tolist(), "inertia": float(km.inertia_),
                                        "iters": int(km.n_iter_), "seconds": time.perf_counter() - t})
            t = time.perf_counter()
            g = GaussianMixture(n_components=k, covariance_type="diag", random_state=s).fit(x)
            lab = g.predict(x)
            res[name]["gmm"].append({"labels": lab.tolist(), "loglik": float(g.score(x)),
                                     "iters": int(g.n_iter_), "converged": bool(g.converged_),
                                     "seconds": time.perf_counter() - t})
            t = time.perf_counter()
            g = GaussianMixture(n_components=k, covariance_type="full", random_state=s).fit(x)
            lab = g.predict(x)
            res[name]["gmm-full"].append({"labels": lab.tolist(), "loglik": float(g.score(x)),
                                          "iters": int(g.n_iter_), "converged": bool(g.converged_),
                                          "seconds": time.perf_counter() - t})
        print(f"{name}: done")
    with open(os.path.join(out, "sklearn.json"), "w") as f:
        json.dump(res, f)


def read_idx_images(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        b = f.read()
    n, r, c = int.from_bytes(b[4:8], "big"), int.from_bytes(b[8:12], "big"), int.from_bytes(b[12:16], "big")
    return np.frombuffer(b, dtype=np.uint8, offset=16).reshape(n, r * c)


def time_mnist(mnist_dir, n):
    p = os.path.join(mnist_dir, "train-images-idx3-ubyte.gz")
    if not os.path.exists(p):
        p = p[:-3]
    x = (read_idx_images(p)[:n].astype(np.float64) / 255.0)
    print(f"MNIST {x.shape}, float64")

    def best(f, reps=3):
        return min(f() for _ in range(reps))

    def tkm(iters, n_init=1):
        t = time.perf_counter()
        KMeans(n_clusters=10, n_init=n_init, max_iter=iters, tol=0, random_state=0).fit(x)
        return time.perf_counter() - t

    def tgm(iters):
        t = time.perf_counter()
        GaussianMixture(n_components=10, covariance_type="diag", max_iter=iters, tol=0,
                        random_state=0).fit(x)
        return time.perf_counter() - t

    t = time.perf_counter()
    km = KMeans(n_clusters=10, n_init=10, random_state=0).fit(x)
    print(f"KMeans(n_init=10) default fit: {time.perf_counter() - t:.2f} s, best run {km.n_iter_} iterations")
    a, b = best(lambda: tkm(1)), best(lambda: tkm(11))
    print(f"KMeans per Lloyd iteration: {(b - a) / 10 * 1e3:.1f} ms (1 iteration: {a:.3f} s, 11: {b:.3f} s)")
    t = time.perf_counter()
    g = GaussianMixture(n_components=10, covariance_type="diag", random_state=0).fit(x)
    print(f"GaussianMixture default fit: {time.perf_counter() - t:.2f} s, {g.n_iter_} iterations")
    a, b = best(lambda: tgm(1)), best(lambda: tgm(11))
    print(f"GaussianMixture per EM iteration: {(b - a) / 10 * 1e3:.1f} ms (1 iteration: {a:.3f} s, 11: {b:.3f} s)")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, arg = sys.argv[1], sys.argv[2]
    if cmd == "export":
        export(arg)
    elif cmd == "fit":
        fit(arg, int(sys.argv[3]) if len(sys.argv) > 3 else 5)
    elif cmd == "time":
        time_mnist(arg, int(sys.argv[3]) if len(sys.argv) > 3 else 10000)
    else:
        sys.exit(__doc__)
