/* A libFuzzer target whose bug lives in a shared library, for hatchery's fuzz tests (the
 * pattern of c-ares CVE-2016-5180, in code of our own): dn_encode sizes its buffer from a
 * first pass over the name and writes the labels in a second; the passes disagree on a name
 * that ends in an escaped dot ("x\."), and the terminating zero is written one byte past the
 * heap block (ASan: heap-buffer-overflow WRITE in dn_encode).
 * Built twice: with -DDNSNAME_LIB as libdnsname.so, and without as the target linked to it
 * (found through LD_LIBRARY_PATH, which the sandbox gets only from `--env`). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

unsigned char *dn_encode(const char *name, size_t *len);

#ifdef DNSNAME_LIB
unsigned char *dn_encode(const char *name, size_t *len) {
  const char *p;
  size_t n = 1; /* the root label */
  for (p = name; *p; p++) {
    if (*p == '\\' && p[1])
      p++;
    n++;
  }
  if (*name && p[-1] != '.')
    n++;
  unsigned char *buf = malloc(n), *q = buf;
  if (!buf)
    return NULL;
  while (*name) {
    size_t l = 0;
    for (p = name; *p && *p != '.'; p++) {
      if (*p == '\\' && p[1])
        p++;
      l++;
    }
    *q++ = (unsigned char)l;
    for (p = name; *p && *p != '.'; p++) {
      if (*p == '\\' && p[1])
        p++;
      *q++ = (unsigned char)*p;
    }
    if (!*p)
      break;
    name = p + 1;
  }
  *q++ = 0;
  *len = (size_t)(q - buf);
  return buf;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
  char *name = malloc(n + 1);
  size_t len;
  if (!name)
    return 0;
  memcpy(name, d, n);
  name[n] = 0;
  free(dn_encode(name, &len));
  free(name);
  return 0;
}
#endif
