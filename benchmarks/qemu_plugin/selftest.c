/* A guest program with known instruction counts, for tests/test_arm_insn.py (the plugin's self-test).
 *
 *   aarch64-linux-gnu-gcc -O1 -static selftest.c -o selftest
 *   qemu-aarch64 -plugin ./libkbnn_insn_count.so,out=PREFIX ./selftest A B
 *
 * Window 0: start-up; window 1: kbnn_selftest_loop(A); window 2: kbnn_selftest_loop(B); window 3: exit.
 * The loop body is two instructions (subs, b.ne) run n times, so window 2 minus window 1 is exactly
 * 2 * (B - A) instructions, all in kbnn_selftest_loop: the calls and the markers are the same in both.
 * Then prints its /proc/self/maps (for the address -> symbol attribution).
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define KBNN_MARKER_FD 0x6b626e6e /* close(KBNN_MARKER_FD) ends a counting window (EBADF otherwise) */

__attribute__((noinline)) void kbnn_selftest_loop(long n) {
  __asm__ volatile("1: subs %0, %0, #1\n\tb.ne 1b" : "+r"(n) : : "cc");
}

int main(int argc, char **argv) {
  long a = argc > 1 ? atol(argv[1]) : 1000, b = argc > 2 ? atol(argv[2]) : 4000;
  if (a < 1 || b < 1) return 2;
  close(KBNN_MARKER_FD);
  kbnn_selftest_loop(a);
  close(KBNN_MARKER_FD);
  kbnn_selftest_loop(b);
  close(KBNN_MARKER_FD);
  FILE *maps = fopen("/proc/self/maps", "r");
  if (!maps) return 1;
  char line[4096];
  while (fgets(line, sizeof line, maps)) fputs(line, stdout);
  fclose(maps);
  return 0;
}
