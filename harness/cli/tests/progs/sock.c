/* Tries an inet socket and a unix socket; prints the errno of each (0 = success). */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
int main(void) {
    errno = 0;
    int a = socket(AF_INET, SOCK_STREAM, 0);
    int ea = a < 0 ? errno : 0;
    errno = 0;
    int u = socket(AF_UNIX, SOCK_STREAM, 0);
    int eu = u < 0 ? errno : 0;
    printf("inet=%d unix=%d\n", ea, eu);
    return 0;
}
