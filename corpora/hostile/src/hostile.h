/* Shared by the hostile programs: report what happened in a way the selftest can read.
   SAFE: the attack was contained (exit 0). BREACH: it worked (exit 99). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define SAFE(...) do { printf("SAFE: " __VA_ARGS__); printf("\n"); fflush(stdout); exit(0); } while (0)
#define BREACH(...) do { printf("BREACH: " __VA_ARGS__); printf("\n"); fflush(stdout); exit(99); } while (0)
/* The selftest passes its marker as the last argument; children that exec keep it visible. */
static inline const char *marker(int argc, char **argv) { return argc > 1 ? argv[argc - 1] : "hatchery-marker"; }
