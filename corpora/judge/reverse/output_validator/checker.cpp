// A checker with testlib's command line and exit codes, without testlib.h:
//   checker input output answer
// exit 0 = ok, 1 = wrong answer, 2 = presentation error, 3 = checker failure.
// Like testlib, it writes its verdict message to stderr.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

enum { OK = 0, WA = 1, PE = 2, FAIL = 3 };

[[noreturn]] static void quit(int code, const std::string &msg) {
    static const char *names[] = {"ok", "wrong answer", "wrong output format", "FAIL"};
    std::fprintf(stderr, "%s %s\n", names[code], msg.c_str());
    std::exit(code);
}

static std::vector<std::string> lines_of(const char *path, bool *ok) {
    std::ifstream f(path);
    *ok = f.good();
    std::vector<std::string> lines;
    std::string l;
    while (std::getline(f, l)) lines.push_back(l);
    while (!lines.empty() && lines.back().find_first_not_of(" \t\r") == std::string::npos)
        lines.pop_back();
    return lines;
}

static std::vector<std::string> words_of(const std::vector<std::string> &lines) {
    std::vector<std::string> w;
    for (const auto &l : lines) {
        std::istringstream s(l);
        std::string x;
        while (s >> x) w.push_back(x);
    }
    return w;
}

int main(int argc, char **argv) {
    if (argc < 4) quit(FAIL, "usage: checker input output answer");
    bool ok_out, ok_ans;
    auto out = lines_of(argv[2], &ok_out);
    auto ans = lines_of(argv[3], &ok_ans);
    if (!ok_ans) quit(FAIL, std::string("cannot read the answer ") + argv[3]);
    if (!ok_out) quit(WA, "cannot read the output");
    auto ow = words_of(out), aw = words_of(ans);
    for (size_t i = 0; i < aw.size(); i++) {
        if (i >= ow.size()) quit(WA, "output ended after " + std::to_string(i) + " words");
        if (ow[i] != aw[i])
            quit(WA, "word " + std::to_string(i + 1) + ": expected '" + aw[i] + "', found '" + ow[i] + "'");
    }
    if (ow.size() > aw.size()) quit(WA, "extra words in the output");
    if (out.size() != 1) quit(PE, "the words must be on one line, found " + std::to_string(out.size()) + " lines");
    quit(OK, std::to_string(aw.size()) + " words");
}
