/* argv[1] = create: leaves a POSIX message queue; check: reports whether it exists. */
#include "hostile.h"
#include <fcntl.h>
#include <mqueue.h>
int main(int argc, char **argv) {
    if (argc > 2 && !strcmp(argv[1], "create")) { mq_open("/hatchery-leftover", O_CREAT | O_RDWR, 0600, 0); printf("created\n"); return 0; }
    if (mq_open("/hatchery-leftover", O_RDONLY) != (mqd_t)-1) BREACH("message queue from an earlier case is here");
    SAFE("no message queue from an earlier case");
}
