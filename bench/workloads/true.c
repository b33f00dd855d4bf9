/* true: returns 0 at once. Measures start-up: process creation, ELF loading and,
 * for converted programs, instantiating the component. Usage: true. */
int main(void)
{
    return 0;
}
