// Reads the constant from data.txt, an included file (include/default/).
#include <fstream>
#include <iostream>
int main() {
    long x, c;
    std::ifstream f("data.txt");
    if (!(f >> c)) return 1;
    std::cin >> x;
    std::cout << x + c << "\n";
}
