/*
 * Stand-in for Intel's SYCL runtime (libsycl.so.8), needed by libllama.so, libllava_shared.so and
 * libmtmd_shared.so of the ipex-llm Ollama 0.9.3 build.
 *
 * libllama.so links Intel-only fused kernels that import these symbols; the CPU path never calls
 * them. Each function prints its name and aborts, so a call would be loud rather than silently
 * wrong. The list is `nm -D --undefined-only libllama.so | grep 4sycl` for the pinned wheel.
 */
#include <stdio.h>
#include <stdlib.h>

#define NEVER_CALLED(sym)                                                    \
    void sym(void) {                                                         \
        fprintf(stderr, "modelpack sycl shim: %s called on CPU path\n", #sym); \
        abort();                                                             \
    }

NEVER_CALLED(_ZN4sycl3_V115make_error_codeENS0_4errcE)
NEVER_CALLED(_ZN4sycl3_V15queue11submit_implESt8functionIFvRNS0_7handlerEEERKNS0_6detail13code_locationE)
NEVER_CALLED(_ZN4sycl3_V16detail14tls_code_loc_tC1ERKNS1_13code_locationE)
NEVER_CALLED(_ZN4sycl3_V16detail14tls_code_loc_tD1Ev)
NEVER_CALLED(_ZN4sycl3_V16detail21LocalAccessorBaseHost6getPtrEv)
NEVER_CALLED(_ZN4sycl3_V16detail21LocalAccessorBaseHost7getSizeEv)
NEVER_CALLED(_ZN4sycl3_V16detail21LocalAccessorBaseHostC2ENS0_5rangeILi3EEEiiRKNS0_13property_listE)
NEVER_CALLED(_ZN4sycl3_V16detail23constructorNotificationEPvS2_NS0_6access6targetENS3_4modeERKNS1_13code_locationE)
NEVER_CALLED(_ZN4sycl3_V17handler14setNDRangeUsedEb)
NEVER_CALLED(_ZN4sycl3_V17handler22setKernelIsCooperativeEb)
NEVER_CALLED(_ZN4sycl3_V17handler26setNDRangeDescriptorPaddedENS0_5rangeILi3EEES3_NS0_2idILi3EEEi)
NEVER_CALLED(_ZN4sycl3_V17handler28extractArgsAndReqsFromLambdaEPcmPKNS0_6detail19kernel_param_desc_tEb)
NEVER_CALLED(_ZN4sycl3_V17handler30verifyUsedKernelBundleInternalENS0_6detail11string_viewE)
NEVER_CALLED(_ZN4sycl3_V17handler7setTypeENS0_6detail6CGTypeE)
NEVER_CALLED(_ZN4sycl3_V17handler9clearArgsEv)
NEVER_CALLED(_ZN4sycl3_V19exceptionC1ESt10error_codePKc)
NEVER_CALLED(_ZN4sycl3_V19exceptionD1Ev)
NEVER_CALLED(_ZNK4sycl3_V15queue10get_deviceEv)
NEVER_CALLED(_ZNK4sycl3_V16detail21LocalAccessorBaseHost6getPtrEv)
NEVER_CALLED(_ZNK4sycl3_V16detail21LocalAccessorBaseHost7getSizeEv)
NEVER_CALLED(_ZNK4sycl3_V16device13get_info_implINS0_4info6device15sub_group_sizesEEENS0_6detail11ABINeutralTINS6_19is_device_info_descIT_E11return_typeEE4typeEv)
NEVER_CALLED(_ZNK4sycl3_V16device13get_info_implINS0_4info6device4nameEEENS0_6detail11ABINeutralTINS6_19is_device_info_descIT_E11return_typeEE4typeEv)
NEVER_CALLED(_ZNK4sycl3_V17handler7getTypeEv)

/* typeinfo for sycl::exception: a data symbol; only its address is taken. */
__attribute__((aligned(64))) char _ZTIN4sycl3_V19exceptionE[64];
