# Accepts the exact product. With the argument `partial`, a positive answer x below the
# product a is accepted with score_multiplier x / a.
import sys

inp, ans, feedback = sys.argv[1:4]
partial = "partial" in sys.argv[4:]
a = int(open(ans).read())
out = sys.stdin.read().split()
x = int(out[0]) if len(out) == 1 and out[0].lstrip("-").isdigit() else None
if x == a:
    sys.exit(42)
if partial and x is not None and 0 < x < a:
    open(feedback + "score_multiplier.txt", "w").write("%f\n" % (x / a))
    sys.exit(42)
open(feedback + "judgemessage.txt", "w").write("expected %d, got %s\n" % (a, x))
sys.exit(43)
