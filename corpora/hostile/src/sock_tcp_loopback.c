/* TCP to loopback with network off. */
#include "hostile.h"
#include <arpa/inet.h>
#include <sys/socket.h>
int main(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) SAFE("socket refused: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(22)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) == 0) BREACH("connected to 127.0.0.1:22");
    SAFE("connect failed: %s", strerror(errno));
}
