/* "create": leaves a SysV shm segment, message queue and semaphore set behind.
   "check": prints how many objects of each kind exist in this IPC namespace. */
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
static int count(const char *path) {
    FILE *f = fopen(path, "r");
    char line[512];
    int n = -1;
    if (!f) return -2;
    while (fgets(line, sizeof line, f)) n++;
    fclose(f);
    return n;
}
int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "create")) {
        if (shmget(0x4861, 4096, IPC_CREAT | 0666) < 0) return 2;
        if (msgget(0x4862, IPC_CREAT | 0666) < 0) return 3;
        if (semget(0x4863, 1, IPC_CREAT | 0666) < 0) return 4;
        return 0;
    }
    printf("shm=%d msg=%d sem=%d\n", count("/proc/sysvipc/shm"), count("/proc/sysvipc/msg"),
           count("/proc/sysvipc/sem"));
    return 0;
}
