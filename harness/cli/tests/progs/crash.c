/* argv[1]: segv | abort | exit N */
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "segv")) { volatile int *p = 0; *p = 1; }
    if (argc > 1 && !strcmp(argv[1], "abort")) abort();
    if (argc > 2 && !strcmp(argv[1], "exit")) return atoi(argv[2]);
    return 0;
}
