/* Forks once (the strict profile forbids it). */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) { pid_t p = fork(); if (p == 0) _exit(0); wait(0); puts("forked"); return 0; }
