# CUDA kernels (owned by cuda/).  Built only when nvcc is found.
