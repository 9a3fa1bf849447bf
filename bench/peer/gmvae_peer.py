"""PyTorch peer of this project's model B (Rui Shu's GMVAE) in its Gumbel-softmax mode,
with the reference architecture of the popular PyTorch port: 512-512 MLPs for q(y|x),
q(z|x,y) and the decoder, D_z = 64, K = 10, y drawn by Gumbel-softmax (soft, with a
temperature), p(z|y) from y by linear layers, Bernoulli decoder, Adam, batch 64.

It times one MNIST training epoch (60,000 images, no evaluation) so that
bench/peer/run.sh can put it next to the Go engine's epoch on the same machine.
Written for this project; it reads the MNIST IDX files the Go module ships.

    python3 gmvae_peer.py --mnist DIR [--threads 2] [--epochs 1]
"""
import argparse
import gzip
import math
import os
import struct
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


def read_idx_images(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise ValueError(f"{path}: magic {magic}, want 2051")
        x = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8)
    return x.reshape(n, rows * cols).astype(np.float32) / 255.0


class GMVAE(nn.Module):
    def __init__(self, x_dim=784, z_dim=64, y_dim=10, h=512):
        super().__init__()
        self.qyx = nn.Sequential(nn.Linear(x_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, y_dim))
        self.qzxy = nn.Sequential(nn.Linear(x_dim + y_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.z_mu = nn.Linear(h, z_dim)
        self.z_lv = nn.Linear(h, z_dim)
        self.y_mu = nn.Linear(y_dim, z_dim)
        self.y_lv = nn.Linear(y_dim, z_dim)
        self.dec = nn.Sequential(nn.Linear(z_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, x_dim))
        self.y_dim = y_dim

    def loss(self, x, tau):
        logits = self.qyx(x)
        logq = F.log_softmax(logits, dim=-1)
        q = logq.exp()
        u = torch.rand_like(logits).clamp_(1e-20, 1.0)
        y = F.softmax((logits - torch.log(-torch.log(u))) / tau, dim=-1)
        hz = self.qzxy(torch.cat([x, y], dim=1))
        mu, lv = self.z_mu(hz), self.z_lv(hz)
        z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
        pmu, plv = self.y_mu(y), self.y_lv(y)
        logits_x = self.dec(z)
        recon = F.binary_cross_entropy_with_logits(logits_x, x, reduction="none").sum(-1)
        log2pi = math.log(2 * math.pi)
        logqz = -0.5 * (log2pi + lv + (z - mu) ** 2 * torch.exp(-lv)).sum(-1)
        logpz = -0.5 * (log2pi + plv + (z - pmu) ** 2 * torch.exp(-plv)).sum(-1)
        kly = (q * (logq + math.log(self.y_dim))).sum(-1)
        return (recon + logqz - logpz + kly).mean()


def loaded_blas():
    """The BLAS library this process actually mapped (LD_LIBRARY_PATH decides it)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower()}
    return ",".join(sorted(os.path.basename(l) for l in libs)) or "none"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mnist", required=True, help="folder with train-images-idx3-ubyte.gz")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x = torch.from_numpy(read_idx_images(os.path.join(args.mnist, "train-images-idx3-ubyte.gz")))
    model = GMVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = x.shape[0]
    for epoch in range(args.epochs):
        tau = max(0.5, 1.0 * math.exp(-0.013 * epoch))  # the port's annealing schedule
        perm = torch.randperm(n)
        t0 = time.perf_counter()
        total = 0.0
        for i in range(0, n, args.batch):
            xb = x[perm[i:i + args.batch]]
            opt.zero_grad(set_to_none=True)
            loss = model.loss(xb, tau)
            loss.backward()
            opt.step()
            total += loss.item() * xb.shape[0]
        dt = time.perf_counter() - t0
        print(f"torch epoch {epoch + 1}: {dt:.2f} s, mean loss {total / n:.2f}, threads {torch.get_num_threads()}, "
              f"blas {loaded_blas()}", flush=True)


if __name__ == "__main__":
    main()
