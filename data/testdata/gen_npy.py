# Writes the NumPy-made NPY files the tests of package data read (numpy 1.24.2, the
# Debian bookworm python3-numpy). Run from this folder: python3 gen_npy.py
import numpy as np

np.save("f4.npy", np.array([[1.5, -2], [0, 3.25], [1e-3, 7]], dtype="<f4"))
np.save("i8.npy", np.array([3, -1, 0, 9], dtype="<i8"))
np.save("i4.npy", np.array([[1, 2], [3, -4]], dtype="<i4"))
np.save("fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
np.save("be.npy", np.array([1, 2], dtype=">f4"))
np.save("f8labels.npy", np.array([0, 2, 1], dtype="<f8"))
with open("u1v2.npy", "wb") as f:
    np.lib.format.write_array(f, np.arange(6, dtype="u1").reshape(2, 1, 3), version=(2, 0))
with open("f8v3.npy", "wb") as f:
    np.lib.format.write_array(f, np.array([[0.1, 0.2]], dtype="<f8"), version=(3, 0))
