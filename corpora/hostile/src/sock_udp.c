/* UDP socket with network off. */
#include "hostile.h"
#include <sys/socket.h>
int main(void) { if (socket(AF_INET6, SOCK_DGRAM, 0) < 0) SAFE("refused: %s", strerror(errno)); BREACH("UDP socket created"); }
