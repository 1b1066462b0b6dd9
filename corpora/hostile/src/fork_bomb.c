/* Fork bomb: every process forks forever. The pids limit and the wall limit end it. */
#include "hostile.h"
int main(void) { for (;;) fork(); }
