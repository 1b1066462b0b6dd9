/* argv[1] = create: leaves SysV objects; check: reports whether any exist. */
#include "hostile.h"
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "create")) {
        shmget(0x4861, 4096, IPC_CREAT | 0666); msgget(0x4862, IPC_CREAT | 0666); semget(0x4863, 1, IPC_CREAT | 0666);
        printf("created\n"); return 0;
    }
    if (shmget(0x4861, 0, 0) >= 0 || msgget(0x4862, 0) >= 0 || semget(0x4863, 0, 0) >= 0) BREACH("objects of an earlier case are here");
    SAFE("no SysV objects from an earlier case");
}
