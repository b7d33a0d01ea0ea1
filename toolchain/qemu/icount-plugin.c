/*
 * QEMU TCG plugin for the purgatory tests and bench: counts the instructions
 * executed at guest addresses in [start, end), and the data accesses those
 * instructions make, with how many were not naturally aligned (which would
 * fault on real hardware with the MMU off, while QEMU 7.2 lets them pass).
 * Built and run by plugin.ts:
 *
 *   -plugin icount-plugin.so,start=0x40200000,end=0x40201000 -d plugin -D log
 *
 * At exit it writes "icount <n>", "accesses <n>", "unaligned <n>" to the
 * QEMU log (qemu_plugin_outs needs -d plugin).
 *
 * Debian does not ship QEMU's qemu-plugin.h (no package holds it: checked with
 * `dpkg -L qemu-system-arm qemu-system-data` and `apt-cache search qemu`), so
 * the few declarations used are written here from the QEMU 7.2 plugin API,
 * version 1 (docs/devel/tcg-plugins.rst, include/qemu/qemu-plugin.h of
 * v7.2.0; https://qemu.weilnetz.de/doc/7.2/devel/tcg-plugins.html). Debian's
 * qemu-system-aarch64 7.2 exports these symbols (nm -D) and loads plugins.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- QEMU 7.2 plugin API, version 1 (the subset used) --- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* only passed through */
typedef uint32_t qemu_plugin_meminfo_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_mem_rw { QEMU_PLUGIN_MEM_R = 1, QEMU_PLUGIN_MEM_W, QEMU_PLUGIN_MEM_RW };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_mem_cb_t)(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *insn, enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_mem_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_mem_cb_t cb,
                                      enum qemu_plugin_cb_flags flags, enum qemu_plugin_mem_rw rw, void *userdata);
unsigned int qemu_plugin_mem_size_shift(qemu_plugin_meminfo_t info);
void qemu_plugin_outs(const char *string);
QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
/* --- end of the API subset --- */

static uint64_t range_start, range_end;
static uint64_t icount, accesses, unaligned;

static void on_access(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    uint64_t size = 1ull << qemu_plugin_mem_size_shift(info);
    accesses++;
    if (vaddr & (size - 1))
        unaligned++;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn);
        if (pc < range_start || pc >= range_end)
            continue;
        qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, &icount, 1);
        qemu_plugin_register_vcpu_mem_cb(insn, on_access, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW, NULL);
    }
}

static void at_exit(qemu_plugin_id_t id, void *udata)
{
    char line[128];
    snprintf(line, sizeof line, "icount %" PRIu64 "\naccesses %" PRIu64 "\nunaligned %" PRIu64 "\n", icount, accesses, unaligned);
    qemu_plugin_outs(line);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "start=", 6) == 0)
            range_start = strtoull(argv[i] + 6, NULL, 0);
        else if (strncmp(argv[i], "end=", 4) == 0)
            range_end = strtoull(argv[i] + 4, NULL, 0);
        else {
            fprintf(stderr, "icount-plugin: unknown argument %s (use start=ADDR,end=ADDR)\n", argv[i]);
            return 1;
        }
    }
    if (range_end <= range_start) {
        fprintf(stderr, "icount-plugin: needs start=ADDR,end=ADDR with start < end\n");
        return 1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
