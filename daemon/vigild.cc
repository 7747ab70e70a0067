// Placeholder until the core process lands.
int main() { return 0; }
