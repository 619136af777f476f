"""Shared by every test directory.

A shell without job control starts background commands with SIGINT
ignored (`make test &`, `bash .ci/run &` from a script), and Python then
leaves it ignored: no KeyboardInterrupt, and every child started by a test
inherits the ignored disposition, so the tests of Ctrl-C (a wait
interrupted, `brain watch` ended, a stalled writer's wait abandoned) would
fail there for a reason of the environment, not of the code.  Ctrl-C is
given its ordinary meaning back for the test run; a handler, unlike
SIG_IGN, does not survive exec, so children start with the default too."""
import signal

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
