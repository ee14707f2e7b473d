/* kbnn_insn_count: executed guest instructions per address, in windows marked by the guest.
 * A QEMU TCG plugin for qemu-user (QEMU 7.2, plugin API version 1), used by benchmarks/arm_insn.py.
 *
 * Build (x86-64 host; the few API entry points used are declared below, no QEMU headers needed):
 *   gcc -shared -fPIC -O2 -fvisibility=hidden kbnn_insn_count.c -o libkbnn_insn_count.so -lpthread
 * Use:
 *   qemu-aarch64 -cpu cortex-a76 -L SYSROOT -plugin ./libkbnn_insn_count.so,out=PREFIX[,mode=tb|insn] PROG
 *
 * Counting: mode=tb (default) adds 1 to a per-translation-block counter each time a block starts
 * (one inline add per block: fast) and credits every instruction of the block with that count;
 * mode=insn adds 1 per executed instruction (one inline add per instruction: exact even when a
 * block is left early, e.g. by a fault, but slower). Both are instruction counts, not time.
 *
 * Windows: the guest closes a window by calling close(KBNN_MARKER_FD) (0x6b626e6e, "kbnn"; the call
 * fails with EBADF and has no other effect). Window k (k = 0, 1, ...) is written to PREFIX.k when it
 * is closed, and the last one when the guest exits; then every counter restarts from zero. Each file:
 *   # kbnn_insn_count window K mode tb|insn insns TOTAL
 *   ADDRESS_HEX COUNT MNEMONIC        (one line per guest instruction address executed in the window)
 * MNEMONIC is the first word of QEMU's disassembly; instructions the disassembler of QEMU 7.2 cannot
 * name (e.g. SDOT, SMMLA) appear as ".byte".
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- QEMU plugin API, version 1 (the subset used; layouts as in QEMU 7.2's qemu-plugin.h) ------ */
typedef uint64_t qemu_plugin_id_t;
typedef struct {
  const char *target_name;
  struct { int min, cur; } version;
  bool system_emulation;
  union { struct { int smp_vcpus, max_vcpus; } system; };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
typedef void (*udata_cb_t)(qemu_plugin_id_t, void *);
typedef void (*syscall_cb_t)(qemu_plugin_id_t, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                             uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, tb_trans_cb_t);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *, uint64_t);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *, enum qemu_plugin_op, void *,
                                                uint64_t);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t, syscall_cb_t);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t, udata_cb_t, void *);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *, size_t);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *);
__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* ---- state --------------------------------------------------------------------------------------- */
#define KBNN_MARKER_FD 0x6b626e6eu
#define CHUNK_BITS 16
#define CHUNK (1u << CHUNK_BITS)

typedef struct { uint64_t vaddr; uint64_t count; uint32_t mnemonic; } Insn;  /* count: mode=insn */
typedef struct { uint64_t count; uint64_t first; uint32_t n; } Block;         /* count: mode=tb */

/* Records live in fixed chunks that never move: generated code holds pointers to their counters. */
typedef struct { void **chunks; size_t n_chunks, size, elem; } Pool;

static Pool insns = {NULL, 0, 0, sizeof(Insn)}, blocks = {NULL, 0, 0, sizeof(Block)};
static char (*mnemonics)[32];
static size_t n_mnemonics, cap_mnemonics;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const char *prefix = "kbnn_insn_count";
static bool per_insn;
static int window;

static void die(const char *what) {
  fprintf(stderr, "kbnn_insn_count: %s\n", what);
  abort();
}

static void *pool_at(const Pool *p, size_t i) {
  return (char *)p->chunks[i >> CHUNK_BITS] + (i & (CHUNK - 1)) * p->elem;
}

static size_t pool_push(Pool *p) {
  if (p->size == p->n_chunks * CHUNK) {
    void **chunks = realloc(p->chunks, (p->n_chunks + 1) * sizeof(void *));
    if (!chunks || !(chunks[p->n_chunks] = calloc(CHUNK, p->elem))) die("out of memory");
    p->chunks = chunks;
    p->n_chunks++;
  }
  return p->size++;
}

static uint32_t mnemonic_id(const char *disas) {
  char m[32] = {0};
  if (!disas || sscanf(disas, "%31s", m) != 1) strcpy(m, "?");
  for (size_t i = 0; i < n_mnemonics; i++)  /* a few hundred names: linear search at translation only */
    if (!strcmp(mnemonics[i], m)) return (uint32_t)i;
  if (n_mnemonics == cap_mnemonics) {
    cap_mnemonics = cap_mnemonics ? 2 * cap_mnemonics : 256;
    mnemonics = realloc(mnemonics, cap_mnemonics * sizeof *mnemonics);
    if (!mnemonics) die("out of memory");
  }
  memcpy(mnemonics[n_mnemonics], m, sizeof m);
  return (uint32_t)n_mnemonics++;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  size_t n = qemu_plugin_tb_n_insns(tb);
  pthread_mutex_lock(&lock);
  Block *b = pool_at(&blocks, pool_push(&blocks));
  b->n = (uint32_t)n;
  for (size_t i = 0; i < n; i++) {
    struct qemu_plugin_insn *qi = qemu_plugin_tb_get_insn(tb, i);
    size_t k = pool_push(&insns);
    if (i == 0) b->first = k;
    Insn *r = pool_at(&insns, k);
    char *d = qemu_plugin_insn_disas(qi);
    r->vaddr = qemu_plugin_insn_vaddr(qi);
    r->mnemonic = mnemonic_id(d);
    free(d);
    if (per_insn) qemu_plugin_register_vcpu_insn_exec_inline(qi, QEMU_PLUGIN_INLINE_ADD_U64, &r->count, 1);
  }
  if (!per_insn && n) qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->count, 1);
  pthread_mutex_unlock(&lock);
}

/* ---- writing a window: counts summed per address (an address can be in several blocks) -------- */
typedef struct { uint64_t vaddr, count; uint32_t mnemonic; bool used; } Slot;

static void write_window(void) {
  pthread_mutex_lock(&lock);
  size_t live = 0;
  for (size_t bi = 0; bi < blocks.size; bi++) {
    Block *b = pool_at(&blocks, bi);
    for (uint32_t j = 0; j < b->n; j++) {
      Insn *r = pool_at(&insns, b->first + j);
      if (per_insn ? r->count : b->count) live++;
    }
  }
  size_t cap = 64;
  while (cap < 2 * live) cap *= 2;
  Slot *table = calloc(cap, sizeof *table);
  if (!table) die("out of memory");
  uint64_t total = 0;
  for (size_t bi = 0; bi < blocks.size; bi++) {
    Block *b = pool_at(&blocks, bi);
    for (uint32_t j = 0; j < b->n; j++) {
      Insn *r = pool_at(&insns, b->first + j);
      uint64_t c = per_insn ? r->count : b->count;
      r->count = 0;
      if (!c) continue;
      total += c;
      size_t h = (size_t)((r->vaddr >> 2) * 0x9E3779B97F4A7C15ull) & (cap - 1);
      while (table[h].used && table[h].vaddr != r->vaddr) h = (h + 1) & (cap - 1);
      table[h].used = true;
      table[h].vaddr = r->vaddr;
      table[h].mnemonic = r->mnemonic;
      table[h].count += c;
    }
    b->count = 0;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s.%d", prefix, window);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "kbnn_insn_count: cannot write %s\n", path);
  } else {
    fprintf(f, "# kbnn_insn_count window %d mode %s insns %llu\n", window, per_insn ? "insn" : "tb",
            (unsigned long long)total);
    for (size_t i = 0; i < cap; i++)
      if (table[i].used)
        fprintf(f, "%llx %llu %s\n", (unsigned long long)table[i].vaddr, (unsigned long long)table[i].count,
                mnemonics[table[i].mnemonic]);
    fclose(f);
  }
  free(table);
  window++;
  pthread_mutex_unlock(&lock);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
  (void)id, (void)vcpu, (void)a2, (void)a3, (void)a4, (void)a5, (void)a6, (void)a7, (void)a8;
  if (num == 57 /* aarch64 close */ && (uint32_t)a1 == KBNN_MARKER_FD) write_window();
}

static void on_exit_guest(qemu_plugin_id_t id, void *p) {
  (void)id, (void)p;
  write_window();
}

__attribute__((visibility("default")))
int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  if (info->system_emulation || strcmp(info->target_name, "aarch64")) {
    fprintf(stderr, "kbnn_insn_count: only for qemu-aarch64 (user mode), not %s\n", info->target_name);
    return -1;
  }
  for (int i = 0; i < argc; i++) {
    if (!strncmp(argv[i], "out=", 4)) {
      prefix = argv[i] + 4;
    } else if (!strcmp(argv[i], "mode=insn")) {
      per_insn = true;
    } else if (!strcmp(argv[i], "mode=tb")) {
      per_insn = false;
    } else {
      fprintf(stderr, "kbnn_insn_count: unknown argument %s (out=PREFIX, mode=tb|insn)\n", argv[i]);
      return -1;
    }
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
  qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
  qemu_plugin_register_atexit_cb(id, on_exit_guest, NULL);
  return 0;
}
