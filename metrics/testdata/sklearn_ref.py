# Reference values for the tests of package metrics, from scikit-learn 1.2.1 and
# scipy 1.10.1 (Debian bookworm's python3-sklearn). Run: python3 sklearn_ref.py
#
# Inputs come from the 64-bit LCG x = x*6364136223846793005 + 1442695040888963407
# (mod 2^64), value = (x >> 33) % m, which metrics_test.go's lcgInts reproduces.
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

M = (1 << 64) - 1


def lcg_ints(seed, n, m):
    x, out = seed, []
    for _ in range(n):
        x = (x * 6364136223846793005 + 1442695040888963407) & M
        out.append((x >> 33) % m)
    return out


def hungarian_acc(pred, labels):
    t = contingency_matrix(pred, labels)  # rows: clusters present, cols: classes present
    r, c = linear_sum_assignment(-t)
    return t[r, c].sum() / len(pred)


def purity(pred, labels):
    t = contingency_matrix(pred, labels)
    return t.max(axis=1).sum() / len(pred)


# (name, seed, n, K, C, noise): pred is the label plus a cluster offset, except that
# with probability noise/100 (by a second LCG stream) it is random.
cases = [
    ("n200_K12_C10", 1, 200, 12, 10, 40),
    ("n1000_K3_C5", 2, 1000, 3, 5, 100),
    ("n500_K10_C10", 3, 500, 10, 10, 20),
    ("n97_K16_C4", 4, 97, 16, 4, 60),
]
for name, seed, n, K, C, noise in cases:
    labels = lcg_ints(seed, n, C)
    rnd = lcg_ints(seed + 100, n, K)
    coin = lcg_ints(seed + 200, n, 100)
    pred = [rnd[i] if coin[i] < noise else (labels[i] * 7 + 3) % K for i in range(n)]
    print('{"%s", %d, %d, %d, %d, %d, %r, %r, %r, %r},' % (
        name, seed, n, K, C, noise,
        normalized_mutual_info_score(labels, pred),
        adjusted_rand_score(labels, pred),
        purity(pred, labels), hungarian_acc(pred, labels)))

print("doc examples:")
print(adjusted_rand_score([0, 0, 1, 1], [0, 0, 1, 2]), adjusted_rand_score([0, 0, 0, 0], [0, 1, 2, 3]),
      adjusted_rand_score([0, 0, 1, 1], [0, 1, 0, 1]))
print(normalized_mutual_info_score([0, 0, 1, 1], [1, 1, 0, 0]), normalized_mutual_info_score([0, 0, 0, 0], [0, 1, 2, 3]))
print("example A:", normalized_mutual_info_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]),
      adjusted_rand_score([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]))
print("single/single:", normalized_mutual_info_score([3, 3, 3], [1, 1, 1]), adjusted_rand_score([3, 3, 3], [1, 1, 1]))
print("single pred:", normalized_mutual_info_score([0, 1, 2], [0, 0, 0]), adjusted_rand_score([0, 1, 2], [0, 0, 0]))
print("n=1:", normalized_mutual_info_score([0], [5]), adjusted_rand_score([0], [5]))
print("singletons:", normalized_mutual_info_score([0, 1, 2, 3], [3, 2, 1, 0]), adjusted_rand_score([0, 1, 2, 3], [3, 2, 1, 0]))
