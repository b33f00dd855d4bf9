/* sieve: sieve of Eratosthenes over a 4 MB byte array, repeated. Stresses tight
 * loops with byte stores and strided memory access. Usage: sieve [REPS], default 40. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT 4000000

static unsigned char composite[LIMIT + 1];

static unsigned long sieve(void)
{
    unsigned long count = 0;
    memset(composite, 0, sizeof composite);
    for (unsigned long i = 2; i <= LIMIT; i++) {
        if (composite[i])
            continue;
        count++;
        for (unsigned long j = i * i; j <= LIMIT; j += i)
            composite[j] = 1;
    }
    return count;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 40;
    unsigned long total = 0;
    for (int r = 0; r < reps; r++)
        total += sieve();
    printf("primes below %d: %lu (x%d = %lu)\n", LIMIT, total / (reps ? reps : 1), reps, total);
    return 0;
}
