/* Multi-pass validator for "Round trip" (Kattis protocol).
 * validate input answer feedback_dir < team_output
 * Pass 1 (input "encode N"): the output must be one word of 1..20 lowercase letters; it is
 * handed on as "decode WORD" in feedback_dir/nextpass.in. Pass 2 (input "decode WORD"): the
 * output must be N, the number in the answer file. Exit 42 = accepted, 43 = wrong answer. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *feedback;

static int reject(const char *why) {
    char path[4096];
    snprintf(path, sizeof path, "%sjudgemessage.txt", feedback);
    FILE *f = fopen(path, "a");
    if (f) {
        fprintf(f, "%s\n", why);
        fclose(f);
    }
    return 43;
}

/* One token of the team's output, at most 64 bytes; 0 if there is none or it is longer. */
static int token(char *buf) {
    if (scanf("%64s", buf) != 1) return 0;
    return strlen(buf) < 64;
}

static int nothing_more(void) {
    char c;
    return scanf(" %c", &c) != 1;
}

int main(int argc, char **argv) {
    if (argc < 4) return 1;
    feedback = argv[3];
    FILE *in = fopen(argv[1], "r");
    if (!in) return 1;
    char mode[16], word[80];
    if (fscanf(in, "%15s", mode) != 1) return 1;
    if (strcmp(mode, "encode") == 0) {
        if (!token(word)) return reject("pass 1: expected a word");
        size_t n = strlen(word);
        if (n > 20) return reject("pass 1: the word is longer than 20 letters");
        for (size_t i = 0; i < n; i++)
            if (!islower((unsigned char)word[i]))
                return reject("pass 1: the word must be lowercase letters only");
        if (!nothing_more()) return reject("pass 1: more than one word");
        char path[4096];
        snprintf(path, sizeof path, "%snextpass.in", feedback);
        FILE *next = fopen(path, "w");
        if (!next) return 1;
        fprintf(next, "decode %s\n", word);
        fclose(next);
        return 42;
    }
    if (strcmp(mode, "decode") == 0) {
        FILE *ans = fopen(argv[2], "r");
        unsigned long long want, got;
        if (!ans || fscanf(ans, "%llu", &want) != 1) return 1;
        if (!token(word)) return reject("pass 2: expected a number");
        char *end;
        got = strtoull(word, &end, 10);
        if (*end || !isdigit((unsigned char)word[0]))
            return reject("pass 2: expected a number");
        if (got != want) {
            char m[160];
            snprintf(m, sizeof m, "pass 2: expected %llu, got %s", want, word);
            return reject(m);
        }
        if (!nothing_more()) return reject("pass 2: more than one number");
        return 42;
    }
    return 1;
}
