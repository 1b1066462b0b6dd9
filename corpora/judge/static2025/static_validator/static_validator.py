# Static validator: `static_validator.py language entry_point feedback_dir max_lines`.
# Rejects a program that calls eval; accepts others with score_multiplier.txt
# min(1, max_lines / lines of the entry point).
import sys

language, entry, feedback, max_lines = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
src = open(entry).read()
if "eval(" in src:
    open(feedback + "judgemessage.txt", "w").write("%s (%s) calls eval\n" % (entry, language))
    sys.exit(43)
lines = len([l for l in src.splitlines() if l.strip()])
open(feedback + "score_multiplier.txt", "w").write("%f\n" % min(1.0, max_lines / lines))
open(feedback + "judgemessage.txt", "w").write("%s: %d lines\n" % (entry, lines))
sys.exit(42)
