// gm_rows.cuh: walking the elements of a row-major (rows, cols) matrix in a grid-stride
// loop while knowing each element's row and column, without a 64-bit division per
// element. Shared by elementwise.cu, likelihood.cu and norm.cu.
#ifndef GM_ROWS_CUH
#define GM_ROWS_CUH

// gm_row_cursor follows the row r of element i = r * cols + c along a grid-stride loop
// without a 64-bit division per element: two divisions when the thread starts, then
// one add and one compare per step (stride = dr * cols + dc with dc < cols). Only
// built when the thread has an element (i < rows * cols, so cols > 0).
struct gm_row_cursor {
    long long r, c, dr, dc, cols;
    __device__ __forceinline__ gm_row_cursor(long long i, long long stride, long long n_cols)
        : r(i / n_cols), c(i - (i / n_cols) * n_cols), dr(stride / n_cols),
          dc(stride - (stride / n_cols) * n_cols), cols(n_cols) {}
    __device__ __forceinline__ void next() {
        r += dr;
        c += dc;
        if (c >= cols) {
            c -= cols;
            r += 1;
        }
    }
};

// GM_ROW_ELEM_LOOP(i, rc, rows, cols): grid-stride loop over the rows * cols elements
// of a row-major matrix, with rc.r the row of element i.
#define GM_ROW_ELEM_LOOP(i, rc, rows, cols)                                              \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x,                  \
                   i##_stride = (long long)gridDim.x * blockDim.x;                        \
         i < (rows) * (cols); i = (rows) * (cols))                                        \
        for (gm_row_cursor rc(i, i##_stride, (cols)); i < (rows) * (cols);                \
             i += i##_stride, rc.next())

#endif  // GM_ROWS_CUH
