# Accepts exactly one integer token equal to the answer, whitespace around it ignored.
import sys

inp, ans, feedback = sys.argv[1:4]
tokens = sys.stdin.read().split()
want = int(open(ans).read())
if len(tokens) != 1 or not tokens[0].lstrip("-").isdigit():
    open(feedback + "judgemessage.txt", "w").write("expected one integer, got %r\n" % tokens[:3])
    sys.exit(43)
if int(tokens[0]) != want:
    open(feedback + "judgemessage.txt", "w").write("expected %d, got %s\n" % (want, tokens[0]))
    sys.exit(43)
sys.exit(42)
