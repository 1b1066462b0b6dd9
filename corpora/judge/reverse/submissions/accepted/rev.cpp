#include <iostream>
#include <string>
#include <vector>
int main() {
    std::vector<std::string> w;
    std::string x;
    while (std::cin >> x) w.push_back(x);
    for (size_t i = w.size(); i-- > 0;) std::cout << w[i] << (i ? ' ' : '\n');
}
