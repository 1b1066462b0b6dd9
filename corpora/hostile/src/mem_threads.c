/* Memory through many threads, each allocating and touching 32 MiB. */
#include "hostile.h"
#include <pthread.h>
static void *eat(void *a) { (void)a; for (;;) { char *p = malloc(32 << 20); if (p) memset(p, 1, 32 << 20); } return 0; }
int main(void) { pthread_t t; for (int i = 0; i < 8; i++) pthread_create(&t, 0, eat, 0); eat(0); }
