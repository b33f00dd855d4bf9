/* fib: naive recursive Fibonacci. Stresses calls and returns (the return-address
 * stack, call/ret translation) and little else. Usage: fib [N], default 40. */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) static unsigned long fib(unsigned n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 40;
    printf("fib(%u) = %lu\n", n, fib(n));
    return 0;
}
