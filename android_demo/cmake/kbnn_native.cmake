# Shared by the app's CMake project (app/src/main/cpp) and the host-side check project (native/):
# builds the kbnn kernel library and the kbnn TFLite delegate (kernels/tflite -> target
# kbnn_delegate, libkbnn_delegate.so) from the repository's kernels/, without the kernels' tests,
# benchmarks and TensorFlow op library.
#   KBNN_REPO_ROOT            the repository root (kernels/ lives there)
#   KBNN_FLEXBUFFERS_INCLUDE  a folder holding flatbuffers/flexbuffers.h (header-only use by the
#                             delegate's option parser). When unset, the flatbuffers sources of the
#                             pinned tag below are fetched at configure time (the Android build).
set(KBNN_FLATBUFFERS_TAG v2.0.8)  # the version Debian 12's libflatbuffers-dev ships
if(NOT KBNN_FLEXBUFFERS_INCLUDE)
  include(FetchContent)
  FetchContent_Declare(kbnn_flatbuffers
    GIT_REPOSITORY https://github.com/google/flatbuffers.git
    GIT_TAG ${KBNN_FLATBUFFERS_TAG}
    GIT_SHALLOW TRUE)
  FetchContent_GetProperties(kbnn_flatbuffers)
  if(NOT kbnn_flatbuffers_POPULATED)
    FetchContent_Populate(kbnn_flatbuffers)  # headers only: no add_subdirectory
  endif()
  set(KBNN_FLEXBUFFERS_INCLUDE ${kbnn_flatbuffers_SOURCE_DIR}/include CACHE PATH
      "flatbuffers headers" FORCE)
endif()

set(KBNN_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(KBNN_BUILD_BENCH OFF CACHE BOOL "" FORCE)
set(KBNN_BUILD_TF_OPS OFF CACHE BOOL "" FORCE)
set(KBNN_BUILD_DELEGATE ON CACHE BOOL "" FORCE)
add_subdirectory(${KBNN_REPO_ROOT}/kernels ${CMAKE_BINARY_DIR}/kbnn_kernels)
