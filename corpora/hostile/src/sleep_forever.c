/* Burns wall time, no CPU. */
#include "hostile.h"
int main(void) { for (;;) pause(); }
