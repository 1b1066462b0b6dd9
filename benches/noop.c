/* The floor's target: a static program without libc whose whole life is exit_group(0).
 * Built by build.rs with `gcc -nostdlib -static -O2`; no dynamic loader, no libc start-up
 * (glibc's start-up executes ~68 CPUID instructions, each a hypervisor trap on these VMs). */
void _start(void)
{
#if defined(__x86_64__)
	__asm__ volatile("mov $231, %%eax\n\t" /* SYS_exit_group */
			 "xor %%edi, %%edi\n\t"
			 "syscall"
			 ::: "rax", "rdi", "rcx", "r11", "memory");
#elif defined(__aarch64__)
	__asm__ volatile("mov x0, #0\n\t"
			 "mov x8, #94\n\t" /* SYS_exit_group */
			 "svc #0"
			 ::: "x0", "x8", "memory");
#else
#error "unsupported architecture"
#endif
	for (;;) {
	}
}
