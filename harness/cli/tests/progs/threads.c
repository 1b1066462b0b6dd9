/* Burns CPU in argv[1] threads plus the main thread. */
#include <pthread.h>
#include <stdlib.h>
static void *spin(void *a) { volatile unsigned long x = 0; (void)a; for (;;) x++; return 0; }
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3;
    pthread_t t;
    for (int i = 0; i < n; i++) pthread_create(&t, 0, spin, 0);
    spin(0);
}
