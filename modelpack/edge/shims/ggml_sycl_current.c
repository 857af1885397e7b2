/*
 * Stand-in for libggml-sycl.so of the ipex-llm Ollama 0.9.3 build (bigdl-core-cpp 2.7.0b20260110).
 *
 * The real library drives Intel GPUs and aborts on any machine without one, even for --version.
 * On the CPU path ggml only asks how many SYCL devices exist and whether the backend registers;
 * answering "none" makes it skip the backend. Exported: what `nm -D --undefined-only ollama-lib`
 * lists from the real library, plus the two registration entry points ggml looks up.
 */
#include <stddef.h>

int ggml_backend_sycl_get_device_count(void) { return 0; }
void *ggml_backend_sycl_init(int device) { (void)device; return NULL; }
void *ggml_backend_sycl_buffer_type(int device) { (void)device; return NULL; }
void *ggml_backend_sycl_reg(void) { return NULL; }
void *ggml_backend_init(void) { return NULL; }
