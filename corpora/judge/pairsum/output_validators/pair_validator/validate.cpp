// Kattis output validator: validate input answer feedback_dir [min_value K] < team_output
// Exit 42 accepts, 43 rejects; the reason goes to feedback_dir/judgemessage.txt.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

static std::string feedback_dir;

[[noreturn]] static void verdict(int code, const std::string &msg) {
    std::ofstream(feedback_dir + "/judgemessage.txt") << msg << "\n";
    std::exit(code);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s input answer feedback_dir [min_value K]\n", argv[0]);
        return 1;
    }
    feedback_dir = argv[3];
    long long min_value = 0;
    for (int i = 4; i + 1 < argc; i++)
        if (!std::strcmp(argv[i], "min_value")) min_value = std::atoll(argv[i + 1]);
    std::ifstream in(argv[1]);
    long long n;
    if (!(in >> n)) {
        std::fprintf(stderr, "cannot read N from %s\n", argv[1]);
        return 1;  // neither 42 nor 43: a judge error
    }
    long long a, b;
    if (!(std::cin >> a >> b)) verdict(43, "expected two integers");
    std::string extra;
    if (std::cin >> extra) verdict(43, "trailing output: `" + extra + "`");
    if (a < min_value || b < min_value)
        verdict(43, "both numbers must be at least " + std::to_string(min_value));
    if (a > n || b > n || a + b != n)
        verdict(43, std::to_string(a) + " + " + std::to_string(b) + " is not " + std::to_string(n));
    verdict(42, "ok");
}
