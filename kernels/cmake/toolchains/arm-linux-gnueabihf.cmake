# Cross toolchain: 32-bit ARMv7-A hard-float Linux (Debian g++-arm-linux-gnueabihf), tests run under
# qemu-arm.
#   cmake -S kernels -B build/kernels-armv7 \
#         -DCMAKE_TOOLCHAIN_FILE=kernels/cmake/toolchains/arm-linux-gnueabihf.cmake
# The whole build targets ARMv7-A with the hard-float ABI; only the NEON microkernel sources get
# -mfpu=neon (see kernels/cmake/arm.cmake), so the rest stays valid on VFP-only cores and the
# dispatcher picks NEON at run time. Executables are linked statically by default (KBNN_ARM_STATIC).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7)

set(KBNN_CROSS_TRIPLE arm-linux-gnueabihf)
set(CMAKE_C_COMPILER ${KBNN_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${KBNN_CROSS_TRIPLE}-g++)
set(CMAKE_C_FLAGS_INIT "-march=armv7-a+fp -mfloat-abi=hard")
set(CMAKE_CXX_FLAGS_INIT "-march=armv7-a+fp -mfloat-abi=hard")

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

find_program(KBNN_QEMU_ARM qemu-arm)
if(KBNN_QEMU_ARM)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${KBNN_QEMU_ARM};-L;${KBNN_CROSS_SYSROOT})
endif()
