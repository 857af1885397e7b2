/*
 * Stand-in for libollama-ggml-sycl.so of the ipex-llm Ollama 0.5.4 build (bigdl-core-cpp 2.6.0).
 *
 * The real library drives Intel GPUs and aborts on any machine without one. Returning NULL from
 * the registration and init calls makes ggml skip the SYCL backend. ggml_format_convert_to_xpu is
 * only called for GPU buffers; a plain copy of the row keeps it harmless if it ever is.
 * Linked against libollama-ggml-base.so for ggml_row_size.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

size_t ggml_row_size(int type, int64_t ne);

void *ggml_backend_sycl_reg(void) { return NULL; }
void *ggml_backend_sycl_init(int device) { (void)device; return NULL; }
const char *ggml_backend_sycl_get_device_name(int device) { (void)device; return ""; }

/* C++ symbol: void ggml_format_convert_to_xpu(const void *, void *, unsigned long, int) */
void _Z26ggml_format_convert_to_xpuPKvPvmi(const void *src, void *dst, unsigned long n, int type) {
    memcpy(dst, src, ggml_row_size(type, (int64_t)n));
}
