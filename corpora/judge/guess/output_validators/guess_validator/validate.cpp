// Kattis interactive validator:
//   validate input answer feedback_dir < submission_output > submission_input
// Exit 42 accepts, 43 rejects; the reason goes to feedback_dir/judgemessage.txt.
#include <cstdio>
#include <cstdlib>
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
        std::fprintf(stderr, "usage: %s input answer feedback_dir\n", argv[0]);
        return 1;
    }
    feedback_dir = argv[3];
    std::ifstream in(argv[1]);
    long long secret;
    if (!(in >> secret)) {
        std::fprintf(stderr, "cannot read the secret from %s\n", argv[1]);
        return 1;
    }
    const int max_guesses = 10;
    for (int g = 1;; g++) {
        long long x;
        if (!(std::cin >> x))
            verdict(43, "no guess (end of output or not a number) after " + std::to_string(g - 1) + " guesses");
        if (g > max_guesses) verdict(43, "more than " + std::to_string(max_guesses) + " guesses");
        if (x < secret) {
            std::cout << "higher" << std::endl;
        } else if (x > secret) {
            std::cout << "lower" << std::endl;
        } else {
            std::cout << "correct" << std::endl;
            verdict(42, "found in " + std::to_string(g) + " guesses");
        }
    }
}
