/* Execs a program with 3 MiB of arguments and environment. */
#include "hostile.h"
int main(void) {
    int n = 3000; char **av = calloc(n + 2, sizeof *av); char *big = malloc(1024);
    memset(big, 'a', 1023); big[1023] = 0;
    av[0] = "/bin/true"; for (int i = 1; i <= n; i++) av[i] = big;
    char *env[] = {big, 0};
    execve("/bin/true", av, env);
    SAFE("exec refused: %s", strerror(errno));
}
