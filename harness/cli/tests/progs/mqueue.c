/* "create": leaves a POSIX message queue behind; otherwise prints whether it exists. */
#include <mqueue.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "create")) {
        mqd_t q = mq_open("/hatchery-leak", O_CREAT | O_RDWR, 0600, 0);
        if (q == (mqd_t)-1) { perror("mq_open"); return 2; }
        mq_send(q, "secret", 6, 0);
        return 0;
    }
    mqd_t q = mq_open("/hatchery-leak", O_RDONLY);
    printf("%s\n", q == (mqd_t)-1 ? "absent" : "present");
    return 0;
}
