# Cross toolchain: AArch64 Linux (Debian g++-aarch64-linux-gnu), tests run under qemu-aarch64.
#   cmake -S kernels -B build/kernels-aarch64 \
#         -DCMAKE_TOOLCHAIN_FILE=kernels/cmake/toolchains/aarch64-linux-gnu.cmake
# Executables are linked statically by default (KBNN_ARM_STATIC=ON): no target sysroot is needed at
# run time, and `ctest` runs them through CMAKE_CROSSCOMPILING_EMULATOR. Shared libraries are
# unaffected.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(KBNN_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${KBNN_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${KBNN_CROSS_TRIPLE}-g++)

set(KBNN_CROSS_SYSROOT /usr/${KBNN_CROSS_TRIPLE} CACHE PATH "Target runtime root for qemu -L")
set(CMAKE_FIND_ROOT_PATH ${KBNN_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

option(KBNN_ARM_STATIC "Link executables statically (robust under qemu-user)" ON)
if(KBNN_ARM_STATIC)
  set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
endif()

find_program(KBNN_QEMU_AARCH64 qemu-aarch64)
if(KBNN_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${KBNN_QEMU_AARCH64};-L;${KBNN_CROSS_SYSROOT})
endif()
