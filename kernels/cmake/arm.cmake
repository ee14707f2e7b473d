# ARM (AArch64 / ARMv7 NEON) additions to the kbnn kernel library.
#
# Included from kernels/CMakeLists.txt when CMAKE_SYSTEM_PROCESSOR matches aarch64|arm*. Provides:
#   KBNN_ISA_SOURCES       (appended) NEON microkernel sources, each with its own compile options
#   KBNN_ARM_TEST_SOURCES  focused NEON microkernel tests for the GoogleTest binary
#   KBNN_NEON_DEFINE       KBNN_HAVE_NEON_AARCH64 or KBNN_HAVE_NEON_ARMV7, also added with
#                          add_compile_definitions() so the dispatch table sees it
# and, for whichever of these targets already exist when this file is included (the include may come
# before or after the library is declared):
#   KBNN_LIB_TARGET (default kbnn_kernels): the NEON sources and the define are added to it directly.
#
# Toolchains for cross builds: kernels/cmake/toolchains/{aarch64-linux-gnu,arm-linux-gnueabihf}.cmake;
# kernels/scripts/test_arm.sh builds and runs everything under qemu-user.

set(_kbnn_arm_root ${CMAKE_CURRENT_LIST_DIR}/..)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(KBNN_NEON_DEFINE KBNN_HAVE_NEON_AARCH64)
  set(_kbnn_neon_sources ${_kbnn_arm_root}/src/ukernels/b32-bgemm-6x4-aarch64-neon.cc
                         ${_kbnn_arm_root}/src/ukernels/b32-bgemm-12x8-aarch64-neon.cc
                         ${_kbnn_arm_root}/src/ukernels/f32-bitpack-aarch64-neon.cc
                         ${_kbnn_arm_root}/src/ukernels/f32-bitpack-threshold-aarch64-neon.cc)
  list(APPEND _kbnn_neon_sources ${_kbnn_arm_root}/src/ukernels/output-f32-aarch64-neon.cc
       ${_kbnn_arm_root}/src/ukernels/output-f32-residual-aarch64-neon.cc
       ${_kbnn_arm_root}/src/ukernels/output-int8-aarch64-neon.cc
       ${_kbnn_arm_root}/src/ukernels/output-bits-aarch64-neon.cc)
  list(APPEND _kbnn_neon_sources ${_kbnn_arm_root}/src/ukernels/qs8-gemm-4x8-aarch64-neon.cc)
  # The stem's SDOT microkernel: dotprod code in this file only, used after the HWCAP check.
  include(CheckCXXCompilerFlag)
  check_cxx_compiler_flag("-march=armv8.2-a+dotprod" KBNN_CXX_HAS_AARCH64_DOTPROD)
  if(KBNN_CXX_HAS_AARCH64_DOTPROD)
    set(_kbnn_dot_source ${_kbnn_arm_root}/src/ukernels/qs8-gemm-4x8c4-aarch64-neondot.cc)
    set_source_files_properties(${_kbnn_dot_source} PROPERTIES COMPILE_OPTIONS "-march=armv8.2-a+dotprod")
    list(APPEND _kbnn_neon_sources ${_kbnn_dot_source})
    add_compile_definitions(KBNN_HAVE_AARCH64_DOTPROD)
  endif()
  set(_kbnn_neon_flags "")  # Advanced SIMD is baseline on AArch64
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(arm|ARM)")
  set(KBNN_NEON_DEFINE KBNN_HAVE_NEON_ARMV7)
  set(_kbnn_neon_sources ${_kbnn_arm_root}/src/ukernels/b32-bgemm-4x4-armv7-neon.cc
                         ${_kbnn_arm_root}/src/ukernels/f32-bitpack-armv7-neon.cc
                         ${_kbnn_arm_root}/src/ukernels/f32-bitpack-threshold-armv7-neon.cc)
  list(APPEND _kbnn_neon_sources ${_kbnn_arm_root}/src/ukernels/output-bits-armv7-neon.cc)
  # Only these files get NEON; the dispatcher must check HWCAP_NEON before using them.
  set(_kbnn_neon_flags -mfpu=neon -mfloat-abi=hard)
else()
  message(FATAL_ERROR "kernels/cmake/arm.cmake: not an ARM target (${CMAKE_SYSTEM_PROCESSOR})")
endif()

if(_kbnn_neon_flags)
  set_source_files_properties(${_kbnn_neon_sources} PROPERTIES COMPILE_OPTIONS "${_kbnn_neon_flags}")
endif()
list(APPEND KBNN_ISA_SOURCES ${_kbnn_neon_sources})
add_compile_definitions(${KBNN_NEON_DEFINE})

set(KBNN_ARM_TEST_SOURCES ${_kbnn_arm_root}/tests/neon_ukernel_test.cc)

# Included after the library target was declared: add the sources to it directly as well.
if(NOT DEFINED KBNN_LIB_TARGET)
  set(KBNN_LIB_TARGET kbnn_kernels)
endif()
if(TARGET ${KBNN_LIB_TARGET})
  get_target_property(_kbnn_lib_srcs ${KBNN_LIB_TARGET} SOURCES)
  foreach(_src IN LISTS _kbnn_neon_sources)
    get_filename_component(_name ${_src} NAME)
    if(NOT "${_kbnn_lib_srcs}" MATCHES "${_name}")
      target_sources(${KBNN_LIB_TARGET} PRIVATE ${_src})
    endif()
  endforeach()
  target_compile_definitions(${KBNN_LIB_TARGET} PUBLIC ${KBNN_NEON_DEFINE})
endif()

# The NEON tests go into the GoogleTest build through KBNN_ARM_TEST_SOURCES. If, at the end of the
# including directory, no target compiles them (and tests are enabled), build them here as
# kbnn_neon_ukernel_test, registered with ctest as neon_ukernel_test.
function(_kbnn_arm_test_fallback)
  if(NOT KBNN_BUILD_TESTS OR NOT TARGET gtest OR NOT TARGET gtest_main)
    return()
  endif()
  foreach(_dir ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/tests)
    if(NOT IS_DIRECTORY ${_dir})
      continue()
    endif()
    get_property(_targets DIRECTORY ${_dir} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(_t IN LISTS _targets)
      get_target_property(_srcs ${_t} SOURCES)
      if("${_srcs}" MATCHES "neon_ukernel_test")
        message(STATUS "kbnn: NEON tests are built by target ${_t}")
        return()
      endif()
    endforeach()
  endforeach()
  add_executable(kbnn_neon_ukernel_test ${KBNN_ARM_TEST_SOURCES})
  target_link_libraries(kbnn_neon_ukernel_test PRIVATE ${KBNN_LIB_TARGET} gtest gtest_main)
  target_include_directories(kbnn_neon_ukernel_test PRIVATE ${_kbnn_arm_root}/src)
  target_compile_options(kbnn_neon_ukernel_test PRIVATE -Wall -Wextra)
  add_test(NAME neon_ukernel_test COMMAND kbnn_neon_ukernel_test)
  message(STATUS "kbnn: NEON tests built by kbnn_neon_ukernel_test (arm.cmake fallback)")
endfunction()
if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.19)
  cmake_language(DEFER CALL _kbnn_arm_test_fallback)
endif()

message(STATUS "kbnn: ARM ${CMAKE_SYSTEM_PROCESSOR}: ${KBNN_NEON_DEFINE}, NEON sources: ${_kbnn_neon_sources}")
