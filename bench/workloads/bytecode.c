/* bytecode: a small stack-machine interpreter with a switch dispatch loop, running
 * a program that iterates a mixing function. Stresses indirect jumps (the jump table),
 * loads and stores to the VM stack and unpredictable control flow: what an interpreter
 * (Python, Lua, awk) spends its time on. Usage: bytecode [MILLION_ITERATIONS], default 12. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum op { PUSH, LOAD, STORE, ADD, SUB, MUL, XOR, SHR, SHL, AND, DUP, JNZ, JMP, HALT };

struct insn {
    uint8_t op;
    int64_t arg;
};

/* vars: 0 = counter, 1 = acc, 2 = x */
static const struct insn program[] = {
    /* 0 */ {LOAD, 2}, {PUSH, 13}, {SHL, 0}, {LOAD, 2}, {XOR, 0}, {STORE, 2},
    /* 6 */ {LOAD, 2}, {PUSH, 7}, {SHR, 0}, {LOAD, 2}, {XOR, 0}, {STORE, 2},
    /* 12 */ {LOAD, 2}, {PUSH, 17}, {SHL, 0}, {LOAD, 2}, {XOR, 0}, {STORE, 2},
    /* 18 */ {LOAD, 1}, {LOAD, 2}, {PUSH, 0xffff}, {AND, 0}, {ADD, 0}, {PUSH, 3}, {MUL, 0},
    /* 25 */ {STORE, 1},
    /* 26 */ {LOAD, 0}, {PUSH, 1}, {SUB, 0}, {DUP, 0}, {STORE, 0}, {JNZ, 0},
    /* 32 */ {HALT, 0},
};

static int64_t run(const struct insn *code, int64_t *vars)
{
    int64_t stack[64];
    int sp = 0;
    for (const struct insn *pc = code;; pc++) {
        switch (pc->op) {
        case PUSH: stack[sp++] = pc->arg; break;
        case LOAD: stack[sp++] = vars[pc->arg]; break;
        case STORE: vars[pc->arg] = stack[--sp]; break;
        case ADD: sp--; stack[sp - 1] += stack[sp]; break;
        case SUB: sp--; stack[sp - 1] -= stack[sp]; break;
        case MUL: sp--; stack[sp - 1] *= stack[sp]; break;
        case XOR: sp--; stack[sp - 1] ^= stack[sp]; break;
        case AND: sp--; stack[sp - 1] &= stack[sp]; break;
        case SHR: sp--; stack[sp - 1] = (int64_t)((uint64_t)stack[sp - 1] >> stack[sp]); break;
        case SHL: sp--; stack[sp - 1] = (int64_t)((uint64_t)stack[sp - 1] << stack[sp]); break;
        case DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case JNZ: if (stack[--sp]) pc = code + pc->arg - 1; break;
        case JMP: pc = code + pc->arg - 1; break;
        case HALT: return vars[1];
        }
    }
}

int main(int argc, char **argv)
{
    int64_t iterations = (argc > 1 ? atol(argv[1]) : 12) * 1000000;
    int64_t vars[3] = {iterations, 0, 88172645463325252};
    int64_t acc = run(program, vars);
    printf("bytecode %lld iterations: acc %016llx x %016llx\n", (long long)iterations,
           (unsigned long long)acc, (unsigned long long)vars[2]);
    return 0;
}
