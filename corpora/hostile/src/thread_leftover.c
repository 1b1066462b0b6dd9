/* The main thread exits with exit_group while 32 threads sleep; and a child with threads lingers. */
#include "hostile.h"
#include <pthread.h>
static void *idle(void *a) { (void)a; for (;;) pause(); return 0; }
int main(int argc, char **argv) {
    pthread_t t;
    if (fork() == 0) { for (int i = 0; i < 32; i++) pthread_create(&t, 0, idle, 0); execl("/bin/sleep", marker(argc, argv), "1000", (char *)0); _exit(1); }
    for (int i = 0; i < 32; i++) pthread_create(&t, 0, idle, 0);
    usleep(50000);
    return 0;
}
