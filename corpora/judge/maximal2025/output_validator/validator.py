# Accepts exactly one integer that is the input plus {{example_constant}} (a constant of
# problem.yaml, substituted before the validator runs).
import sys

with open(sys.argv[1]) as f:
    x = int(f.read())
tokens = sys.stdin.read().split()
feedback = sys.argv[3]
if len(tokens) == 1 and tokens[0].lstrip("-").isdigit() and int(tokens[0]) - x == {{example_constant}}:
    sys.exit(42)
with open(feedback + "judgemessage.txt", "w") as f:
    f.write("expected %d, got %s\n" % (x + {{example_constant}}, " ".join(tokens[:3]) or "nothing"))
sys.exit(43)
