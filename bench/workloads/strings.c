/* strings: libc string routines on generated strings of varied lengths: memcpy,
 * strlen, strchr, memcmp, memset. musl implements these in x86-64 assembly or word-at-a-
 * time C, so this stresses rep movs/stos, unaligned loads and bit tricks.
 * Usage: strings [ROUNDS], default 600. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT 4096
#define MAXLEN 512

static char pool[COUNT][MAXLEN + 1];
static char scratch[MAXLEN * 2];

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 600;
    uint32_t x = 12345;
    for (int i = 0; i < COUNT; i++) {
        x = x * 1103515245u + 12345u;
        size_t len = 1 + (x >> 8) % MAXLEN;
        for (size_t j = 0; j < len; j++) {
            x = x * 1103515245u + 12345u;
            pool[i][j] = (char)('a' + (x >> 16) % 26);
        }
        pool[i][len] = 0;
    }
    uint64_t sum = 0;
    for (int r = 0; r < rounds; r++) {
        char needle = (char)('a' + r % 26);
        for (int i = 0; i < COUNT; i++) {
            const char *s = pool[i], *t = pool[(i + r + 1) % COUNT];
            size_t ls = strlen(s), lt = strlen(t);
            memcpy(scratch, s, ls);
            memcpy(scratch + ls, t, lt + 1);
            const char *hit = strchr(scratch, needle);
            sum += hit ? (size_t)(hit - scratch) : ls + lt;
            int c = memcmp(s, t, ls < lt ? ls : lt);
            sum += (uint64_t)(c < 0 ? 1 : c > 0 ? 2 : 3);
            sum = sum * 31 + strlen(scratch);
        }
        memset(scratch, 0, sizeof scratch);
    }
    printf("strings %d rounds: %016llx\n", rounds, (unsigned long long)sum);
    return 0;
}
